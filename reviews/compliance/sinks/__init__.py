"""Compliance sinks. Each module has `deliver(message, *, clock) -> DeliveryOutcome`.

delivered: the sink holds the content (also when it already held it: redelivery is idempotent);
retry: a transient failure, try again later with backoff; permanent: retrying cannot help, dead-letter now.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Literal

from genesys.clock import SYSTEM_CLOCK, Clock
from reviews import blobs
from reviews.compliance.payload import AUDIO_SCHEMA, VERSION_SCHEMA, archive_stem, payload_bytes

SINK_NAMES = ("filesystem", "webhook", "s3")
# The archived Genesys document: the JSON (or gzip) Genesys served, in the vault's TVB1 encrypted format.
DOCUMENT_SUFFIX = ".transcript.json.tvb"
# The recording of an audio-only call, as Genesys served it, in the same TVB1 format.
RECORDING_SUFFIX = ".audio.tvb"


@dataclass(frozen=True)
class DeliveryOutcome:
    result: Literal["delivered", "retry", "permanent"]
    status: int | None = None
    error: str = ""
    # The receiver's Retry-After (429/503), in seconds: the relay waits at least this long.
    retry_after: float | None = None

    @classmethod
    def delivered(cls, status: int | None = None) -> DeliveryOutcome:
        return cls("delivered", status)

    @classmethod
    def retry(cls, error: str, status: int | None = None, *, retry_after: float | None = None) -> DeliveryOutcome:
        return cls("retry", status, error, retry_after)

    @classmethod
    def permanent(cls, error: str, status: int | None = None) -> DeliveryOutcome:
        return cls("permanent", status, error)


def deliver(message, *, clock: Clock = SYSTEM_CLOCK) -> DeliveryOutcome:
    if message.sink not in SINK_NAMES:
        return DeliveryOutcome.permanent(f"unknown compliance sink {message.sink!r}; expected one of {SINK_NAMES}")
    # Imported on use: boto3 and requests load only in processes that deliver to those sinks.
    sink = import_module(f"reviews.compliance.sinks.{message.sink}")
    return sink.deliver(message, clock=clock)


@dataclass(frozen=True)
class ArchivePlan:
    """What an archive sink stores for one outbox row: metadata JSON and, except for a facts version, the raw
    document or recording."""

    stem: str  # "<UTC partition>/<file stem>", shared by both files
    metadata: bytes
    metadata_sha256: str
    document: Path | None  # the blob (encrypted at rest); archived as TVB1 bytes (blobs.SealedCopy), never in clear
    document_sha256: str | None  # of the plaintext: what Genesys served
    document_suffix: str = DOCUMENT_SUFFIX


def archive_plan(message) -> ArchivePlan | DeliveryOutcome:
    """The files to archive for `message`, or a permanent outcome when they cannot exist."""
    payload = message.payload
    try:
        stem = archive_stem(payload)
    except (KeyError, TypeError, ValueError) as exc:
        return DeliveryOutcome.permanent(f"cannot place the payload in the archive: {exc}")
    metadata = payload_bytes(payload)
    plan = {"stem": stem, "metadata": metadata, "metadata_sha256": hashlib.sha256(metadata).hexdigest()}
    if payload.get("schema") == VERSION_SCHEMA:
        return ArchivePlan(**plan, document=None, document_sha256=None)
    if payload.get("schema") == AUDIO_SCHEMA:
        blob, sha256, suffix = message.recording.raw_path, payload["recording"]["sha256"], RECORDING_SUFFIX
    else:
        blob, sha256, suffix = message.transcript.raw_path, payload["document"]["sha256"], DOCUMENT_SUFFIX
    document = blobs.absolute_path(blob)
    if not document.is_file():
        return DeliveryOutcome.permanent(f"raw document {document} is missing from the blob store")
    return ArchivePlan(**plan, document=document, document_sha256=sha256, document_suffix=suffix)
