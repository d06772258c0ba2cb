"""PIPELINE_MAX_ATTEMPTS through the whole pipeline: a conversation whose transcripturls keeps failing (a 5xx
the client's own retries could not get past) is given up on as `failed` after exactly that many errors in a
row, with the last error as its outcome, while the other conversations of the round end as usual; it is never
polled again, and it does not drift to the audio fallback at its deadline as if Genesys had said "not yet"."""

from __future__ import annotations

import pytest

from genesys.errors import ServerError
from reviews.models import Conversation
from reviews.pipeline import run_backfill
from tests.pipeline.support import WINDOW_END, WINDOW_START, running_world

State = Conversation.State
MAX_WAIT = 6 * 3600.0  # fake-clock seconds


def _broken_transcripturls(world, monkeypatch, conversation_id: str) -> list[str]:
    """Genesys answers 503 on this one conversation's transcripturls, every time; the calls are counted."""
    calls: list[str] = []
    real = world.client.get_transcript_urls

    def get_transcript_urls(genesys_id, communication_id):
        if genesys_id == conversation_id:
            calls.append(communication_id)
            raise ServerError("sta.transcripturls: HTTP 503 service.unavailable", status=503)
        return real(genesys_id, communication_id)

    monkeypatch.setattr(world.client, "get_transcript_urls", get_transcript_urls)
    return calls


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [2, 5])
def test_it_gives_up_after_max_attempts_errors_in_a_row(settings, monkeypatch, limit):
    settings.PIPELINE_MAX_ATTEMPTS = limit
    with running_world(conversations=8, large=0, malformed=0) as world:
        sim = next(c for c in world.conversations() if c.transcript and c.transcript.kind == "normal")
        calls = _broken_transcripturls(world, monkeypatch, sim.conversation_id)

        summary = run_backfill(
            client=world.client, since=WINDOW_START, until=WINDOW_END, clock=world.clock, max_wait=MAX_WAIT
        )

    assert summary.finished
    row = Conversation.objects.get(genesys_id=sim.conversation_id)
    assert (row.state, row.error_count) == (State.FAILED, limit)
    assert len(calls) == limit  # given up at the limit: not one probe more
    assert row.outcome.startswith(f"[error {limit}/{limit}] ServerError")
    assert row.next_attempt_at is None and row.lease_token == ""
    assert not row.transcripts.exists() and not row.recordings.exists()
    others = Conversation.objects.exclude(pk=row.pk)
    assert others.exists() and not others.filter(state=State.FAILED).exists()
