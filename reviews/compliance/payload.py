"""The compliance payloads (docs/compliance.md): one versioned JSON document per archived item.

- `transcript-vault.compliance/v1`: a version of a transcript Genesys made (plus `source`: "genesys");
- `transcript-vault.compliance.vault-asr/v1`: a version of a transcript the vault made itself from an audio-only
  call's recording (local speech-to-text): the same fields, `source` "vault-asr", `asrEngine` and `asrModel`. Its
  own schema, so a consumer that knows only v1 (and, as documented, ignores schemas it does not know) can never
  take a machine transcript for Genesys';
- `transcript-vault.compliance.audio/v1`: the kept recording of an audio-only call;
- `transcript-vault.compliance.conversation-version/v1`: a version of a conversation's Genesys facts.

They carry metadata, hashes and counts only. Transcript text and PII values never enter them, so every
sink (archive, webhook, S3) can receive them unchanged. Consumers tell them apart by `schema`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

SCHEMA = "transcript-vault.compliance/v1"
VAULT_ASR_SCHEMA = "transcript-vault.compliance.vault-asr/v1"
# Schemas whose payload describes one transcript document (archived with it, under the same path).
TRANSCRIPT_SCHEMAS = (SCHEMA, VAULT_ASR_SCHEMA)
AUDIO_SCHEMA = "transcript-vault.compliance.audio/v1"
VERSION_SCHEMA = "transcript-vault.compliance.conversation-version/v1"
# Genesys ids are UUIDs; anything else must not be able to climb out of the archive directory.
SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def build_payload(transcript, *, synced_at: datetime | None = None) -> dict:
    """synced_at is when the outbox row is written (record_transcript_version passes it)."""
    synced_at = synced_at or datetime.now(UTC)
    conversation = transcript.conversation
    mask_counts = {kind: int(count) for kind, count in sorted((transcript.mask_counts or {}).items())}
    return {
        **_source_fields(transcript),
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


def _source_fields(transcript) -> dict:
    """The schema and who made the transcript: Genesys (v1), or the vault's speech-to-text, engine and model named."""
    if transcript.source == transcript.Source.VAULT_ASR:
        return {
            "schema": VAULT_ASR_SCHEMA,
            "source": transcript.source,
            "asrEngine": transcript.asr_engine,
            "asrModel": transcript.asr_model,
        }
    return {"schema": SCHEMA, "source": transcript.source}


def build_audio_payload(recording, *, facts: dict, synced_at: datetime) -> dict:
    """A recording kept because no transcript came: the call's facts plus the recording's hash and size."""
    conversation = recording.conversation
    return {
        "schema": AUDIO_SCHEMA,
        "idempotencyKey": recording.version_key,
        "conversationId": conversation.genesys_id,
        "recordingId": recording.recording_id,
        "conversationStart": iso_utc(conversation.started_at),
        "conversationEnd": iso_utc(conversation.ended_at),
        "durationMs": conversation.duration_ms,
        "facts": facts,
        "storedAt": iso_utc(recording.stored_at),
        "syncedAt": iso_utc(synced_at),
        # The hash is of the audio bytes Genesys served; the archived file is their TVB1 encryption.
        "recording": {
            "sha256": recording.sha256,
            "sizeBytes": recording.size_bytes,
            "contentType": recording.content_type,
            "durationMs": recording.duration_ms,
            "source": recording.source,
        },
    }


def build_version_payload(version, *, previous, partition_start: str, synced_at: datetime) -> dict:
    """One version of a conversation's facts; `partition_start` (version 1's start) keeps every version of a
    conversation in one archive directory, however far its start time moved."""
    return {
        "schema": VERSION_SCHEMA,
        "idempotencyKey": version.version_key,
        "conversationId": version.conversation.genesys_id,
        "version": version.number,
        "facts": version.facts,
        "factsSha256": version.facts_sha256,
        "changedFields": list(version.changed_fields),
        "previousVersion": previous.number if previous else None,
        "previousFactsSha256": previous.facts_sha256 if previous else None,
        "partitionStart": partition_start,
        "recordedAt": iso_utc(version.recorded_at),
        "syncedAt": iso_utc(synced_at),
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


def archive_stem(payload: dict) -> str:
    """Where an archive sink puts a payload's files (without suffix), by its schema; frozen, so stable:

    transcript  YYYY/MM/DD/<conversationId>/<communicationId>/<document sha256[:16]>  (Genesys' or the vault's)
    audio       YYYY/MM/DD/<conversationId>/recordings/<recording sha256[:16]>
    version     YYYY/MM/DD/<conversationId>/versions/v<NNNN>-<facts sha256[:16]>  (date of version 1's start)
    """
    schema = payload.get("schema")
    if schema in TRANSCRIPT_SCHEMAS:
        return f"{partition_path(payload)}/{file_stem(payload)}"
    if schema == AUDIO_SCHEMA:
        directory = _day_and_conversation(payload, payload["conversationStart"])
        return f"{directory}/recordings/{_hex16(payload['recording']['sha256'])}"
    if schema == VERSION_SCHEMA:
        stem = f"v{int(payload['version']):04d}-{_hex16(payload['factsSha256'])}"
        return f"{_day_and_conversation(payload, payload['partitionStart'])}/versions/{stem}"
    raise ValueError(f"unknown compliance payload schema {schema!r}")


def _day_and_conversation(payload: dict, start: str) -> str:
    day = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC)
    conversation_id = payload["conversationId"]
    if not SAFE_SEGMENT.match(conversation_id or ""):
        raise ValueError(f"unsafe identifier for an archive path: {conversation_id!r}")
    return f"{day:%Y/%m/%d}/{conversation_id}"


def _hex16(sha256: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise ValueError(f"not a sha256 for an archive path: {sha256!r}")
    return sha256[:16]


# The Genesys facts of a conversation that the archive versions (reviews/compliance/versions.py). Ids only:
# agent and queue names can change without the call changing, and participants' names are never archived.
FACT_NAMES = ("conversationStart", "conversationEnd", "direction", "queueId", "agentId", "divisionIds")


def facts(*, started_at, ended_at, direction: str, queue_id, agent_id, division_ids) -> dict:
    return {
        "conversationStart": iso_utc(started_at),
        "conversationEnd": iso_utc(ended_at),
        "direction": direction or "",
        "queueId": queue_id or None,
        "agentId": agent_id or None,
        # A set in the vault (Conversation.divisions), so sorted: the order analytics lists them in is no fact.
        "divisionIds": sorted(set(division_ids or ())),
    }


def facts_of_row(conversation) -> dict:
    """The facts the vault holds for a conversation row now."""
    return facts(
        started_at=conversation.started_at,
        ended_at=conversation.ended_at,
        direction=conversation.direction,
        queue_id=conversation.queue.genesys_id if conversation.queue_id else None,
        agent_id=conversation.agent.genesys_id if conversation.agent_id else None,
        division_ids=conversation.divisions.values_list("genesys_id", flat=True),
    )


def facts_sha256(values: dict) -> str:
    return hashlib.sha256(payload_bytes(values)).hexdigest()
