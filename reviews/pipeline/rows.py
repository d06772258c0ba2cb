"""Single-conversation bookkeeping: scheduling, errors and state changes, always under our lease.

Every write here is conditional on the lease token, so a worker whose lease expired (and whose row
another worker has since claimed) can never overwrite the newer worker's progress.
"""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from genesys.backoff import capped_exponential, full_jitter
from genesys.clock import Clock
from genesys.errors import GenesysError
from reviews.models import Conversation

State = Conversation.State

# Conversations still moving through the pipeline (everything else is final).
ACTIVE_STATES = (State.DISCOVERED, State.AWAITING_TRANSCRIPT, State.DOWNLOADING)

# last_error of a transient failure starts with "[error n/max]": the consecutive error count that
# decides when a conversation is given up as failed (there is no separate column for it).
_ERROR_STREAK = re.compile(r"^\[error (\d+)/\d+\] ")
# Slots per backoff ceiling that retry times are rounded up to; see next_poll_at().
GRID_SLOTS = 1
# The audio-fallback batching grid is at most this share of TRANSCRIPT_DEADLINE_SECONDS; see audio_slot().
AUDIO_SLOT_SHARE = 1 / 16


def now_of(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), tz=UTC)


def next_poll_at(*, now: datetime, attempt: int, rng: random.Random | None = None) -> datetime:
    """Capped exponential backoff with full jitter, rounded up to the next multiple of the ceiling.

    One transcript search call probes up to 100 conversations, so what costs API calls is the number
    of distinct probe times, not the number of conversations. Rounding to the ceiling's grid (the
    ceilings are base*2**n, so the grids nest) makes every conversation at the same backoff level,
    and every older one at the cap, meet in the same round and share one call. Full jitter still
    decides between grid slots for a conversation that is off the grid (discovered mid-slot).
    """
    base, cap = settings.TRANSCRIPT_POLL_BASE_SECONDS, settings.TRANSCRIPT_POLL_MAX_SECONDS
    delay = full_jitter(attempt, base=base, cap=cap, rng=rng)
    return on_grid(
        now.timestamp() + delay, grid=capped_exponential(attempt, base=base, cap=cap) / GRID_SLOTS, after=now
    )


def availability_level(*, ended_at: datetime | None, now: datetime, attempts: int) -> int:
    """The backoff exponent for an availability probe, from the call's age rather than the probe count.

    Genesys writes most transcripts within minutes of hang-up, so a call younger than
    TRANSCRIPT_POLL_FRESH_SECONDS stays at level 0 (the base interval); after that the level rises by
    one with every doubling of its age. A transcript is then found within a fixed share of its own
    latency, and a backfilled call that ended days ago starts at the cap. The extra probes of fresh
    calls are cheap because a search call is shared by every call probed in the same slot. Without a
    known end (not resolved yet) the probe count stands in.
    """
    if ended_at is None:
        return attempts
    fresh = settings.TRANSCRIPT_POLL_FRESH_SECONDS
    age = (now - ended_at).total_seconds()
    if age < fresh:
        return 0
    return int(math.log2(age / fresh)) + 1


def next_availability_probe(conversation: Conversation, *, now: datetime, rng: random.Random | None = None) -> datetime:
    """The next probe after a "not yet": the backoff slot, or the deadline's slot if that comes first,
    so the audio fallback starts on time instead of up to one capped interval late."""
    level = availability_level(ended_at=conversation.ended_at, now=now, attempts=conversation.attempts)
    probe_at = next_poll_at(now=now, attempt=level, rng=rng)
    if conversation.deadline_at is None:
        return probe_at
    final_probe = on_grid(conversation.deadline_at.timestamp(), grid=settings.TRANSCRIPT_POLL_BASE_SECONDS, after=now)
    return min(probe_at, final_probe)


def on_grid(epoch: float, *, grid: float, after: datetime) -> datetime:
    """The first multiple of `grid` at or after `epoch`, strictly later than `after`."""
    slot = math.ceil(epoch / grid) * grid
    if slot <= after.timestamp():
        slot += grid
    return datetime.fromtimestamp(slot, tz=UTC)


def audio_slot(*, now: datetime) -> datetime:
    """When a deadline-expired conversation fetches its recording: the next slot of a shared grid, so the
    fallbacks of one period go out together in a single batch download request. The grid is
    TRANSCRIPT_POLL_MAX_SECONDS, but never more than AUDIO_SLOT_SHARE of the deadline, so batching
    delays the audio by a small fraction of the time already spent waiting for the transcript."""
    grid = min(settings.TRANSCRIPT_POLL_MAX_SECONDS, settings.TRANSCRIPT_DEADLINE_SECONDS * AUDIO_SLOT_SHARE)
    return on_grid(now.timestamp(), grid=grid, after=now)


def error_streak(last_error: str) -> int:
    match = _ERROR_STREAK.match(last_error or "")
    return int(match.group(1)) if match else 0


def safe_error(exc: BaseException) -> str:
    """An error description fit for last_error: never a response body, transcript text or PII.

    genesys.errors messages are written to be safe (endpoint, status, code, the fix, contextId); for
    anything else only the exception type is kept, because its text may quote data.
    """
    if isinstance(exc, GenesysError):
        return f"{type(exc).__name__}: {exc}"[:400]
    return type(exc).__name__


def _ours(conversation: Conversation, token: str):
    return Conversation.objects.filter(pk=conversation.pk, lease_token=token)


def release(conversation: Conversation, *, token: str, **changes) -> bool:
    """Write `changes` and give the lease back; False when the lease was no longer ours."""
    changes.update(lease_token="", lease_expires_at=None, updated_at=timezone.now())
    updated = _ours(conversation, token).update(**changes)
    for field, value in changes.items():
        setattr(conversation, field, value)
    return updated == 1


def update_leased(conversation: Conversation, *, token: str, **changes) -> bool:
    """Write `changes` while keeping the lease; False when the lease was no longer ours."""
    changes["updated_at"] = timezone.now()  # QuerySet.update() skips auto_now fields
    updated = _ours(conversation, token).update(**changes)
    for field, value in changes.items():
        setattr(conversation, field, value)
    return updated == 1


def set_state(conversation: Conversation, *, token: str, state: str) -> bool:
    return update_leased(conversation, token=token, state=state)


def reschedule_not_yet(conversation: Conversation, *, token: str, now: datetime, note: str = "") -> bool:
    """The transcript is not there yet (404 or absent from search): count the probe and back off."""
    return release(
        conversation,
        token=token,
        state=State.AWAITING_TRANSCRIPT,
        attempts=conversation.attempts + 1,
        next_attempt_at=next_availability_probe(conversation, now=now),
        last_error=note,
    )


def record_failure(conversation: Conversation, *, token: str, now: datetime, error: BaseException) -> bool:
    """A transient non-404 error: back off, or give up as failed after PIPELINE_MAX_ATTEMPTS in a row."""
    limit = settings.PIPELINE_MAX_ATTEMPTS
    streak = error_streak(conversation.last_error) + 1
    message = f"[error {streak}/{limit}] {safe_error(error)}"
    if streak >= limit:
        return release(
            conversation,
            token=token,
            state=State.FAILED,
            attempts=conversation.attempts + 1,
            next_attempt_at=None,
            last_error=message,
        )
    # An audio fetch in progress stays in DOWNLOADING; a transcript problem goes back to polling.
    state = State.DOWNLOADING if conversation.needs_manual_review else State.AWAITING_TRANSCRIPT
    return release(
        conversation,
        token=token,
        state=state,
        attempts=conversation.attempts + 1,
        next_attempt_at=next_poll_at(now=now, attempt=streak),
        last_error=message,
    )


def require_audio(conversation: Conversation, *, token: str, now: datetime, reason: str) -> bool:
    """Switch to the audio fallback; the recording is fetched in the next audio slot (batched)."""
    return release(
        conversation,
        token=token,
        state=State.DOWNLOADING,
        needs_manual_review=True,
        manual_review_reason=reason[:200],
        next_attempt_at=audio_slot(now=now),
        last_error="",
    )


def needs_audio(conversation: Conversation) -> bool:
    return conversation.state == State.DOWNLOADING and conversation.needs_manual_review


def transcript_deadline(*, ended_at: datetime, now: datetime) -> datetime:
    """When to stop waiting for a transcript and fetch the audio instead.

    Counted from the call's end, or from when we learnt of the call if that is later: a backfill
    of last week's calls still gives Genesys the whole window before giving up on a transcript.
    """
    return max(ended_at, now) + timedelta(seconds=settings.TRANSCRIPT_DEADLINE_SECONDS)


def deadline_passed(conversation: Conversation, *, now: datetime) -> bool:
    return conversation.deadline_at is not None and conversation.deadline_at <= now


def deadline_reason() -> str:
    seconds = settings.TRANSCRIPT_DEADLINE_SECONDS
    if seconds >= 3600:
        span = f"{seconds / 3600:g}h"
    elif seconds >= 60:
        span = f"{seconds / 60:g}min"
    else:
        span = f"{seconds:g}s"
    return f"transcript never arrived within {span}"


def wait_until(*, now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
