"""When a conversation is next worked: availability backoff, direct-probe checkpoints, deadlines, audio slots.

Pure arithmetic on a conversation's fields and settings; nothing here writes to the database (state changes
are reviews/pipeline/transitions.py's).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from django.conf import settings

from genesys.backoff import capped_exponential, full_jitter
from genesys.clock import Clock
from reviews.models import Conversation

# Slots per backoff ceiling that retry times are rounded up to; see next_poll_at().
GRID_SLOTS = 1
# The audio-fallback batching grid is at most this share of TRANSCRIPT_DEADLINE_SECONDS; see audio_slot().
AUDIO_SLOT_SHARE = 1 / 16
# Ages (since the call ended) at which a conversation the search has not listed is probed directly anyway,
# so no transcript depends on the search alone (genesys-api.md §12: the search may ignore or miss it).
DIRECT_PROBE_CHECKPOINTS = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))
# The last probe before the deadline is a direct one too, unless a direct probe happened this recently.
FINAL_PROBE_GAP = timedelta(hours=1)
# Without a usable search, a conversation is probed directly again once this share of the call's age at the
# last direct probe has passed: ages ×1.5 apart, about 16 probes from 5 minutes to 48 hours instead of one
# per 15-minute round (192), at the cost of finding a late transcript within half its age.
DIRECT_PROBE_AGE_SHARE = 0.5
# An audio-only call is checked for a late Genesys transcript again once this share of the time since it fell
# back to audio has passed (at least the polling cap apart): about 15 checks over a 72-hour window.
LATE_CHECK_AGE_SHARE = 0.5


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
    return min(probe_at, final_probe_at(conversation, now=now))


def final_probe_at(conversation: Conversation, *, now: datetime) -> datetime:
    return on_grid(conversation.deadline_at.timestamp(), grid=settings.TRANSCRIPT_POLL_BASE_SECONDS, after=now)


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


def transcript_deadline(*, ended_at: datetime, now: datetime) -> datetime:
    """When to stop waiting for a transcript and fetch the audio instead.

    Counted from the call's end, or from when we learnt of the call if that is later: a backfill
    of last week's calls still gives Genesys the whole window before giving up on a transcript.
    """
    return max(ended_at, now) + timedelta(seconds=settings.TRANSCRIPT_DEADLINE_SECONDS)


def deadline_passed(conversation: Conversation, *, now: datetime) -> bool:
    return conversation.deadline_at is not None and conversation.deadline_at <= now


def deadline_reason() -> str:
    return f"transcript never arrived within {span(settings.TRANSCRIPT_DEADLINE_SECONDS)}"


def span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}min"
    return f"{seconds:g}s"


def checkpoint_probe_due(conversation: Conversation, *, now: datetime) -> bool:
    """A direct probe although the search is healthy: the call's age passed a checkpoint since the last
    direct probe, or the deadline has come (the last look before the audio fallback) and no direct probe
    happened lately."""
    last = conversation.direct_probed_at
    if conversation.ended_at is not None:
        for checkpoint in DIRECT_PROBE_CHECKPOINTS:
            reached = conversation.ended_at + checkpoint
            if reached <= now and (last is None or last < reached):
                return True
    if not deadline_passed(conversation, now=now):
        return False
    return last is None or now - last >= FINAL_PROBE_GAP


def direct_probe_due_without_search(conversation: Conversation, *, now: datetime) -> bool:
    """A direct probe for a conversation the search cannot vouch for (search failing, content search off,
    or older than its retention): the first at once, then geometrically spaced by the call's age."""
    last = conversation.direct_probed_at
    if last is None or deadline_passed(conversation, now=now):
        return True
    origin = conversation.ended_at or conversation.discovered_at
    age_then = max((last - origin).total_seconds(), 0.0) if origin else 0.0
    gap = max(settings.TRANSCRIPT_POLL_BASE_SECONDS, age_then * DIRECT_PROBE_AGE_SHARE)
    return (now - last).total_seconds() >= gap


def part_wait_over(*, first_stored_at: datetime | None, now: datetime) -> bool:
    """A multi-leg call whose first part is stored waits this long for its other legs' transcripts."""
    if first_stored_at is None:
        return False
    return now >= first_stored_at + timedelta(seconds=settings.TRANSCRIPT_PART_WAIT_SECONDS)


def audio_wait_over(conversation: Conversation, *, now: datetime) -> bool:
    """A recording that stays 202 (transcoding), UPLOADING or RESTORING is waited for this long, no longer."""
    since = conversation.state_changed_at or conversation.updated_at
    return since is not None and now >= since + timedelta(seconds=settings.AUDIO_WAIT_MAX_SECONDS)


def audio_retry_at(conversation: Conversation, *, now: datetime) -> datetime:
    """When to ask again about a recording that is transcoding, uploading or restoring: half the time already
    spent waiting for it, between one base interval and the polling cap (not the transcript probe count)."""
    since = conversation.state_changed_at or now
    waited = max((now - since).total_seconds(), 0.0)
    delay = min(max(settings.TRANSCRIPT_POLL_BASE_SECONDS, waited / 2), settings.TRANSCRIPT_POLL_MAX_SECONDS)
    return now + timedelta(seconds=delay)


def late_window_origin(conversation: Conversation, *, now: datetime) -> datetime:
    """When the call fell back to audio: its transcript deadline, or when it entered its state if earlier (a
    call whose queue has transcription off goes to audio before its deadline)."""
    moments = [m for m in (conversation.deadline_at, conversation.state_changed_at) if m is not None]
    return min(moments) if moments else now


def next_late_transcript_check(conversation: Conversation, *, now: datetime) -> datetime | None:
    """When an audio-only call is next asked for a late Genesys transcript; None once LATE_TRANSCRIPT_WINDOW_HOURS
    have passed since it fell back to audio. The last check falls exactly at the window's end."""
    origin = late_window_origin(conversation, now=now)
    closes = origin + timedelta(hours=settings.LATE_TRANSCRIPT_WINDOW_HOURS)
    if now >= closes:
        return None
    waited = max((now - origin).total_seconds(), 0.0)
    delay = max(settings.TRANSCRIPT_POLL_MAX_SECONDS, waited * LATE_CHECK_AGE_SHARE)
    return min(now + timedelta(seconds=delay), closes)
