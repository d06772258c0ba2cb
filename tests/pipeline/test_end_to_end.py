from __future__ import annotations

import pytest

from reviews.models import Agent, AudioRecording, Conversation, Division, OutboxMessage, Queue, Transcript
from reviews.pipeline import run_backfill
from tests.pipeline.expectations import assert_matches_ground_truth, final_snapshot
from tests.pipeline.support import WINDOW_END, WINDOW_START, running_world

MAX_WAIT = 6 * 3600.0  # fake-clock seconds


def backfill(world):
    return run_backfill(client=world.client, since=WINDOW_START, until=WINDOW_END, clock=world.clock, max_wait=MAX_WAIT)


def assert_one_429_per_window(times: list[float]) -> None:
    # The emulator's Retry-After is at least 1 s; the shared limiter holds every request until it passes.
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(gap >= 1.0 for gap in gaps), gaps


def assert_names_resolved(dataset) -> None:
    """The dashboard shows names, not UUIDs: every queue, agent and division met was named."""
    queues = {q["id"]: q["name"] for q in dataset.queues}
    users = {u["id"]: u["name"] for u in dataset.users}
    divisions = {d["id"]: d["name"] for d in dataset.divisions}
    assert Queue.objects.exists() and Agent.objects.exists()
    for model, expected in ((Queue, queues), (Agent, users), (Division, divisions)):
        rows = dict(model.objects.values_list("genesys_id", "name"))
        assert rows == {genesys_id: expected[genesys_id] for genesys_id in rows}, model.__name__


@pytest.mark.slow
@pytest.mark.django_db
def test_it_backfills_200_conversations_to_their_ground_truth():
    with running_world(conversations=200, large=2, large_mb=1, malformed=2) as world:
        summary = backfill(world)

        assert summary.finished
        stored = Conversation.objects.filter(state=Conversation.State.STORED).count()
        print("\nby endpoint:", dict(world.emulator.stats.by_endpoint))
        assert summary.transcripts_new == stored == Transcript.objects.count()
        assert OutboxMessage.objects.filter(kind="transcript").count() == stored
        # Audio-only calls are archived too: one row per kept recording (one sink configured).
        assert OutboxMessage.objects.filter(kind="audio").count() == AudioRecording.objects.count()

        emulator_calls = world.emulator.stats.api_calls
        print(
            f"\nAPI calls {summary.api_calls} (emulator {emulator_calls}) for {stored} transcripts: "
            f"{summary.api_calls_per_transcript} per transcript, 429s {summary.rate_limited}"
        )
        # 1.0 is the floor (one transcripturls each); the rest is searches, discovery, names, batch audio and one
        # direct probe per never-ready call at the 1 h checkpoint (no transcript depends on the search alone).
        assert summary.api_calls_per_transcript <= 1.3
        assert emulator_calls / stored <= 1.3
        assert_one_429_per_window(world.rate_limited_at)
        assert_matches_ground_truth(world.dataset, world.emulator)
        assert_names_resolved(world.dataset)
        assert world.emulator.stats.by_endpoint["routing.queues"] == world.emulator.stats.by_endpoint["users.list"] == 1
        assert summary.leaks_found >= sum(len(c.transcript.leaks) for c in world.conversations() if c.transcript)

        before = final_snapshot()
        calls_before = world.emulator.stats.by_endpoint.copy()
        again = backfill(world)
        assert final_snapshot() == before
        new_calls = world.emulator.stats.by_endpoint - calls_before
        assert set(new_calls) <= {"analytics.details.query"}
        assert again.transcripts_new == 0


@pytest.mark.slow
@pytest.mark.django_db
def test_it_reaches_the_same_final_state_under_the_flaky_fault_profile():
    with running_world(conversations=200, faults="flaky", large=2, large_mb=1, malformed=2) as world:
        summary = backfill(world)

        assert summary.finished
        assert_matches_ground_truth(world.dataset)
        print(
            f"\nflaky: API calls {summary.api_calls} for {summary.transcripts_new} transcripts: "
            f"{summary.api_calls_per_transcript} per transcript, 429s {summary.rate_limited}, retries {summary.retries}"
        )
        assert_one_429_per_window(world.rate_limited_at)


@pytest.mark.slow
@pytest.mark.django_db
def test_it_stores_every_transcript_with_the_search_down_entirely():
    with running_world(conversations=200, large=2, large_mb=1, malformed=2, variant="search_unavailable") as world:
        summary = backfill(world)

        assert summary.finished
        assert_matches_ground_truth(world.dataset, world.emulator)
        stored = Transcript.objects.count()
        calls = world.emulator.stats.api_calls
        print(f"\nsearch down: {calls} calls for {stored} transcripts: {calls / stored:.3f} per transcript")
        assert calls / stored <= 2.5
        assert not Conversation.objects.filter(state=Conversation.State.FAILED).exists()
