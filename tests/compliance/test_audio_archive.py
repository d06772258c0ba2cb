"""Audio-only calls (recording kept, no transcript) reach every compliance sink exactly once in effect."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from genesys.clock import FakeClock
from reviews import blobs
from reviews.compliance import relay_due, relay_outbox_task
from reviews.compliance.outbox import clock_now, record_audio_archive
from reviews.compliance.payload import AUDIO_SCHEMA
from reviews.models import AccessScope, Conversation, Division, OutboxMessage
from reviews.pipeline import run_backfill
from tests.compliance.conftest import deliver_twice
from tests.compliance.test_s3 import BUCKET, s3_server  # noqa: F401  (the moto fixture)
from tests.fixtures.accounts import sign_in
from tests.pipeline.support import WINDOW_END, WINDOW_START, running_world

pytestmark = pytest.mark.django_db
AUDIO = b"RIFF....WAVEfmt fake call audio"


def archive_stem(conversation, recording) -> str:
    return f"2025/06/15/{conversation.genesys_id}/recordings/{recording.sha256[:16]}"


def test_it_archives_an_audio_only_call_once_to_every_sink_even_when_delivered_twice(
    make_audio_only_call,
    settings,
    webhook_receiver,
    s3_server,  # noqa: F811
):
    clock = FakeClock(datetime.now(UTC).timestamp())  # S3 Object Lock needs a retain-until date in the future
    settings.COMPLIANCE_SINKS = ["filesystem", "webhook", "s3"]
    conversation = make_audio_only_call(recordings=[AUDIO])
    recording = conversation.recordings.get()

    record_audio_archive(conversation, now=clock_now(clock))
    record_audio_archive(conversation, now=clock_now(clock))  # the hook ran again (a worker took over): no new rows
    deliver_twice(clock, settings)

    messages = OutboxMessage.objects.filter(conversation=conversation)
    assert sorted(messages.values_list("sink", "kind", "state")) == [
        ("filesystem", "audio", "delivered"),
        ("s3", "audio", "delivered"),
        ("webhook", "audio", "delivered"),
    ]
    payload = messages.first().payload
    stem = archive_stem(conversation, recording)
    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    assert len((root / "manifest.jsonl").read_bytes().splitlines()) == 1
    archived = (root / f"{stem}.audio.tvb").read_bytes()
    assert archived.startswith(b"TVB1") and AUDIO not in archived  # the recording is archived encrypted
    assert blobs.sha256_of(root / f"{stem}.audio.tvb") == recording.sha256
    assert json.loads((root / f"{stem}.json").read_bytes()) == payload
    # The webhook saw it twice (at least once) with one webhook-id and the same bytes: the receiver deduplicates.
    assert len(webhook_receiver.requests) == 2
    assert {r["headers"]["webhook-id"] for r in webhook_receiver.requests} == {recording.version_key}
    assert len({r["body"] for r in webhook_receiver.requests}) == 1
    keys = sorted(v["Key"] for v in s3_server.list_object_versions(Bucket=BUCKET)["Versions"])
    assert keys == [f"vault/{stem}.audio.tvb", f"vault/{stem}.json"]  # one locked version of each


def test_it_describes_the_call_and_the_recording_without_transcript_fields(make_audio_only_call, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    conversation = make_audio_only_call(recordings=[AUDIO])
    recording = conversation.recordings.get()

    (message,) = record_audio_archive(conversation, now=clock_now(clock))

    payload = message.payload
    assert payload["schema"] == AUDIO_SCHEMA
    assert payload["idempotencyKey"] == recording.version_key
    assert payload["conversationStart"] == "2025-06-15T09:30:00.000Z"
    assert payload["durationMs"] == 180_000
    assert payload["facts"]["direction"] == "inbound"
    assert payload["recording"] == {
        "sha256": recording.sha256,
        "sizeBytes": len(AUDIO),
        "contentType": "audio/wav",
        "durationMs": 180_000,
        "source": "recordings",
    }
    assert "document" not in payload and "transcriptId" not in payload


def test_it_archives_every_recording_of_the_call(make_audio_only_call, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    conversation = make_audio_only_call(recordings=[b"first segment", b"second segment"])

    record_audio_archive(conversation, now=clock_now(clock))

    assert relay_due(clock=clock).delivered == 2
    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    for recording in conversation.recordings.all():
        assert (root / f"{archive_stem(conversation, recording)}.audio.tvb").is_file()


def test_it_dead_letters_a_recording_missing_from_the_blob_store(make_audio_only_call, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    conversation = make_audio_only_call()
    (message,) = record_audio_archive(conversation, now=clock_now(clock))
    blobs.absolute_path(conversation.recordings.get().raw_path).unlink()

    assert relay_due(clock=clock).dead == 1

    message.refresh_from_db()
    assert "missing from the blob store" in message.last_error


def test_compliance_verify_names_a_tampered_archived_recording(make_audio_only_call, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    conversation = make_audio_only_call()
    record_audio_archive(conversation, now=clock_now(clock))
    assert relay_due(clock=clock).delivered == 1
    call_command("compliance_verify", stdout=StringIO())  # clean
    archived = (
        Path(settings.COMPLIANCE_ARCHIVE_DIR) / f"{archive_stem(conversation, conversation.recordings.get())}.audio.tvb"
    )
    archived.chmod(0o600)
    data = bytearray(archived.read_bytes())
    data[-1] ^= 1
    archived.write_bytes(bytes(data))

    with pytest.raises(CommandError, match=r"file changed: .*recordings/.*\.audio\.tvb"):
        call_command("compliance_verify", stdout=StringIO())


def test_it_refuses_an_audio_row_that_names_no_recording(make_audio_only_call):
    conversation = make_audio_only_call()

    with pytest.raises(IntegrityError):
        OutboxMessage.objects.create(
            kind=OutboxMessage.Kind.AUDIO, conversation=conversation, sink="filesystem", idempotency_key="k", payload={}
        )


# "transcoding" keeps recordings through the recordings API, the clean 40-call world through a batch download.
@pytest.mark.parametrize(("faults", "conversations"), [("transcoding", 10), ("none", 40)])
def test_the_pipeline_archives_the_calls_that_end_in_audio_fallback(settings, faults, conversations):
    settings.TRANSCRIPT_POLL_BASE_SECONDS = 30.0
    settings.TRANSCRIPT_POLL_MAX_SECONDS = 1200.0
    settings.TRANSCRIPT_DEADLINE_SECONDS = 66 * 60.0
    settings.AUDIO_WAIT_MAX_SECONDS = 3600
    settings.COMPLIANCE_SINKS = ["filesystem"]
    with running_world(conversations=conversations, large=0, malformed=0, faults=faults) as world:
        run_backfill(client=world.client, since=WINDOW_START, until=WINDOW_END, clock=world.clock, max_wait=6 * 3600)
        while relay_due(clock=world.clock).handled:
            pass

    audio_only = Conversation.objects.filter(state=Conversation.State.AUDIO_FALLBACK)
    assert audio_only.exists()
    for conversation in audio_only:
        recordings = set(conversation.recordings.values_list("pk", flat=True))
        archived = OutboxMessage.objects.filter(conversation=conversation, kind="audio", state="delivered")
        assert recordings and set(archived.values_list("recording_id", flat=True)) == recordings
    out = StringIO()
    call_command("compliance_verify", stdout=out)
    assert "compliance archive OK" in out.getvalue()


def test_the_relay_task_archives_audio_only_calls_that_ended_before_archiving_existed(make_audio_only_call, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    conversation = make_audio_only_call()  # in audio_fallback, with no outbox row

    assert relay_outbox_task() == "compliance relay: delivered=1 retried=0 dead=0"

    assert OutboxMessage.objects.get(conversation=conversation).kind == "audio"
    assert relay_outbox_task() == "compliance relay: delivered=0 retried=0 dead=0"  # found once


def test_a_dead_audio_letter_shows_on_the_operations_page_and_replays(make_audio_only_call, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    division = Division.objects.create(genesys_id="div-audio")
    conversation = make_audio_only_call()
    Conversation.objects.filter(pk=conversation.pk).update(division=division)
    supervisor = User.objects.create_user("sam", password="pw")
    supervisor.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
    AccessScope.objects.create(user=supervisor).divisions.add(division)
    (message,) = record_audio_archive(conversation, now=clock_now(clock))
    blobs.absolute_path(conversation.recordings.get().raw_path).unlink()
    assert relay_due(clock=clock).dead == 1
    client = sign_in(supervisor)

    body = client.get("/operations/").content.decode()
    assert f"/conversations/{conversation.genesys_id}/" in body and "raw document" in body
    assert client.post(f"/operations/replay/{message.pk}").status_code == 302
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.PENDING
