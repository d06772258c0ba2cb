"""The compliance payload: one versioned JSON document per transcript version (docs/compliance.md).

It carries metadata, hashes and counts only. Transcript text and PII values never enter it, so every
sink (archive, webhook, S3) can receive it unchanged.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

SCHEMA = "transcript-vault.compliance/v1"
# Genesys ids are UUIDs; anything else must not be able to climb out of the archive directory.
SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def build_payload(transcript, *, synced_at: datetime | None = None) -> dict:
    """synced_at is when the outbox row is written (record_transcript_version passes it)."""
    synced_at = synced_at or datetime.now(UTC)
    conversation = transcript.conversation
    mask_counts = {kind: int(count) for kind, count in sorted((transcript.mask_counts or {}).items())}
    return {
        "schema": SCHEMA,
        "idempotencyKey": transcript.version_key,
        "conversationId": conversation.genesys_id,
        "communicationId": transcript.communication_id,
        "transcriptId": transcript.transcript_id,
        # One document per recording segment; recordingIds stays a list for v1 consumers.
        "recordingId": transcript.recording_id or None,
        "recordingIds": [transcript.recording_id] if transcript.recording_id else [],
        "conversationStart": iso_utc(conversation.started_at),
        "conversationEnd": iso_utc(conversation.ended_at),
        "durationMs": conversation.duration_ms,
        "language": transcript.language,
        "transcriptFirstAvailableAt": iso_utc(transcript.first_available_at),
        "storedAt": iso_utc(transcript.stored_at),
        "syncedAt": iso_utc(synced_at),
        "mediaType": transcript.media_type,
        "partStartMs": transcript.part_start_ms,
        # The hash is of the bytes Genesys served; contentEncoding says how they were encoded (e.g. gzip).
        "document": {
            "sha256": transcript.sha256,
            "sizeBytes": transcript.size_bytes,
            "contentEncoding": transcript.content_encoding or None,
        },
        "redaction": {
            "status": transcript.redaction_status,
            "markersPresent": sum(mask_counts.values()) > 0,
            "maskCounts": mask_counts,
            "leakCount": transcript.leak_count,
        },
        "qualityScore": transcript.confidence_mean,
        "wordCount": transcript.word_count,
        "speakerCount": transcript.speaker_count,
    }


def payload_bytes(payload: dict) -> bytes:
    """Canonical encoding: the same payload always gives the same bytes, whatever the database
    did to key order (PostgreSQL jsonb does not keep it), so retries and hashes stay stable."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def iso_utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def partition_path(payload: dict) -> str:
    """YYYY/MM/DD/<conversationId>/<communicationId>, by the conversation's UTC start date.

    The date comes from the frozen payload, so a redelivery always lands on the same path."""
    day = datetime.fromisoformat(payload["conversationStart"].replace("Z", "+00:00")).astimezone(UTC)
    segments = (payload["conversationId"], payload["communicationId"])
    for segment in segments:
        if not SAFE_SEGMENT.match(segment or ""):
            raise ValueError(f"unsafe identifier for an archive path: {segment!r}")
    return f"{day:%Y/%m/%d}/{segments[0]}/{segments[1]}"


def file_stem(payload: dict) -> str:
    return payload["document"]["sha256"][:16]
