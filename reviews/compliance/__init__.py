"""Compliance sync: transactional outbox, relay, and the filesystem / webhook / S3 sinks.

The contract in docs/architecture.md ("Compliance") is re-exported here.
"""

from __future__ import annotations

from reviews.compliance.outbox import outbox_summary, record_transcript_version, replay
from reviews.compliance.payload import SCHEMA, build_payload
from reviews.compliance.relay import RelayResult, relay_due, relay_outbox_task

__all__ = [
    "SCHEMA",
    "RelayResult",
    "build_payload",
    "outbox_summary",
    "record_transcript_version",
    "relay_due",
    "relay_outbox_task",
    "replay",
]
