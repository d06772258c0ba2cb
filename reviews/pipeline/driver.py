"""The foreground backfill: discover a window, then drive it to final states without a task cluster.

Each loop runs one advance_due round and relays the compliance outbox; when nothing was due it sleeps
(on the injected clock) until the earliest moment something becomes due: a next_attempt_at, an expired
lease left by a killed worker, or a batch download poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db.models import Min, Q

from genesys.clock import Clock
from reviews.compliance.relay import relay_due
from reviews.models import Conversation
from reviews.pipeline.availability import advance_due
from reviews.pipeline.discovery import discover
from reviews.pipeline.fallback import next_batch_poll_at
from reviews.pipeline.schedule import now_of
from reviews.pipeline.summary import (
    BackfillSummary,
    StatsSnapshot,
    state_counts,
    summarize,
    transcripts_of,
    window_conversations,
)

ACTIVE_STATES = Conversation.ACTIVE_STATES

logger = logging.getLogger(__name__)

MIN_SLEEP_SECONDS = 0.05
MAX_SLEEP_SECONDS = 60.0

# progress(final, total, {state: count}) after every round
Progress = Callable[[int, int, dict], None]


def next_wake_at(conversations) -> datetime | None:
    """The earliest time a round could find work for these conversations."""
    active = conversations.filter(state__in=ACTIVE_STATES)
    due = active.filter(Q(lease_expires_at__isnull=True)).aggregate(at=Min("next_attempt_at"))["at"]
    lease = active.filter(lease_expires_at__isnull=False).aggregate(at=Min("lease_expires_at"))["at"]
    candidates = [t for t in (due, lease, next_batch_poll_at()) if t is not None]
    return min(candidates) if candidates else None


def relay_outbox(clock: Clock) -> None:
    try:
        relay_due(clock=clock)
    except Exception:  # delivery problems are the relay's to retry; they must not stop ingestion
        logger.exception("compliance relay failed during backfill")


def run_backfill(
    *,
    client,
    since: datetime,
    until: datetime,
    clock: Clock,
    max_wait: float,
    progress: Progress | None = None,
    limit: int = 100,
) -> BackfillSummary:
    """Discover [since, until) and drive it until every conversation is final or max_wait seconds pass."""
    started = clock.monotonic()
    stats_before = StatsSnapshot.of(client)
    conversations = window_conversations(since=since, until=until)
    transcripts_before = transcripts_of(conversations).count()
    discover(client=client, start=since, end=until, now=now_of(clock))
    total = conversations.count()
    finished = False
    while True:
        worked = advance_due(client=client, clock=clock, limit=limit)
        relay_outbox(clock)
        states = state_counts(conversations)
        remaining = sum(states[state] for state in ACTIVE_STATES)
        if progress is not None:
            progress(total - remaining, total, states)
        if remaining == 0:
            finished = True
            break
        left = max_wait - (clock.monotonic() - started)
        if left <= 0:
            break
        if worked:
            continue
        wake = next_wake_at(conversations)
        delay = (wake - now_of(clock)).total_seconds() if wake else MAX_SLEEP_SECONDS
        clock.sleep(min(max(delay, MIN_SLEEP_SECONDS), left, MAX_SLEEP_SECONDS))
    return summarize(
        since=since,
        until=until,
        stats=StatsSnapshot.of(client) - stats_before,
        transcripts_before=transcripts_before,
        elapsed=clock.monotonic() - started,
        finished=finished,
    )
