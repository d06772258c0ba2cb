"""reviews/sampling.py: each rule kind, the windows, scope and visibility, both strategies, determinism, idempotence.

The clock is NOW, a Wednesday: a random rule samples the week before (2 to 9 March), the other kinds calls started
since 2 March.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.contrib.auth.models import Group, User

from reviews.models import (
    AccessScope,
    Agent,
    AuditEvent,
    Conversation,
    Division,
    Queue,
    RedactionFinding,
    ReviewAssignment,
    SamplingRule,
    Transcript,
    Utterance,
)
from reviews.sampling import close_reviewed_assignments, longest_silence_ms, run_sampling, week_start, window_of

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # Wednesday
LAST_WEEK = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # Wednesday of the week before
THIS_WEEK = dt.datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
LONG_AGO = dt.datetime(2026, 2, 20, 10, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    d1 = Division.objects.create(genesys_id="div-1", name="D1")
    d2 = Division.objects.create(genesys_id="div-2", name="D2")
    q1 = Queue.objects.create(genesys_id="queue-1", name="Q1", division=d1)
    q2 = Queue.objects.create(genesys_id="queue-2", name="Q2", division=d2)
    return type("World", (), {"d1": d1, "d2": d2, "q1": q1, "q2": q2})


def reviewer(username: str, *queues, group: str = "Reviewer") -> User:
    user = User.objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    if queues:
        AccessScope.objects.create(user=user).queues.add(*queues)
    return user


def call(genesys_id: str, *, queue, started_at=LAST_WEEK, agent: str = "agent-a", **extra) -> Conversation:
    agent_row, _ = Agent.objects.get_or_create(genesys_id=agent, defaults={"name": agent})
    defaults = {"state": Conversation.State.STORED, "ended_at": started_at + dt.timedelta(minutes=5)}
    return Conversation.objects.create(
        genesys_id=genesys_id,
        queue=queue,
        division=queue.division,
        agent=agent_row,
        started_at=started_at,
        **(defaults | extra),
    )


def transcript(conversation: Conversation, turns=(), **extra) -> Transcript:
    fields = {
        "communication_id": f"comm-{conversation.genesys_id}",
        "sha256": "0" * 64,
        "size_bytes": 1,
        "raw_path": "x",
        "redaction_status": Transcript.RedactionStatus.VERIFIED,
        "confidence_mean": 0.9,
        "word_count": 10,
    }
    row = Transcript.objects.create(conversation=conversation, **(fields | extra))
    for index, turn in enumerate(turns):
        values = {"speaker": "internal", "text": "words", **turn}
        Utterance.objects.create(transcript=row, conversation=conversation, index=index, **values)
    return row


def rule(name: str, kind: str, *reviewers, **fields) -> SamplingRule:
    row = SamplingRule.objects.create(name=name, kind=kind, **fields)
    row.reviewers.add(*reviewers)
    return row


def assigned(**filters) -> list[tuple[str, str]]:
    rows = ReviewAssignment.objects.filter(**filters).order_by("conversation__genesys_id")
    return [(a.conversation.genesys_id, a.assignee.username) for a in rows.select_related("conversation", "assignee")]


# Windows


def test_it_starts_weeks_on_monday_midnight_in_the_configured_zone(settings):
    assert week_start(NOW) == dt.datetime(2026, 3, 9, tzinfo=UTC)
    settings.TIME_ZONE = "America/New_York"
    # 02:00 UTC on Monday 9 March is still Sunday evening in New York.
    start = week_start(dt.datetime(2026, 3, 9, 2, 0, tzinfo=UTC))
    assert start.isoformat() == "2026-03-02T00:00:00-05:00"


def test_it_samples_random_calls_from_the_last_complete_week_and_events_since_it_started(world):
    random_rule = SamplingRule(name="r", kind=SamplingRule.Kind.RANDOM_PER_AGENT, calls_per_agent=1)
    leak_rule = SamplingRule(name="l", kind=SamplingRule.Kind.LEAK)
    monday, previous_monday = dt.datetime(2026, 3, 9, tzinfo=UTC), dt.datetime(2026, 3, 2, tzinfo=UTC)

    assert window_of(random_rule, now=NOW) == (previous_monday, monday)
    assert window_of(leak_rule, now=NOW) == (previous_monday, NOW)


# Kinds


def test_it_assigns_n_random_calls_per_agent_from_last_week(world):
    alice = reviewer("alice", world.q1)
    for agent in ("agent-a", "agent-b"):
        for n in range(5):
            call(f"{agent}-{n}", queue=world.q1, agent=agent, started_at=LAST_WEEK + dt.timedelta(hours=n))
        call(f"{agent}-this-week", queue=world.q1, agent=agent, started_at=THIS_WEEK)
    rule("two each", SamplingRule.Kind.RANDOM_PER_AGENT, alice, calls_per_agent=2)

    report = run_sampling(now=NOW)

    picked = [genesys_id for genesys_id, _ in assigned()]
    assert report.created == 4
    assert sum(genesys_id.startswith("agent-a-") for genesys_id in picked) == 2
    assert sum(genesys_id.startswith("agent-b-") for genesys_id in picked) == 2
    assert not any(genesys_id.endswith("this-week") for genesys_id in picked)


def test_it_assigns_every_call_with_a_leak_finding_or_a_leak_count(world):
    alice = reviewer("alice", world.q1)
    with_finding = call("with-finding", queue=world.q1)
    part = transcript(with_finding)
    RedactionFinding.objects.create(
        transcript=part, kind="card_number", rule="luhn", confidence=0.9, start_ms=0, masked_excerpt="4111 ****"
    )
    transcript(call("with-count", queue=world.q1), leak_count=2)
    transcript(call("clean", queue=world.q1))
    rule("leaks", SamplingRule.Kind.LEAK, alice)

    run_sampling(now=NOW)

    assert assigned() == [("with-count", "alice"), ("with-finding", "alice")]


def test_it_assigns_calls_whose_sentiment_is_negative_as_search_defines_it(world):
    alice = reviewer("alice", world.q1)
    transcript(
        call("angry", queue=world.q1),
        [{"start_ms": 0, "end_ms": 1, "sentiment": -0.8}, {"start_ms": 2, "end_ms": 3, "sentiment": -0.2}],
    )
    transcript(
        call("mixed", queue=world.q1),
        [{"start_ms": 0, "end_ms": 1, "sentiment": -0.8}, {"start_ms": 2, "end_ms": 3, "sentiment": 0.8}],
    )
    transcript(call("no-sentiment", queue=world.q1), [{"start_ms": 0, "end_ms": 1}])
    rule("negative", SamplingRule.Kind.NEGATIVE_SENTIMENT, alice)

    run_sampling(now=NOW)

    assert assigned() == [("angry", "alice")]


def test_it_assigns_calls_below_the_low_confidence_threshold(world, settings):
    settings.LOW_CONFIDENCE_THRESHOLD = 0.6
    alice = reviewer("alice", world.q1)
    transcript(call("murky", queue=world.q1), confidence_mean=0.45)
    transcript(call("at-threshold", queue=world.q1), confidence_mean=0.6)
    transcript(call("clear", queue=world.q1), confidence_mean=0.92)
    rule("low confidence", SamplingRule.Kind.LOW_CONFIDENCE, alice)

    run_sampling(now=NOW)

    assert assigned() == [("murky", "alice")]


def _call_with_turns(genesys_id: str, queue, turns: list[tuple[int, int]], *, ends_at_ms: int) -> Conversation:
    conversation = call(genesys_id, queue=queue, ended_at=LAST_WEEK + dt.timedelta(milliseconds=ends_at_ms))
    transcript(conversation, [{"start_ms": start, "end_ms": end} for start, end in turns])
    return conversation


def test_it_assigns_calls_in_which_nobody_speaks_for_the_rules_silence(world):
    alice = reviewer("alice", world.q1)
    _call_with_turns("gap", world.q1, [(0, 5_000), (45_000, 46_000)], ends_at_ms=46_000)
    _call_with_turns("late-start", world.q1, [(40_000, 41_000)], ends_at_ms=41_000)
    _call_with_turns("long-tail", world.q1, [(0, 10_000)], ends_at_ms=50_000)
    # The second turn lies inside the first, which runs on: the third starts 10 s after anyone last spoke.
    _call_with_turns("overlapping", world.q1, [(0, 50_000), (10_000, 12_000), (60_000, 61_000)], ends_at_ms=61_000)
    _call_with_turns("chatty", world.q1, [(0, 5_000), (10_000, 20_000)], ends_at_ms=20_000)
    call("audio-only", queue=world.q1, state=Conversation.State.AUDIO_FALLBACK)  # no turn: untranscribed
    rule("silence", SamplingRule.Kind.LONG_SILENCE, alice, silence_seconds=30)

    run_sampling(now=NOW)

    assert [genesys_id for genesys_id, _ in assigned()] == ["gap", "late-start", "long-tail"]


def test_it_measures_silence_as_the_evaluations_do():
    assert longest_silence_ms([(0, 5_000), (45_000, 46_000)], duration_ms=46_000) == 40_000
    assert longest_silence_ms([(0, 50_000), (10_000, 12_000), (60_000, 61_000)], duration_ms=None) == 10_000
    assert longest_silence_ms([(-500, 1_000)], duration_ms=31_000) == 30_000


def test_it_assigns_calls_with_the_chosen_topic_whatever_its_case(world):
    alice = reviewer("alice", world.q1)
    transcript(call("refund", queue=world.q1), [{"start_ms": 0, "end_ms": 1, "topics": ["Refund"]}])
    transcript(call("refund-object", queue=world.q1), [{"start_ms": 0, "end_ms": 1, "topics": [{"name": "REFUND"}]}])
    transcript(call("billing", queue=world.q1), [{"start_ms": 0, "end_ms": 1, "topics": ["Billing"]}])
    rule("refunds", SamplingRule.Kind.TOPIC, alice, topic="refund")

    run_sampling(now=NOW)

    assert assigned() == [("refund", "alice"), ("refund-object", "alice")]


def test_it_leaves_out_calls_outside_the_window_reviewed_or_not_reviewable(world):
    alice = reviewer("alice", world.q1)
    for genesys_id, extra in (
        ("old", {"started_at": LONG_AGO}),
        ("reviewed", {"review_status": Conversation.ReviewStatus.REVIEWED}),
        ("escalated", {"review_status": Conversation.ReviewStatus.ESCALATED}),
        ("failed", {"state": Conversation.State.FAILED}),
        ("in-review", {"review_status": Conversation.ReviewStatus.IN_REVIEW}),
        ("this-week", {"started_at": THIS_WEEK}),
    ):
        transcript(call(genesys_id, queue=world.q1, **extra), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, alice)

    run_sampling(now=NOW)

    assert assigned() == [("in-review", "alice"), ("this-week", "alice")]


# Scope and visibility


def test_it_keeps_to_the_rules_queue_and_division_scope(world):
    both = reviewer("both", world.q1, world.q2)
    q3 = Queue.objects.create(genesys_id="queue-3", name="Q3", division=world.d2)
    AccessScope.objects.get(user=both).queues.add(q3)
    transcript(call("in-q1", queue=world.q1), leak_count=1)
    transcript(call("in-q2", queue=world.q2), leak_count=1)
    transcript(call("in-q3", queue=q3), leak_count=1)
    rule("q1 only", SamplingRule.Kind.LEAK, both).queues.add(world.q1)

    run_sampling(now=NOW)
    assert assigned() == [("in-q1", "both")]

    rule("d2 only", SamplingRule.Kind.LEAK, both).divisions.add(world.d2)
    run_sampling(now=NOW)
    assert assigned() == [("in-q1", "both"), ("in-q2", "both"), ("in-q3", "both")]


def test_it_assigns_a_call_only_to_a_reviewer_who_may_see_it(world):
    q1_only = reviewer("q1-only", world.q1)
    q2_only = reviewer("q2-only", world.q2)
    compliance = reviewer("carol", group="Compliance")  # sees everything, reviews nothing
    for n in range(3):
        transcript(call(f"q2-{n}", queue=world.q2), leak_count=1)
    transcript(call("nobody", queue=Queue.objects.create(genesys_id="queue-9", division=None)), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, q1_only, q2_only, compliance)

    report = run_sampling(now=NOW)

    assert assigned() == [("q2-0", "q2-only"), ("q2-1", "q2-only"), ("q2-2", "q2-only")]
    assert report.rules[0].unassignable == 1


# Strategies


def test_it_rotates_round_robin_and_continues_after_the_last_assignee(world):
    first, second, third = (reviewer(name, world.q1) for name in ("first", "second", "third"))
    for n in range(4):
        transcript(call(f"c{n}", queue=world.q1, started_at=LAST_WEEK + dt.timedelta(minutes=n)), leak_count=1)
    leaks = rule("leaks", SamplingRule.Kind.LEAK, first, second, third)

    run_sampling(now=NOW)
    assert assigned() == [("c0", "first"), ("c1", "second"), ("c2", "third"), ("c3", "first")]

    transcript(call("c4", queue=world.q1), leak_count=1)
    run_sampling(now=NOW + dt.timedelta(hours=1))
    assert ReviewAssignment.objects.get(conversation__genesys_id="c4", rule=leaks).assignee == second


def test_it_gives_the_least_loaded_reviewer_the_next_call(world):
    busy, idle = reviewer("busy", world.q1), reviewer("idle", world.q1)
    for n in range(3):
        backlog = call(f"backlog-{n}", queue=world.q1, started_at=LONG_AGO)
        ReviewAssignment.objects.create(conversation=backlog, assignee=busy, due_at=NOW)
    for n in range(4):
        transcript(call(f"new-{n}", queue=world.q1, started_at=LAST_WEEK + dt.timedelta(minutes=n)), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, busy, idle, strategy=SamplingRule.Strategy.LEAST_LOADED)

    run_sampling(now=NOW)

    assert assigned(rule__isnull=False) == [
        ("new-0", "idle"),
        ("new-1", "idle"),
        ("new-2", "idle"),
        ("new-3", "busy"),  # 3 each, the lower id wins the tie
    ]


def test_it_sets_the_due_date_from_the_rule(world):
    alice = reviewer("alice", world.q1)
    transcript(call("c", queue=world.q1), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, alice, due_days=3)

    run_sampling(now=NOW)

    row = ReviewAssignment.objects.get()
    assert (row.created_at, row.due_at, row.assigned_by) == (NOW, NOW + dt.timedelta(days=3), None)


# Determinism and idempotence


def _ten_calls_of_one_agent(world) -> User:
    alice = reviewer("alice", world.q1)
    for n in range(10):
        call(f"c{n}", queue=world.q1, started_at=LAST_WEEK + dt.timedelta(minutes=n))
    rule("three", SamplingRule.Kind.RANDOM_PER_AGENT, alice, calls_per_agent=3)
    return alice


def _picked(report) -> list[str]:
    return [pick.conversation.genesys_id for result in report.rules for pick in result.picks]


def test_it_picks_the_same_calls_for_the_same_seed_and_week(world):
    _ten_calls_of_one_agent(world)

    first = _picked(run_sampling(now=NOW, dry_run=True, seed="s1"))
    again = _picked(run_sampling(now=NOW + dt.timedelta(days=2), dry_run=True, seed="s1"))
    other = _picked(run_sampling(now=NOW, dry_run=True, seed="s2"))

    assert len(first) == 3
    assert first == again
    assert first != other


def test_it_takes_its_randomness_from_the_injected_rng(world):
    _ten_calls_of_one_agent(world)
    keys = []

    def recording_rng(key):
        keys.append(key)
        return random.Random(0)

    picks = _picked(run_sampling(now=NOW, dry_run=True, rng_factory=recording_rng))

    pool = sorted(Conversation.objects.all(), key=lambda c: c.pk)
    expected = sorted(random.Random(0).sample(pool, 3), key=lambda c: (c.started_at, c.pk))
    assert picks == [c.genesys_id for c in expected]
    assert len(keys) == 1 and "week 2026-03-02" in keys[0]


def test_it_creates_nothing_new_when_run_twice_the_same_week(world):
    alice = _ten_calls_of_one_agent(world)
    transcript(call("leaky", queue=world.q1, agent="agent-b"), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, alice)

    first = run_sampling(now=NOW)
    ReviewAssignment.objects.filter(conversation__genesys_id="leaky").update(
        status=ReviewAssignment.Status.DONE, done_at=NOW
    )
    second = run_sampling(now=NOW + dt.timedelta(days=1))

    # "leaks" runs first and takes agent-b's only call; "three" picks three of agent-a's.
    assert first.created == 4
    assert second.created == 0
    assert ReviewAssignment.objects.count() == 4


def test_it_changes_nothing_in_a_dry_run(world):
    alice = reviewer("alice", world.q1)
    transcript(call("c", queue=world.q1), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, alice)

    report = run_sampling(now=NOW, dry_run=True)

    assert report.picked == 1 and report.created == 0
    assert not ReviewAssignment.objects.exists()
    assert not AuditEvent.objects.filter(object_type="sampling_run").exists()


def test_it_skips_calls_ever_assigned_and_inactive_rules(world):
    alice, bob = reviewer("alice", world.q1), reviewer("bob", world.q1)
    taken = call("taken", queue=world.q1)
    transcript(taken, leak_count=1)
    ReviewAssignment.objects.create(conversation=taken, assignee=bob, due_at=NOW)
    cancelled = call("cancelled", queue=world.q1)
    transcript(cancelled, leak_count=1)
    ReviewAssignment.objects.create(
        conversation=cancelled, assignee=bob, due_at=NOW, status=ReviewAssignment.Status.CANCELLED
    )
    transcript(call("free", queue=world.q1), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, alice)
    rule("inactive", SamplingRule.Kind.LEAK, bob, active=False)

    run_sampling(now=NOW)

    assert assigned(rule__isnull=False) == [("free", "alice")]


def test_it_audits_a_run_that_assigned_calls(world):
    alice = reviewer("alice", world.q1)
    transcript(call("c", queue=world.q1), leak_count=1)
    rule("leaks", SamplingRule.Kind.LEAK, alice)

    run_sampling(now=NOW)

    event = AuditEvent.objects.get(object_type="sampling_run")
    assert event.action == AuditEvent.Action.REVIEW
    assert event.detail["created"] == 1 and event.detail["rules"] == {"leaks": 1}


def test_it_refuses_a_naive_now(world):
    with pytest.raises(ValueError, match="aware"):
        run_sampling(now=dt.datetime(2026, 3, 11, 12, 0))


# Closing


def test_it_closes_open_assignments_of_calls_reviewed_after_they_were_made(world):
    alice = reviewer("alice", world.q1)
    reviewed_later = call("later", queue=world.q1)
    reviewed_before = call("before", queue=world.q1)
    for conversation in (reviewed_later, reviewed_before):
        ReviewAssignment.objects.create(conversation=conversation, assignee=alice, created_at=NOW, due_at=NOW)
    Conversation.objects.filter(pk=reviewed_later.pk).update(
        review_status=Conversation.ReviewStatus.REVIEWED, reviewed_at=NOW + dt.timedelta(hours=1)
    )
    Conversation.objects.filter(pk=reviewed_before.pk).update(
        review_status=Conversation.ReviewStatus.REVIEWED, reviewed_at=NOW - dt.timedelta(days=1)
    )

    assert close_reviewed_assignments() == 1

    later = ReviewAssignment.objects.get(conversation=reviewed_later)
    assert (later.status, later.done_at) == (ReviewAssignment.Status.DONE, NOW + dt.timedelta(hours=1))
    assert ReviewAssignment.objects.get(conversation=reviewed_before).status == ReviewAssignment.Status.OPEN
