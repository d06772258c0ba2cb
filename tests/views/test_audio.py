from __future__ import annotations

import pytest

from reviews.models import AuditEvent
from reviews.views.audio import UnsatisfiableRange, parse_range

pytestmark = pytest.mark.django_db


def _url(recording) -> str:
    return f"/conversations/{recording.conversation.genesys_id}/audio/{recording.pk}"


def _plays() -> int:
    return AuditEvent.objects.filter(action=AuditEvent.Action.PLAY_AUDIO).count()


def test_it_streams_the_whole_file(alice_client, recording, build):
    response = alice_client.get(_url(recording))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == build.audio_bytes
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/wav"
    assert _plays() == 1


def test_it_serves_a_range_with_206(alice_client, recording, build):
    response = alice_client.get(_url(recording), headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 10-19/1024"
    assert response["Content-Length"] == "10"
    assert b"".join(response.streaming_content) == build.audio_bytes[10:20]


def test_it_serves_open_and_suffix_ranges(alice_client, recording, build):
    tail = alice_client.get(_url(recording), headers={"Range": "bytes=1000-"})
    suffix = alice_client.get(_url(recording), headers={"Range": "bytes=-4"})
    assert tail["Content-Range"] == "bytes 1000-1023/1024"
    assert b"".join(suffix.streaming_content) == build.audio_bytes[-4:]


def test_it_answers_416_for_unsatisfiable_ranges(alice_client, recording):
    for header in ("bytes=1024-", "bytes=20-10", "bytes=-0", "bytes=abc"):
        response = alice_client.get(_url(recording), headers={"Range": header})
        assert response.status_code == 416, header
        assert response["Content-Range"] == "bytes */1024"


def test_it_audits_the_ranges_of_one_playback_once(alice_client, recording):
    alice_client.get(_url(recording), headers={"Range": "bytes=0-"})
    alice_client.get(_url(recording), headers={"Range": "bytes=512-"})
    alice_client.get(_url(recording), headers={"Range": "bytes=900-999"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.PLAY_AUDIO)
    assert (event.object_id, event.detail) == ("rec-1", {"conversation": "conv-q1"})


def test_it_hides_recordings_outside_the_users_scope(alice_client, other_conversation, build):
    foreign = build.audio(other_conversation, recording_id="rec-2")
    assert alice_client.get(_url(foreign)).status_code == 404
    assert _plays() == 0


def test_it_does_not_serve_a_recording_under_another_conversation(
    alice_client, conversation, other_conversation, build
):
    foreign = build.audio(other_conversation, recording_id="rec-2")
    assert alice_client.get(f"/conversations/conv-q1/audio/{foreign.pk}").status_code == 404


def test_it_answers_404_when_the_file_is_gone(alice_client, recording):
    from reviews import blobs

    blobs.absolute_path(recording.raw_path).unlink()
    assert alice_client.get(_url(recording)).status_code == 404


def test_it_parses_ranges_like_rfc_9110():
    assert parse_range("", 100) is None
    assert parse_range("items=0-5", 100) is None  # unknown unit: ignore Range
    assert parse_range("bytes=0-5,10-20", 100) is None  # multipart: we send the whole body
    assert parse_range("bytes=0-5", 100) == (0, 5)
    assert parse_range("bytes=90-500", 100) == (90, 99)
    assert parse_range("bytes=-500", 100) == (0, 99)
    with pytest.raises(UnsatisfiableRange):
        parse_range("bytes=100-", 100)


@pytest.fixture
def clock(monkeypatch):
    from genesys.clock import FakeClock
    from reviews.views import audio

    fake = FakeClock()
    monkeypatch.setattr(audio, "CLOCK", fake)
    return fake


def _cached(recording, clock, *, hours: float = 24):
    """The recording as an on-demand playback copy (reviews/pipeline/audio_cache.py) until `hours` from now."""
    from datetime import UTC, datetime, timedelta

    until = datetime.fromtimestamp(clock.time(), tz=UTC) + timedelta(hours=hours)
    type(recording).objects.filter(pk=recording.pk).update(kept=False, cached_until=until)
    recording.refresh_from_db()
    return recording


def test_it_streams_and_audits_a_cached_copy_like_kept_audio(alice_client, recording, build, clock):
    _cached(recording, clock)

    response = alice_client.get(_url(recording), headers={"Range": "bytes=0-"})

    assert response.status_code == 206 and b"".join(response.streaming_content) == build.audio_bytes
    event = AuditEvent.objects.get(action=AuditEvent.Action.PLAY_AUDIO)
    assert (event.user.username, event.object_id, event.detail) == ("alice", "rec-1", {"conversation": "conv-q1"})


def test_it_refuses_an_expired_copy_before_the_sweep_deletes_it(alice_client, recording, clock):
    _cached(recording, clock, hours=1)
    clock.advance(3600)

    assert alice_client.get(_url(recording)).status_code == 404
    assert _plays() == 0
    denial = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert (denial.object_type, denial.detail["reason"]) == ("recording", "cached copy expired")


def test_it_audits_the_denial_of_a_recording_outside_the_users_scope(alice_client, other_conversation, build):
    foreign = build.audio(other_conversation, recording_id="rec-2")

    assert alice_client.get(_url(foreign)).status_code == 404
    denial = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert (denial.object_id, denial.detail["operation"]) == ("conv-q2", "play_audio")
