"""Transactional outbox: the compliance rows are written in the transcript's own transaction.

A relay (relay.py) delivers them later, at least once, with the stable idempotency key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min

from genesys.clock import SYSTEM_CLOCK, Clock
from reviews.compliance.payload import build_payload
from reviews.models import OutboxMessage

State = OutboxMessage.State


def clock_now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), tz=UTC)


def record_transcript_version(transcript, *, clock: Clock = SYSTEM_CLOCK) -> list[OutboxMessage]:
    """One outbox row per configured sink for this transcript version; re-running changes nothing.

    The payload is built once and frozen in the row, so every retry sends byte-identical content.
    """
    now = clock_now(clock)
    payload = build_payload(transcript, synced_at=now)
    # Due at once. Never later than stored_at, so a pipeline run on an injected clock
    # (tests, backfills) still finds its rows due.
    due_at = min(now, transcript.stored_at or now)
    messages = []
    with transaction.atomic():
        for sink in settings.COMPLIANCE_SINKS:
            message, _created = OutboxMessage.objects.get_or_create(
                sink=sink,
                idempotency_key=transcript.version_key,
                defaults={"transcript": transcript, "payload": payload, "next_attempt_at": due_at, "created_at": now},
            )
            messages.append(message)
    return messages


def replay(message: OutboxMessage, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Send a dead letter (or a stuck pending row) again: back to pending, due now, attempts reset.

    last_error and last_status are kept so the operations page still shows why it failed before.
    """
    if message.state == State.DELIVERED:
        raise ValueError(f"{message} was already delivered; there is nothing to replay")
    OutboxMessage.objects.filter(pk=message.pk).exclude(state=State.DELIVERED).update(
        state=State.PENDING, attempts=0, next_attempt_at=clock_now(clock), lease_expires_at=None
    )
    message.refresh_from_db()


def outbox_summary(*, clock: Clock = SYSTEM_CLOCK, messages=None) -> dict:
    """Depth per sink and state plus the age of the oldest pending row, for /operations and /metrics.

    `messages` narrows it to a queryset (the operations page passes a scoped user's deliveries).

    {"sinks": {"webhook": {"pending": 2, "delivered": 9, "dead": 1, "oldest_pending_age_seconds": 42.0}},
     "pending": 2, "delivered": 9, "dead": 1, "oldest_pending_age_seconds": 42.0}
    """
    now = clock_now(clock)
    sinks = {sink: _empty_sink_summary() for sink in settings.COMPLIANCE_SINKS}
    rows = (
        (OutboxMessage.objects.all() if messages is None else messages)
        .order_by()
        .values("sink", "state")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    )
    for row in rows:
        summary = sinks.setdefault(row["sink"], _empty_sink_summary())
        summary[row["state"]] = row["count"]
        if row["state"] == State.PENDING:
            summary["oldest_pending_age_seconds"] = max(0.0, (now - row["oldest"]).total_seconds())
    ages = [s["oldest_pending_age_seconds"] for s in sinks.values() if s["oldest_pending_age_seconds"] is not None]
    return {
        "sinks": sinks,
        **{state: sum(s[state] for s in sinks.values()) for state in State.values},
        "oldest_pending_age_seconds": max(ages, default=None),
    }


def _empty_sink_summary() -> dict:
    return {**dict.fromkeys(State.values, 0), "oldest_pending_age_seconds": None}
