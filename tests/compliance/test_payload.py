from __future__ import annotations

import json

import pytest
from django.db import transaction

from reviews.compliance import SCHEMA, build_payload, record_transcript_version, relay_due
from reviews.compliance.payload import VAULT_ASR_SCHEMA, archive_stem, payload_bytes
from reviews.models import OutboxMessage, Transcript

pytestmark = pytest.mark.django_db


def test_it_builds_the_documented_payload(make_transcript, clock):
    transcript = make_transcript(confidence_mean=0.9125)

    (message,) = record_transcript_version(transcript, clock=clock)

    assert message.payload == {
        "schema": SCHEMA,
        "source": "genesys",
        "idempotencyKey": transcript.version_key,
        "conversationId": transcript.conversation.genesys_id,
        "communicationId": transcript.communication_id,
        "transcriptId": transcript.transcript_id,
        "recordingId": transcript.recording_id,
        "recordingIds": [transcript.recording_id],
        "mediaType": "call",
        "partStartMs": 1200,
        "conversationStart": "2025-06-15T09:30:00.000Z",
        "conversationEnd": "2025-06-15T09:34:02.000Z",
        "durationMs": 242_000,
        "language": "en-US",
        "transcriptFirstAvailableAt": "2025-06-15T09:40:00.000Z",
        "storedAt": "2025-06-15T09:41:00.000Z",
        "syncedAt": "2025-06-15T10:30:00.000Z",  # the clock when the outbox row was written
        "document": {"sha256": transcript.sha256, "sizeBytes": transcript.size_bytes, "contentEncoding": None},
        "redaction": {
            "status": "verified",
            "markersPresent": True,
            "maskCounts": {"card number": 2, "phone": 1},
            "leakCount": 0,
        },
        "qualityScore": 0.9125,
        "wordCount": 120,
        "speakerCount": 2,
    }


def test_it_never_carries_transcript_text(make_transcript):
    transcript = make_transcript(document=b'{"text": "my card is 4111 1111 1111 1111"}')

    encoded = payload_bytes(build_payload(transcript))

    assert b"4111" not in encoded
    assert b"my card" not in encoded


def test_it_records_one_frozen_row_per_sink_and_never_twice(make_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem", "webhook", "s3"]
    transcript = make_transcript()

    first = record_transcript_version(transcript, clock=clock)
    clock.advance(60)
    second = record_transcript_version(transcript, clock=clock)

    assert [m.sink for m in first] == ["filesystem", "webhook", "s3"]
    assert [m.pk for m in first] == [m.pk for m in second]
    assert {m.idempotency_key for m in first} == {transcript.version_key}
    assert OutboxMessage.objects.count() == 3
    # Frozen: the second call did not rebuild the payload with a later syncedAt.
    assert {m.payload["syncedAt"] for m in second} == {"2025-06-15T10:30:00.000Z"}


def test_it_keeps_byte_identical_content_through_the_database(make_transcript, clock):
    transcript = make_transcript(mask_counts={"phone": 1, "REDACTED": 3, "card number": 2})
    (message,) = record_transcript_version(transcript, clock=clock)

    reloaded = OutboxMessage.objects.get(pk=message.pk)

    assert payload_bytes(reloaded.payload) == payload_bytes(message.payload)
    assert json.loads(payload_bytes(reloaded.payload)) == message.payload


def test_it_rolls_back_with_the_transcript_transaction(make_transcript, clock):
    transcript = make_transcript()

    with pytest.raises(RuntimeError), transaction.atomic():
        record_transcript_version(transcript, clock=clock)
        raise RuntimeError("store failed after the outbox write")

    assert not OutboxMessage.objects.exists()


def test_it_makes_rows_due_no_later_than_the_transcript_was_stored(make_transcript, clock):
    transcript = make_transcript()

    (message,) = record_transcript_version(transcript, clock=clock)

    assert message.next_attempt_at == transcript.stored_at


# The vault's own speech-to-text (issue 15): never mistaken for Genesys' transcript


@pytest.fixture
def vault_transcript(make_transcript):
    return make_transcript(
        source=Transcript.Source.VAULT_ASR, asr_engine="pocketsphinx", asr_model="en-us (pocketsphinx 5.1.1)"
    )


def test_it_names_a_vault_transcript_its_source_engine_and_model_under_its_own_schema(
    vault_transcript, make_transcript, clock
):
    (message,) = record_transcript_version(vault_transcript, clock=clock)

    payload = message.payload
    # A v1-only consumer ignores unknown schemas: it can never take this one for a Genesys transcript.
    assert payload["schema"] == VAULT_ASR_SCHEMA != SCHEMA
    assert (payload["source"], payload["asrEngine"], payload["asrModel"]) == (
        "vault-asr",
        "pocketsphinx",
        "en-us (pocketsphinx 5.1.1)",
    )
    # Otherwise v1's fields, keyed by version like Genesys' (one frozen row per sink: exactly once per version).
    assert set(payload) == set(build_payload(make_transcript())) | {"asrEngine", "asrModel"}
    assert payload["idempotencyKey"] == vault_transcript.version_key


def test_it_gives_a_genesys_transcript_no_engine_fields(make_transcript):
    payload = build_payload(make_transcript())

    assert payload["schema"] == SCHEMA and payload["source"] == "genesys"
    assert "asrEngine" not in payload and "asrModel" not in payload


def test_it_archives_a_vault_transcript_beside_the_calls_other_documents(vault_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    (message,) = record_transcript_version(vault_transcript, clock=clock)
    conversation, communication = vault_transcript.conversation.genesys_id, vault_transcript.communication_id

    assert archive_stem(message.payload) == f"2025/06/15/{conversation}/{communication}/{vault_transcript.sha256[:16]}"
    assert relay_due(clock=clock).delivered == 1
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.DELIVERED
