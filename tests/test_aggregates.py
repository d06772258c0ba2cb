from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from reviews import aggregates
from reviews.models import Agent, Conversation, OutboxMessage, Queue, Transcript

pytestmark = pytest.mark.django_db
DAY1 = datetime(2025, 6, 15, 8, tzinfo=UTC)
DAY2 = datetime(2025, 6, 16, 8, tzinfo=UTC)


def add_transcript(number, *, started_at, queue=None, agent=None, **fields):
    conversation = Conversation.objects.create(
        genesys_id=f"conv-{number}", started_at=started_at, queue=queue, agent=agent, state="stored"
    )
    values = {
        "sha256": f"{number:064x}",
        "size_bytes": 10,
        "raw_path": f"transcripts/{number}",
        "redaction_status": "verified",
        "stored_at": started_at + timedelta(minutes=30),
    }
    return Transcript.objects.create(conversation=conversation, communication_id=f"comm-{number}", **values | fields)


def deliver(transcript, *, sink, after_ms):
    return OutboxMessage.objects.create(
        transcript=transcript,
        sink=sink,
        idempotency_key=transcript.version_key,
        payload={},
        state="delivered",
        delivered_at=transcript.stored_at + timedelta(milliseconds=after_ms),
    )


@pytest.fixture
def calls():
    """Two days of transcripts whose percentiles are worked out by hand in the tests."""
    sales = Queue.objects.create(genesys_id="q-sales", name="Sales")
    support = Queue.objects.create(genesys_id="q-support", name="Support")
    ada = Agent.objects.create(genesys_id="u-ada", name="Ada")
    day1 = [
        # availability, store, confidence, words, low share, queue
        (1000, 100, 0.90, 100, 0.10, sales),
        (2000, 300, 0.50, 300, 0.50, sales),
        (3000, 200, 0.80, 100, 0.00, support),
        (4000, 400, None, 0, None, support),
        (None, 500, 0.70, 200, 0.25, None),
    ]
    made = [
        add_transcript(
            n,
            started_at=DAY1 + timedelta(minutes=n),
            queue=queue,
            agent=ada if n < 2 else None,
            availability_latency_ms=availability,
            store_latency_ms=store,
            confidence_mean=confidence,
            word_count=words,
            low_confidence_share=low,
        )
        for n, (availability, store, confidence, words, low, queue) in enumerate(day1)
    ]
    # 23:59 UTC still belongs to the first day.
    made.append(
        add_transcript(
            10,
            started_at=datetime(2025, 6, 16, 23, 59, tzinfo=UTC),
            availability_latency_ms=7000,
            confidence_mean=0.97,
            word_count=50,
            low_confidence_share=0.0,
        )
    )
    deliver(made[0], sink="filesystem", after_ms=1500)
    deliver(made[1], sink="filesystem", after_ms=2250)
    OutboxMessage.objects.create(transcript=made[2], sink="filesystem", idempotency_key="pending", payload={})
    return made


def test_it_computes_nearest_rank_latency_percentiles_per_day(calls):
    rows = aggregates.latency_by_day()

    assert rows == [
        {
            "day": date(2025, 6, 15),
            "count": 5,
            "conversations": 5,
            # availability 1000, 2000, 3000, 4000 (one missing): ranks ceil(.5*4)=2 and ceil(.95*4)=4
            "availability_p50_ms": 2000,
            "availability_p95_ms": 4000,
            # store 100..500: ranks ceil(.5*5)=3 and ceil(.95*5)=5
            "store_p50_ms": 300,
            "store_p95_ms": 500,
            # deliver 1500, 2250 (the pending row is no sample)
            "deliver_p50_ms": 1500,
            "deliver_p95_ms": 2250,
        },
        {
            "day": date(2025, 6, 16),
            "count": 1,
            "conversations": 1,
            "availability_p50_ms": 7000,
            "availability_p95_ms": 7000,
            "store_p50_ms": None,
            "store_p95_ms": None,
            "deliver_p50_ms": None,
            "deliver_p95_ms": None,
        },
    ]


def test_it_filters_by_queue_agent_time_and_scope(calls):
    assert [r["count"] for r in aggregates.latency_by_day(queue="q-sales")] == [2]
    assert aggregates.latency_by_day(queue=Queue.objects.get(genesys_id="q-support"))[0]["store_p95_ms"] == 400
    assert aggregates.latency_by_day(agent="u-ada")[0]["deliver_p95_ms"] == 2250
    assert [r["day"] for r in aggregates.latency_by_day(since=DAY2)] == [date(2025, 6, 16)]
    assert [r["day"] for r in aggregates.latency_by_day(until=DAY2)] == [date(2025, 6, 15)]
    scope = Conversation.objects.filter(genesys_id__in=["conv-3", "conv-4"])
    assert aggregates.latency_by_day(conversations_qs=scope)[0]["store_p50_ms"] == 400


def test_it_matches_a_reference_percentile_on_many_samples():
    rng = random.Random(3)
    values = [rng.randint(0, 100_000) for _ in range(101)]
    for n, value in enumerate(values):
        add_transcript(n, started_at=DAY1, store_latency_ms=value)

    (row,) = aggregates.latency_by_day()

    ordered = sorted(values)
    assert row["store_p50_ms"] == ordered[math.ceil(0.5 * 101) - 1]
    assert row["store_p95_ms"] == ordered[math.ceil(0.95 * 101) - 1]


def test_it_buckets_mean_confidence_in_steps_of_five_hundredths():
    for n, confidence in enumerate([0.0, 0.049, 0.05, 0.5, 0.97, 1.0, None]):
        add_transcript(n, started_at=DAY1, confidence_mean=confidence)

    buckets = aggregates.accuracy_distribution()

    assert len(buckets) == 20
    assert buckets[0] == (0.0, 0.05, 2)
    assert buckets[1] == (0.05, 0.1, 1)
    assert buckets[10] == (0.5, 0.55, 1)
    assert buckets[19] == (0.95, 1.0, 2)
    assert sum(count for _low, _high, count in buckets) == 6


def test_it_summarises_accuracy_per_day(calls, settings):
    settings.LOW_CONFIDENCE_THRESHOLD = 0.6

    first, second = aggregates.accuracy_by_day()

    assert first["day"] == date(2025, 6, 15)
    assert first["count"] == 5
    assert first["mean_confidence"] == pytest.approx((0.9 + 0.5 + 0.8 + 0.7) / 4)
    # word-weighted: (10 + 150 + 0 + 50) low-confidence words of 700
    assert first["low_confidence_share"] == pytest.approx(210 / 700)
    assert first["low_confidence_transcripts"] == 1
    assert second == {
        "day": date(2025, 6, 16),
        "count": 1,
        "conversations": 1,
        "mean_confidence": pytest.approx(0.97),
        "low_confidence_share": 0.0,
        "low_confidence_transcripts": 0,
    }


def test_it_summarises_by_queue_and_agent(calls):
    queues = {row["queue_id"]: row for row in aggregates.by_queue()}
    agents = {row["agent_id"]: row for row in aggregates.by_agent()}

    assert set(queues) == {"q-sales", "q-support", None}
    sales = queues["q-sales"]
    assert (sales["queue_name"], sales["count"], sales["leak_count"]) == ("Sales", 2, 0)
    assert sales["mean_confidence"] == pytest.approx(0.7)
    assert sales["low_confidence_share"] == pytest.approx(160 / 400)
    assert (sales["availability_p50_ms"], sales["availability_p95_ms"]) == (1000, 2000)
    assert (queues["q-support"]["store_p50_ms"], queues["q-support"]["store_p95_ms"]) == (200, 400)
    assert queues[None]["queue_name"] == "(none)"
    assert queues[None]["count"] == 2
    assert agents["u-ada"]["count"] == 2
    assert agents[None]["count"] == 4


def test_it_returns_nothing_for_an_empty_scope():
    assert aggregates.latency_by_day() == []
    assert aggregates.accuracy_by_day() == []
    assert aggregates.by_queue() == []
    assert [count for _low, _high, count in aggregates.accuracy_distribution()] == [0] * 20


def add_part(transcript, recording_id, **fields):
    """Another document (part) of the same conversation: a later recording segment or another leg."""
    values = {
        "communication_id": transcript.communication_id,
        "recording_id": recording_id,
        "sha256": "e" * 64,
        "size_bytes": 10,
        "raw_path": f"transcripts/{recording_id}",
        "redaction_status": "verified",
        "stored_at": transcript.stored_at,
    }
    return Transcript.objects.create(conversation=transcript.conversation, **values | fields)


@pytest.fixture
def segmented():
    """One call in five segments (holds) and one single-part call, same day and queue."""
    queue = Queue.objects.create(genesys_id="q-hold", name="Hold")
    long_call = add_transcript(1, started_at=DAY1, queue=queue, availability_latency_ms=10_000, store_latency_ms=100)
    for n in range(2, 6):
        add_part(long_call, f"seg-{n}", availability_latency_ms=10_000 + n, store_latency_ms=100 * n)
    add_transcript(2, started_at=DAY1, queue=queue, availability_latency_ms=50_000, store_latency_ms=900)
    return queue


def test_it_counts_a_segmented_call_as_one_availability_sample(segmented):
    (row,) = aggregates.latency_by_day()
    assert (row["count"], row["conversations"]) == (6, 2)
    # One sample per call, its last part's: 10_005 and 50_000 (per part, six samples would give p50 = 10_003).
    assert (row["availability_p50_ms"], row["availability_p95_ms"]) == (10_005, 50_000)
    # Store latency stays per part (each is downloaded on its own): 100..500 and 900, ranks 3 and 6.
    assert (row["store_p50_ms"], row["store_p95_ms"]) == (300, 900)


def test_it_summarises_a_queue_with_calls_and_parts_apart(segmented):
    (row,) = aggregates.by_queue()
    assert (row["queue_id"], row["count"], row["conversations"]) == ("q-hold", 6, 2)
    assert (row["availability_p50_ms"], row["availability_p95_ms"]) == (10_005, 50_000)
    (day,) = aggregates.accuracy_by_day()
    assert (day["count"], day["conversations"]) == (6, 2)


@pytest.mark.parametrize(
    "narrowing",
    [
        {"queue": "q-sales"},
        {"agent": "u-ada"},
        {"since": DAY2},
        {"until": DAY2},
        {"queue": "q-support", "since": DAY1 + timedelta(minutes=3)},
    ],
)
def test_it_narrows_exactly_as_the_search_filters_do(calls, narrowing):
    """Aggregates and the search page share one filter implementation (reviews/search/filters.py)."""
    from reviews.access import Scope
    from reviews.search import filters as call_filters

    counted = set(aggregates.transcripts(**narrowing).values_list("conversation__genesys_id", flat=True))
    filters = call_filters.SearchFilters(
        queues=[narrowing["queue"]] if "queue" in narrowing else (),
        agents=[narrowing["agent"]] if "agent" in narrowing else (),
        date_from=narrowing.get("since"),
        date_to=narrowing.get("until"),
    )
    listed = call_filters.conversations(scope=Scope(everything=True), filters=filters)
    assert counted == set(listed.filter(transcripts__isnull=False).values_list("genesys_id", flat=True))
    assert counted  # every case keeps something
