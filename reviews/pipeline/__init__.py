"""Ingestion pipeline: discovery, availability polling, download and store, audio fallback, reconcile.

See docs/pipeline.md for the states, the polling budget and the operational commands.
"""

from __future__ import annotations

from reviews.pipeline.availability import advance_conversation, advance_due
from reviews.pipeline.discovery import DiscoveryResult, discover, discover_incremental
from reviews.pipeline.driver import run_backfill
from reviews.pipeline.ingest import ingest_leg
from reviews.pipeline.reconcile import reconcile
from reviews.pipeline.requeue import enqueue_conversation, retry_conversation
from reviews.pipeline.summary import BackfillSummary

__all__ = [
    "BackfillSummary",
    "DiscoveryResult",
    "advance_conversation",
    "advance_due",
    "discover",
    "discover_incremental",
    "enqueue_conversation",
    "ingest_leg",
    "reconcile",
    "retry_conversation",
    "run_backfill",
]
