"""Audio: every playback is audited whatever its Range, once per session; served only as safe audio (issue 11 §3, §4)."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from genesys.clock import FakeClock
from reviews import blobs
from reviews.models import AudioRecording, AuditEvent
from reviews.views import audio

pytestmark = pytest.mark.django_db

AUDIO = bytes(range(256)) * 16  # 4096 bytes, each offset recognisable


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(audio, "CLOCK", fake)
    return fake


@pytest.fixture
def world(make_user, make_conversation, clock):
    reviewer = make_user(groups=["Reviewer"], queues=["queue-mine"])
    conversation = make_conversation("hello", queue="queue-mine")
    client = Client()
    client.force_login(reviewer)
    return reviewer, conversation, client


def _store(conversation, *, content_type="audio/wav", recording_id="rec-1") -> AudioRecording:
    """Stored as the pipeline stores it: encrypted in the blob store."""
    sha256 = hashlib.sha256(AUDIO + recording_id.encode()).hexdigest()
    with blobs.staging_file("audio") as (writer, path):
        writer.write(AUDIO + recording_id.encode())
        raw_path = blobs.promote(path, kind="audio", sha256=sha256)
    return AudioRecording.objects.create(
        conversation=conversation,
        recording_id=recording_id,
        sha256=sha256,
        size_bytes=len(AUDIO) + len(recording_id),
        content_type=content_type,
        raw_path=raw_path,
    )


def _url(recording) -> str:
    return f"/conversations/{recording.conversation.genesys_id}/audio/{recording.pk}"


def _plays() -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.PLAY_AUDIO).count()


@pytest.mark.parametrize("first_range", ["bytes=2048-", "bytes=1000-1999", "bytes=-100", "bytes=0-0", ""])
def test_it_audits_a_playback_that_starts_with_any_range(world, first_range):
    _reviewer, conversation, client = world
    recording = _store(conversation)

    response = client.get(_url(recording), headers={"Range": first_range} if first_range else {})

    assert response.status_code in (200, 206)
    event = AuditEvent.objects.get(action=AuditEvent.Action.PLAY_AUDIO)
    assert (event.object_id, event.detail) == ("rec-1", {"conversation": conversation.genesys_id})


def test_it_records_one_event_per_playback_session_not_per_chunk(world, clock):
    _reviewer, conversation, client = world
    recording = _store(conversation)

    for start in range(0, 4096, 512):
        client.get(_url(recording), headers={"Range": f"bytes={start}-{start + 511}"})
        clock.advance(30)
    assert _plays() == 1

    clock.advance(audio.PLAY_SESSION_IDLE_SECONDS + 1)  # the player was left idle: a new playback
    client.get(_url(recording), headers={"Range": "bytes=1024-"})
    assert _plays() == 2


def test_it_counts_each_recording_and_each_login_session_separately(world, make_user):
    reviewer, conversation, client = world
    first, second = _store(conversation), _store(conversation, recording_id="rec-2")
    other_session = Client()
    other_session.force_login(reviewer)

    client.get(_url(first))
    client.get(_url(second))
    other_session.get(_url(first))

    assert _plays() == 3


def test_it_serves_decrypted_ranges_of_an_encrypted_blob(world):
    _reviewer, conversation, client = world
    recording = _store(conversation)
    assert AUDIO[:64] not in blobs.absolute_path(recording.raw_path).read_bytes()  # encrypted at rest

    response = client.get(_url(recording), headers={"Range": "bytes=100-1099"})

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-1099/{recording.size_bytes}"
    assert b"".join(response.streaming_content) == AUDIO[100:1100]


@pytest.mark.parametrize(
    ("stored", "served"),
    [("audio/wav", "audio/wav"), ("audio/x-wav", "audio/wav"), ("audio/ogg; codecs=opus", "audio/ogg"),
     ("audio/mpeg", "audio/mpeg"), ("audio/webm", "audio/webm"), ("audio/opus", "audio/opus")],
)  # fmt: skip
def test_it_serves_allow_listed_audio_inline_with_a_sandboxing_policy(world, stored, served):
    _reviewer, conversation, client = world
    recording = _store(conversation, content_type=stored)

    response = client.get(_url(recording))

    assert response["Content-Type"] == served
    assert response["Content-Disposition"].startswith('inline; filename="rec-1.')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize("claimed", ["text/html", "image/svg+xml", "application/javascript", "video/webm", "", "AUDIO"])
def test_it_serves_anything_the_upstream_labelled_otherwise_as_a_download(world, claimed):
    _reviewer, conversation, client = world
    recording = _store(conversation, content_type=claimed)

    response = client.get(_url(recording))

    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="rec-1.bin"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
