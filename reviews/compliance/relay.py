"""The outbox relay: claims due rows with a lease, delivers them, and records the outcome.

At least once: a row is marked delivered only after its sink confirmed it, so a crash between the
two means one more (idempotent) delivery with the same key, never a lost one.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q

from genesys.backoff import full_jitter
from genesys.clock import SYSTEM_CLOCK, Clock
from reviews import observability
from reviews.compliance import sinks
from reviews.compliance.outbox import archive_missing_audio, clock_now
from reviews.compliance.sinks import DeliveryOutcome
from reviews.models import OutboxMessage

logger = logging.getLogger(__name__)
State = OutboxMessage.State

TASK_MAX_ROUNDS = 10


@dataclass(frozen=True)
class RelayResult:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.dead

    def __add__(self, other: RelayResult) -> RelayResult:
        return RelayResult(self.delivered + other.delivered, self.retried + other.retried, self.dead + other.dead)

    def __str__(self) -> str:
        return f"delivered={self.delivered} retried={self.retried} dead={self.dead}"


def relay_due(*, clock: Clock = SYSTEM_CLOCK, limit: int = 100, rng: random.Random | None = None) -> RelayResult:
    """One round: deliver up to `limit` due rows. Safe to run in several processes at once.

    Each row is claimed just before its delivery, so a relay killed mid-round strands only the row
    in flight (until its lease expires), never the rest of the round.
    """
    counts = {"delivered": 0, "retried": 0, "dead": 0}
    woken: set[str] = set()
    for pk in due_ids(clock=clock, limit=limit):
        message = claim(pk, clock=clock)
        if message is None:
            continue  # another relay took it first
        try:
            outcome = sinks.deliver(message, clock=clock)
        except Exception as exc:  # a sink bug must cost a retry, never the message
            logger.exception("compliance sink raised", extra={"sink": message.sink})
            outcome = DeliveryOutcome.retry(f"sink raised {type(exc).__name__}: {exc}")
        verdict = record_outcome(message, outcome, clock=clock, rng=rng)
        counts[verdict] += 1
        if verdict == "delivered" and message.sink not in woken:
            woken.add(message.sink)
            wake_sink(message.sink, clock=clock, limit=limit)
    return RelayResult(**counts)


def wake_sink(sink: str, *, clock: Clock, limit: int) -> int:
    """The sink just confirmed a delivery: make up to `limit` of its rows waiting on backoff due now.

    Each failed row waits its own jittered backoff (up to COMPLIANCE_RETRY_MAX_SECONDS), so after an
    outage the backlog would otherwise trickle out over many minutes although the sink is back. Only
    next_attempt_at moves: attempts stay counted, so dead-letter semantics are unchanged. The relay
    calls this at most once per sink per round and wakes at most one round's worth (`limit`) of rows,
    so a flapping sink costs at most one extra round of attempts, never a stampede of the whole backlog.
    Returns the number of rows made due.
    """
    now = clock_now(clock)
    waiting = (
        OutboxMessage.objects.filter(state=State.PENDING, sink=sink, next_attempt_at__gt=now)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .order_by("next_attempt_at", "id")
    )
    pks = list(waiting.values_list("id", flat=True)[:limit])
    if not pks:
        return 0
    # Re-check the conditions in the UPDATE itself: another relay may have claimed or settled a row meanwhile.
    woken = (
        OutboxMessage.objects.filter(pk__in=pks, state=State.PENDING, next_attempt_at__gt=now)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .update(next_attempt_at=now)
    )
    if woken:
        logger.info("compliance sink %s recovered: %s waiting rows made due now", sink, woken, extra={"sink": sink})
    return woken


def due_ids(*, clock: Clock, limit: int) -> list[int]:
    return list(_due(clock_now(clock)).order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])


def claim(pk: int, *, clock: Clock) -> OutboxMessage | None:
    """Lease one row with a conditional UPDATE; None when it is no longer due or another relay holds it.

    The attempt is counted at claim time, so a relay that keeps crashing mid-delivery still
    dead-letters the row after COMPLIANCE_MAX_ATTEMPTS instead of looping forever.
    """
    now = clock_now(clock)
    leased = (
        _due(now)
        .filter(pk=pk)
        .update(lease_expires_at=now + timedelta(seconds=settings.COMPLIANCE_LEASE_SECONDS), attempts=F("attempts") + 1)
    )
    if not leased:
        return None
    return OutboxMessage.objects.select_related("transcript__conversation", "recording", "version").get(pk=pk)


def claim_due(*, clock: Clock, limit: int) -> list[OutboxMessage]:
    """Lease every due row at once (operations tooling and tests); the relay claims one at a time."""
    claimed = (claim(pk, clock=clock) for pk in due_ids(clock=clock, limit=limit))
    return [message for message in claimed if message is not None]


def record_outcome(message: OutboxMessage, outcome: DeliveryOutcome, *, clock: Clock, rng=None) -> str:
    """Store the outcome, release the lease, and return "delivered", "retried" or "dead"."""
    now = clock_now(clock)
    changes = {"lease_expires_at": None, "last_status": outcome.status}
    if outcome.result == "delivered":
        verdict = "delivered"
        changes.update(state=State.DELIVERED, delivered_at=now, last_error="")
    elif outcome.result == "retry" and message.attempts < settings.COMPLIANCE_MAX_ATTEMPTS:
        verdict = "retried"
        changes.update(
            last_error=outcome.error, next_attempt_at=_next_attempt(now, message.attempts, rng, outcome.retry_after)
        )
    else:
        verdict = "dead"
        reason = (
            outcome.error
            if outcome.result == "permanent"
            else f"gave up after {message.attempts} attempts: {outcome.error}"
        )
        changes.update(state=State.DEAD, last_error=reason)
    rows = OutboxMessage.objects.filter(pk=message.pk)
    if verdict != "delivered":
        # Our lease may have expired and another relay delivered the row meanwhile: a late
        # retry or dead letter must never overwrite that.
        rows = rows.exclude(state=State.DELIVERED)
    rows.update(**changes)
    for field, value in changes.items():
        setattr(message, field, value)
    _log_outcome(message, verdict)
    if verdict == "delivered" and message.transcript_id is None:
        # Recordings and facts versions: counted, but no transcript deliver latency to observe.
        observability.compliance_deliveries.labels(sink=message.sink, outcome="delivered").inc()
    elif verdict == "delivered":
        observability.observe_delivery(message)
    else:
        observability.observe_delivery_failure(message, verdict=verdict)
    return verdict


def relay_outbox_task() -> str:
    """django-q2 entry point: drain what is due now, in bounded rounds, and say what happened."""
    archive_missing_audio(now=clock_now(SYSTEM_CLOCK))
    total = RelayResult()
    for _round in range(TASK_MAX_ROUNDS):
        result = relay_due()
        total += result
        if result.handled == 0:
            break
    return f"compliance relay: {total}"


def _due(now: datetime):
    return OutboxMessage.objects.filter(state=State.PENDING, next_attempt_at__lte=now).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    )


def _next_attempt(now: datetime, attempts: int, rng, retry_after: float | None = None) -> datetime:
    """Capped full-jitter backoff, but never sooner than the receiver's Retry-After (itself capped, so a
    receiver cannot park a row for longer than COMPLIANCE_RETRY_MAX_SECONDS)."""
    cap = settings.COMPLIANCE_RETRY_MAX_SECONDS
    delay = full_jitter(attempts - 1, base=settings.COMPLIANCE_RETRY_BASE_SECONDS, cap=cap, rng=rng)
    if retry_after:
        delay = max(delay, min(retry_after, cap))
    return now + timedelta(seconds=delay)


def _log_outcome(message: OutboxMessage, verdict: str) -> None:
    level = logging.WARNING if verdict == "dead" else logging.INFO
    logger.log(
        level,
        "compliance delivery %s: %s (attempt %s)%s",
        verdict,
        message,
        message.attempts,
        f": {message.last_error}" if message.last_error else "",
        extra={
            "conversation_id": message.payload.get("conversationId"),
            "communication_id": message.payload.get("communicationId"),
            "sink": message.sink,
            "state": verdict,
            "status": message.last_status,
            "attempt": message.attempts,
        },
    )
