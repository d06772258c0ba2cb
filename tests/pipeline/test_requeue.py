from __future__ import annotations

import pytest

from reviews.models import Conversation
from reviews.pipeline import advance_conversation, discover, enqueue_conversation, retry_conversation
from reviews.pipeline.schedule import now_of
from tests.pipeline.support import WINDOW_END, WINDOW_START


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kw: calls.append(args) or "task-1")
    return calls


@pytest.mark.django_db
def test_it_enqueues_an_unknown_conversation_and_resolves_it_from_recordings(world, queued):
    sim = next(c for c in world.conversations() if c.transcript and c.transcript.kind == "normal")

    assert enqueue_conversation(sim.conversation_id) == "task-1"

    assert queued == [("reviews.tasks.advance_conversation_task", sim.conversation_id)]
    row = Conversation.objects.get(genesys_id=sim.conversation_id)
    assert row.state == Conversation.State.DISCOVERED
    state = advance_conversation(client=world.client, clock=world.clock, genesys_id=sim.conversation_id)
    assert state == Conversation.State.STORED
    row.refresh_from_db()
    assert row.communication_ids[0] == sim.transcript.communication_id
    assert row.transcripts.get().utterance_count == sim.transcript.phrase_count


@pytest.mark.django_db
def test_it_makes_a_known_conversation_due_now_without_duplicating(world, queued):
    discover(client=world.client, start=WINDOW_START, end=WINDOW_END, now=now_of(world.clock))
    sim = world.conversations()[0]

    enqueue_conversation(sim.conversation_id)
    enqueue_conversation(sim.conversation_id)

    assert Conversation.objects.filter(genesys_id=sim.conversation_id).count() == 1
    assert len(queued) == 2


@pytest.mark.django_db
def test_it_rejects_an_empty_id(queued):
    with pytest.raises(ValueError, match="conversation id"):
        enqueue_conversation("  ")


@pytest.mark.django_db
def test_it_retries_only_failed_conversations(world):
    discover(client=world.client, start=WINDOW_START, end=WINDOW_END, now=now_of(world.clock))
    failed, awaiting = list(Conversation.objects.all()[:2])
    Conversation.objects.filter(pk=failed.pk).update(state="failed", attempts=9, last_error="[error 8/8] ServerError")

    assert retry_conversation(failed, clock=world.clock)
    assert not retry_conversation(awaiting, clock=world.clock)

    assert (failed.state, failed.attempts, failed.last_error) == ("awaiting_transcript", 0, "")
    assert failed.next_attempt_at == now_of(world.clock)


@pytest.mark.django_db
def test_it_rediscovers_without_resetting_progress(world):
    first = discover(client=world.client, start=WINDOW_START, end=WINDOW_END, now=now_of(world.clock))
    Conversation.objects.update(state="stored", attempts=3)

    again = discover(client=world.client, start=WINDOW_START, end=WINDOW_END, now=now_of(world.clock))

    assert (first.found, first.created) == (40, 40)
    assert (again.found, again.created) == (40, 0)
    assert set(Conversation.objects.values_list("state", "attempts")) == {("stored", 3)}
    sample = Conversation.objects.select_related("queue", "agent", "division").first()
    sim = world.dataset.conversation(sample.genesys_id)
    assert (sample.queue.genesys_id, sample.agent.genesys_id, sample.division.genesys_id) == (
        sim.queue_id,
        sim.user_id,
        sim.division_id,
    )
    assert sample.communication_ids[0] == sim.communication_ids[0]
    assert all(p["name"] == "" for p in sample.participants if p["purpose"] in ("customer", "external"))
