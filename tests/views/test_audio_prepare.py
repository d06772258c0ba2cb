"""The player region's "preparing audio" poll (reviews.views.audio.prepare): it queues a background fetch and never
talks to Genesys itself, answers 204 while nothing changed, swaps the player in once the audio is there, and
refuses (audited) a conversation outside the user's scope."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from genesys.clock import FakeClock
from reviews.models import AuditEvent, Conversation
from reviews.pipeline import audio_cache
from reviews.pipeline.schedule import now_of
from reviews.views import audio

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_genesys(settings):
    # Nothing listens on the discard port: a web request that called Genesys would fail, not pass.
    settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = "http://127.0.0.1:9"


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(audio, "CLOCK", fake)
    return fake


def _prepare(client, conversation, *, htmx: bool = True, **data):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(f"/conversations/{conversation.genesys_id}/audio/prepare", data, **headers)


QUEUE = None  # this test's queued tasks (tests/conftest.py task_queue)


@pytest.fixture(autouse=True)
def _queue(task_queue):
    global QUEUE
    QUEUE = task_queue
    yield
    QUEUE = None


def _queued() -> list[tuple]:
    return list(QUEUE)


def _poll_values(body: str) -> dict:
    """The hx-vals the region would send with its next poll."""
    match = re.search(r'id="audio-player"[^>]*hx-vals="([^"]+)"', body)
    assert match, body
    return json.loads(match.group(1).replace("&quot;", '"'))


def test_it_shows_preparing_on_the_page_and_queues_the_fetch_on_the_first_poll(alice_client, conversation, clock):
    page = alice_client.get("/conversations/conv-q1/").content.decode()
    assert 'hx-post="/conversations/conv-q1/audio/prepare"' in page
    assert 'hx-trigger="load, every 3s"' in page and "data-background-poll" in page
    assert 'id="audio-status" class="audio-status muted" role="status">Preparing the call recording…' in page
    assert _queued() == []  # rendering the page queues nothing

    response = _prepare(alice_client, conversation, **_poll_values(page))

    assert response.status_code == 204  # still preparing: nothing to swap, nothing to announce again
    assert _queued() == [(audio_cache.FETCH_TASK, ("conv-q1",))]


def test_it_queues_one_fetch_however_often_the_page_polls(alice_client, bob_client, conversation, clock):
    for client in (alice_client, bob_client, alice_client):  # two reviewers on the same call, polling
        _prepare(client, conversation)
        clock.advance(audio_cache.POLL_SECONDS)
    assert len(_queued()) == 1


def test_it_asks_again_when_genesys_said_come_back_later(alice_client, conversation, clock):
    _prepare(alice_client, conversation)
    # The worker's answer: Genesys is transcoding, ask again in FETCH_RETRY_SECONDS.
    note = "Genesys is still preparing the recording (transcoding); the vault asks again shortly."
    audio_cache._remember("conv-q1", audio_cache.WAITING, note, now=now_of(clock), seconds=10)

    shown = _prepare(alice_client, conversation)
    assert shown.status_code == 200 and note in shown.content.decode()  # the status line changes
    assert 'hx-swap-oob="innerHTML"' in shown.content.decode() and 'hx-trigger="every 3s"' in shown.content.decode()
    assert len(_queued()) == 1  # not before retry_at
    clock.advance(11)
    _prepare(alice_client, conversation, **_poll_values(shown.content.decode()))
    assert len(_queued()) == 2


def test_it_swaps_the_player_in_once_the_audio_is_stored(alice_client, conversation, build, clock):
    page = alice_client.get("/conversations/conv-q1/").content.decode()
    recording = build.audio(conversation)

    response = _prepare(alice_client, conversation, **_poll_values(page))

    body = response.content.decode()
    assert response.status_code == 200
    assert '<audio id="player" controls preload="metadata" aria-label="Call recording"' in body
    assert f'src="/conversations/conv-q1/audio/{recording.pk}"' in body and "hx-post" not in body  # polling ends
    assert "The call recording is ready to play." in body
    assert 'id="follow-playback"' in body and "<kbd>Space</kbd> play or pause" in body


def test_it_stops_polling_after_its_patience(alice_client, conversation, clock):
    since = int(clock.time())
    clock.advance(audio_cache.PREPARE_PATIENCE_SECONDS + 1)

    body = _prepare(alice_client, conversation, since=str(since)).content.decode()

    assert "The recording is not ready yet. Reload the page to try again." in body
    assert "hx-post" not in body


def test_it_says_why_when_genesys_has_no_recording(alice_client, conversation, clock):
    audio_cache._remember(
        "conv-q1", audio_cache.GONE, "The recording was deleted in Genesys.", now=now_of(clock), seconds=3600
    )
    page = alice_client.get("/conversations/conv-q1/").content.decode()
    assert "The recording was deleted in Genesys." in page and "audio/prepare" not in page
    assert _queued() == []


def test_it_does_not_prepare_audio_for_a_call_without_a_transcript(alice_client, conversation, clock):
    Conversation.objects.filter(pk=conversation.pk).update(state=Conversation.State.AWAITING_AUDIO)
    conversation.transcripts.all().delete()

    page = alice_client.get("/conversations/conv-q1/").content.decode()
    _prepare(alice_client, conversation)

    assert "No audio stored for this call." in page and "audio/prepare" not in page
    assert _queued() == []


def test_it_refuses_and_audits_a_conversation_outside_the_users_scope(alice_client, other_conversation, clock):
    response = _prepare(alice_client, other_conversation)

    assert response.status_code == 404
    denial = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert (denial.object_type, denial.object_id) == ("conversation", "conv-q2")
    assert denial.detail["operation"] == "prepare_audio" and denial.detail["reason"] == "outside the user's scope"
    assert _queued() == []


def test_it_needs_a_signed_in_post(client, alice_client, conversation):
    assert client.post("/conversations/conv-q1/audio/prepare").status_code == 302  # to the sign-in page
    assert alice_client.get("/conversations/conv-q1/audio/prepare").status_code == 405
    assert _queued() == []


def test_it_works_without_javascript(alice_client, conversation, clock):
    response = _prepare(alice_client, conversation, htmx=False)

    assert response.status_code == 302 and response["Location"] == "/conversations/conv-q1/"
    assert len(_queued()) == 1


def test_it_shows_a_cached_copy_with_its_expiry_and_offset(alice_client, conversation, build, clock):
    recording = build.audio(conversation)
    until = now_of(clock) + timedelta(hours=24)
    type(recording).objects.filter(pk=recording.pk).update(kept=False, cached_until=until, start_offset_ms=1_500)

    page = alice_client.get("/conversations/conv-q1/").content.decode()

    assert 'data-offset-ms="1500"' in page and "Playback copy until" in page and "audio/prepare" not in page
    clock.advance(24 * 3600)  # expired: no player, the page prepares a fresh copy
    assert 'id="player"' not in alice_client.get("/conversations/conv-q1/").content.decode()
