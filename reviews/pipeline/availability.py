"""Availability polling: one round claims the due conversations and moves each one step forward.

Nothing here sleeps. A conversation whose transcript is not ready records the probe and its next attempt
time, and the round ends; the scheduler (advance_task) or the foreground driver comes back.

The transcript search is an accelerator, never a gate (genesys-api.md §12):
- One search call (≤100 conversations) says which due conversations are ready and on which communications;
  only those get a `transcripturls` call, which returns every segment's URL at once.
- Any search failure (4xx, 5xx, malformed answer) makes this round probe the due conversations directly
  with `transcripturls`, and puts the search in a cooldown (reviews/pipeline/org.py); it never counts
  against a conversation. Only a 401 or a 403 on the search (an org-wide endpoint) stops the round.
- A conversation the search does not list is still probed directly at age checkpoints (1 h, 6 h, 24 h) and
  at its deadline. When the search cannot vouch for it (failing, in cooldown, content search off in the
  org's settings, nothing listed for a day, or older than the search's 60-day retention), direct probes
  follow the call's age geometrically (schedule.direct_probe_due_without_search).

A 403 on one conversation is that conversation's outcome (`restricted`, naming the permission or division);
the round goes on. Every leg (communication) the search lists is stored, each of its recording segments a
part; a call with consult, transfer or callback legs keeps looking for the other legs' parts for
TRANSCRIPT_PART_WAIT_SECONDS after its first part.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Min

from genesys.client import parse_time
from genesys.clock import Clock
from genesys.errors import AuthenticationError, GenesysError, PermissionDeniedError, RateLimitedError
from reviews.models import Conversation, Transcript
from reviews.pipeline import org
from reviews.pipeline.fallback import fetch_audio, poll_batches
from reviews.pipeline.ingest import USABLE, Outcome, PartResult, ingest_leg
from reviews.pipeline.leases import claim, claim_one, defer_all, release_all
from reviews.pipeline.schedule import (
    checkpoint_probe_due,
    deadline_passed,
    deadline_reason,
    direct_probe_due_without_search,
    now_of,
    part_wait_over,
    transcript_deadline,
)
from reviews.pipeline.transitions import (
    awaiting_parts,
    note_direct_probe,
    promote_discovered,
    record_error,
    require_audio,
    restrict,
    safe_error,
    transcript_not_yet,
    transcript_stored,
)

logger = logging.getLogger(__name__)
State = Conversation.State

# Of the direct probes of a conversation with no part yet, every OTHER_LEG_EVERY-th tries another leg
# than the external party's (which usually carries the transcript of both sides, genesys-api.md §7.4).
OTHER_LEG_EVERY = 3
SEARCH_MARGIN = timedelta(seconds=1)
# Transcript content is searchable for 60 days; older conversations are only ever probed directly.
SEARCH_RETENTION = timedelta(days=60)
# A search that ignores the conversationId filter lists every transcript of the date range; one round reads
# at most this many hits (ten pages) and leaves the rest to direct probes and later rounds.
SEARCH_MAX_HITS_PER_ROUND = 1000
_FATAL = (AuthenticationError,)
# A round stops starting conversations once this share of PIPELINE_LEASE_SECONDS has passed since its
# claim. Leases are not renewed, so a longer round would work rows whose lease expired and that another
# worker has claimed again: both would call transcripturls and download the document (one of them in vain).
LEASE_BUDGET_SHARE = 0.5


def advance_due(*, client, clock: Clock, limit: int = 100, stop_at: float | None = None) -> int:
    """One round: poll due batch downloads, claim up to `limit` due conversations and advance them.

    `stop_at` (clock.monotonic() seconds) bounds the round for a task timeout, and the round also ends
    within LEASE_BUDGET_SHARE of the lease: conversations not reached by then are handed back untouched
    and stay due. Returns how many conversations and batch jobs were worked on (0 means nothing was due,
    or the rate limit cut the round short).
    """
    worked = poll_batches(client=client, clock=clock)
    token, conversations = claim(now=now_of(clock), limit=limit)
    if not conversations:
        return worked
    lease_stop = clock.monotonic() + settings.PIPELINE_LEASE_SECONDS * LEASE_BUDGET_SHARE
    stop_at = lease_stop if stop_at is None else min(stop_at, lease_stop)
    if not advance_claimed(client=client, clock=clock, token=token, conversations=conversations, stop_at=stop_at):
        return worked
    return worked + len(conversations)


def advance_conversation(*, client, clock: Clock, genesys_id: str) -> str:
    """Advance one conversation now, due or not; returns its state afterwards."""
    token, conversation = claim_one(genesys_id=genesys_id, now=now_of(clock))
    if conversation is not None:
        advance_claimed(client=client, clock=clock, token=token, conversations=[conversation])
    state = Conversation.objects.filter(genesys_id=genesys_id).values_list("state", flat=True).first()
    return state or "unknown"


def advance_claimed(
    *, client, clock: Clock, token: str, conversations: list[Conversation], stop_at: float | None = None
) -> bool:
    """Work the claimed rows; False when the rate limit cut the round short (the rest are deferred)."""
    try:
        audio = [c for c in conversations if c.state == State.AWAITING_AUDIO]
        polling = [c for c in conversations if c.state != State.AWAITING_AUDIO]
        probe(client=client, clock=clock, token=token, conversations=polling, stop_at=stop_at)
        if audio:
            fetch_audio(client=client, clock=clock, token=token, conversations=audio)
    except RateLimitedError as exc:
        # The per-call cap on rate-limit waits ran out: stop here without blaming any conversation.
        until = now_of(clock) + timedelta(seconds=max(exc.retry_after, 1.0))
        logger.warning("round stopped by the Genesys rate limit; rows deferred to %s: %s", until, safe_error(exc))
        defer_all(conversations, token=token, until=until)
        return False
    finally:
        # Rows still leased by this round (left by an error or cut by stop_at) are handed back.
        release_all(conversations, token=token)
    return True


def probe(*, client, clock: Clock, token: str, conversations: list[Conversation], stop_at: float | None = None) -> None:
    """Probe availability for conversations awaiting a transcript, and ingest the ready ones."""
    if not conversations:
        return
    now = now_of(clock)
    for conversation in conversations:
        if not conversation.communication_ids and conversation.state == State.DISCOVERED:
            resolve_from_recordings(client=client, conversation=conversation, token=token, now=now)
    org_settings = org.transcription_settings(client, now=now)
    conversations = route_untranscribable(
        token=token, conversations=conversations, mode=org_settings.get("transcription"), now=now
    )
    listed, vouched = search_listing(client=client, conversations=conversations, org_settings=org_settings, now=now)
    stored_legs = stored_legs_of(conversations)
    for conversation in conversations:
        if stop_at is not None and clock.monotonic() >= stop_at:
            break  # out of time: the rest are released by advance_claimed and stay due
        direct = direct_probe_due(conversation, now=now, vouched=conversation.pk in vouched)
        try:
            probe_one(
                client=client,
                clock=clock,
                token=token,
                conversation=conversation,
                listed=listed.get(conversation.genesys_id),
                direct=direct,
                stored_legs=stored_legs.get(conversation.pk, set()),
            )
        except (*_FATAL, RateLimitedError):
            raise
        except PermissionDeniedError as exc:
            restrict_conversation(conversation, token=token, now=now_of(clock), error=exc)
        except GenesysError as exc:
            logger.warning("probe failed conversation=%s: %s", conversation.genesys_id, safe_error(exc))
            record_error(conversation, token=token, now=now_of(clock), error=exc)
        except Exception as exc:
            # A bug must not wedge the row under our lease; it is recorded, counted and retried with backoff.
            logger.exception("probe crashed conversation=%s", conversation.genesys_id)
            record_error(conversation, token=token, now=now_of(clock), error=exc)


def route_untranscribable(*, token: str, conversations: list[Conversation], mode: str | None, now: datetime) -> list:
    """Conversations that can never get a transcript (transcription off for the org or their queue) go to the
    audio fallback at once; the others are returned."""
    remaining = []
    for conversation in conversations:
        reason = org.no_transcript_reason(conversation, mode=mode) if conversation.ended_at else None
        if reason is None:
            remaining.append(conversation)
        else:
            require_audio(conversation, token=token, now=now, reason=reason)
    return remaining


def search_listing(
    *, client, conversations: list[Conversation], org_settings: dict, now: datetime
) -> tuple[dict[str, list], set[int]]:
    """What one search call says: ({conversationId: [communicationId, ...]}, pks of the conversations it vouches
    for, i.e. whose absence from the listing means "no transcript yet")."""
    searchable = [c for c in conversations if c.started_at >= now - SEARCH_RETENTION]
    if org.content_search_off(org_settings):
        return {}, set()
    listed, vouches = run_search(client=client, conversations=searchable, now=now)
    return listed, ({c.pk for c in searchable} if vouches else set())


def run_search(*, client, conversations: list[Conversation], now: datetime) -> tuple[dict[str, list], bool]:
    """({conversationId: [communicationId, ...]}, whether the search vouches for what it did not list: it
    answered and has listed something lately). Never raises for a search failure, except a 401 or 403: those
    mean the OAuth client itself is wrong and say what to fix."""
    if not conversations:
        return {}, False
    if not org.search_health().usable(now=now):
        return {}, False
    org.prepare_search(client)
    try:
        listed = search_ready(client=client, conversations=conversations)
    except (*_FATAL, RateLimitedError):
        raise
    except PermissionDeniedError as exc:
        org.record_search_failure(now=now, error=exc)
        raise
    except GenesysError as exc:
        org.record_search_failure(now=now, error=exc)
        return {}, False
    org.learn_from_search(client, now=now)
    health = org.record_search_success(now=now, listed_any=bool(listed))
    return listed, health.trusted(now=now)


def search_ready(*, client, conversations: list[Conversation]) -> dict[str, list[str | None]]:
    """{conversationId: [communicationId, ...]} for our conversations that the transcript search lists.

    Hits for other conversations (a search that ignores the conversationId filter) are dropped."""
    wanted = {c.genesys_id for c in conversations}
    starts = [c.started_at for c in conversations]
    ready: dict[str, list[str | None]] = {}
    hits = client.search_transcripts(
        start=min(starts) - SEARCH_MARGIN,
        end=max(starts) + SEARCH_MARGIN,
        conversation_ids=sorted(wanted),
        max_retries=0,  # an accelerator: a failure means direct probes this round, not a retry storm
    )
    for seen, result in enumerate(hits, start=1):
        conversation_id = result.get("conversationId")
        if conversation_id in wanted:
            communications = ready.setdefault(conversation_id, [])
            if result.get("communicationId") not in communications:
                communications.append(result.get("communicationId"))
        if seen >= SEARCH_MAX_HITS_PER_ROUND:
            break
    return ready


def stored_legs_of(conversations: list[Conversation]) -> dict[int, set[str]]:
    """{conversation pk: communication ids with a stored part}, in one query for the round."""
    legs: dict[int, set[str]] = {}
    # Only Genesys' parts count: the vault's own transcript of an audio-only call is no leg Genesys delivered.
    rows = Transcript.objects.filter(
        conversation__in=[c.pk for c in conversations], source=Transcript.Source.GENESYS
    ).values_list("conversation_id", "communication_id")
    for conversation_id, communication_id in rows:
        legs.setdefault(conversation_id, set()).add(communication_id)
    return legs


def direct_probe_due(conversation: Conversation, *, now: datetime, vouched: bool) -> bool:
    """`vouched`: the search answered this round, has listed something lately and covers the conversation."""
    if not conversation.communication_ids:
        return False
    if not vouched:
        return direct_probe_due_without_search(conversation, now=now)
    return checkpoint_probe_due(conversation, now=now)


def direct_probe_legs(conversation: Conversation, *, stored_legs: set[str]) -> list[str]:
    """Which legs a direct probe asks: with parts stored, every leg still without one; otherwise one leg,
    the external party's on most probes and the others in turn on every OTHER_LEG_EVERY-th."""
    legs = list(conversation.communication_ids or [])
    if stored_legs:
        return [leg for leg in legs if leg not in stored_legs]
    if len(legs) <= 1:
        return legs
    turn = conversation.direct_probes
    if turn % OTHER_LEG_EVERY != OTHER_LEG_EVERY - 1:
        return legs[:1]
    others = legs[1:]
    return [others[(turn // OTHER_LEG_EVERY) % len(others)]]


def probe_one(
    *,
    client,
    clock: Clock,
    token: str,
    conversation: Conversation,
    listed: list | None,
    direct: bool,
    stored_legs: set[str],
) -> None:
    """Try to ingest one conversation's legs; then decide its state."""
    now = now_of(clock)
    retrying = conversation.error_count > 0  # a part failed mid-leg last time: its leg is asked again
    skip = set() if retrying else set(stored_legs)
    results: list[PartResult] = []

    def ingest(communication_id: str) -> None:
        results.extend(
            ingest_leg(
                client=client,
                clock=clock,
                conversation=conversation,
                token=token,
                communication_id=communication_id,
                available_at=now,
                skip_stored_parts=retrying,
            )
        )

    if listed:
        for communication_id in listed:
            candidates = [communication_id] if communication_id else conversation.communication_ids
            for candidate in candidates:
                if candidate in skip:
                    continue
                ingest(candidate)
                if results and results[-1].outcome is not Outcome.NOT_YET:
                    break
    elif direct:
        note_direct_probe(conversation, token=token, now=now)
        asked = direct_probe_legs(conversation, stored_legs=skip)
        for leg in asked:
            ingest(leg)
        first_part = not stored_legs and any(r.outcome is Outcome.STORED for r in results)
        if first_part and conversation.has_extra_legs:
            # The first part of a multi-leg call: the other legs may have their own transcripts, ask them now.
            for leg in conversation.communication_ids:
                if leg not in asked:
                    ingest(leg)
    decide(conversation, token=token, now=now, results=results, stored_before=stored_legs)


def decide(
    conversation: Conversation, *, token: str, now: datetime, results: list[PartResult], stored_before: set[str]
) -> None:
    """The conversation's state after this round's probes."""
    outcomes = {r.outcome for r in results}
    if Outcome.LEASE_LOST in outcomes:
        return
    stored_legs = set(stored_before) | {r.communication_id for r in results if r.outcome in USABLE}
    unusable = [r for r in results if r.reason]
    if stored_legs:
        parts = Transcript.objects.filter(conversation=conversation, source=Transcript.Source.GENESYS)
        first = parts.aggregate(available=Min("first_available_at"), stored=Min("stored_at"))
        legs = conversation.communication_ids or []
        missing = [leg for leg in legs if leg not in stored_legs]
        waiting = (
            conversation.has_extra_legs
            and missing
            and not part_wait_over(first_stored_at=first["stored"], now=now)
            and not deadline_passed(conversation, now=now)
        )
        if waiting:
            note = f"{len(legs) - len(missing)} of {len(legs)} legs have a transcript; looking for the others"
            awaiting_parts(conversation, token=token, now=now, available_at=first["available"], note=note)
            return
        note = "; ".join(f"part {r.recording_id or r.communication_id}: {r.reason}" for r in unusable)
        transcript_stored(conversation, token=token, now=now, available_at=first["available"], note=note)
        return
    if unusable:
        require_audio(conversation, token=token, now=now, reason=unusable[0].reason)
    elif deadline_passed(conversation, now=now):
        logger.info("transcript deadline passed conversation=%s", conversation.genesys_id)
        require_audio(conversation, token=token, now=now, reason=deadline_reason())
    else:
        transcript_not_yet(conversation, token=token, now=now, note="transcript not available yet")


def restrict_conversation(conversation: Conversation, *, token: str, now: datetime, error: PermissionDeniedError):
    logger.warning("conversation restricted conversation=%s: %s", conversation.genesys_id, safe_error(error))
    restrict(conversation, token=token, now=now, error=error)


def resolve_from_recordings(*, client, conversation: Conversation, token: str, now: datetime) -> None:
    """A row made by the process endpoint for a conversation discovery has not seen yet: the recording
    metadata gives its communication ids (Recording.sessionId) and times, without waiting for analytics."""
    try:
        metadata = client.list_recording_metadata(conversation.genesys_id)
    except _FATAL:
        raise
    except PermissionDeniedError as exc:
        restrict_conversation(conversation, token=token, now=now, error=exc)
        return
    except GenesysError as exc:
        logger.info("recording metadata unavailable conversation=%s: %s", conversation.genesys_id, safe_error(exc))
        return
    audio = [m for m in metadata if (m.get("media") or "audio") == "audio"]
    sessions = list(dict.fromkeys(m["sessionId"] for m in audio if m.get("sessionId")))
    if not sessions:
        return
    starts = [t for t in (parse_time(m.get("startTime")) for m in audio) if t]
    ends = [t for t in (parse_time(m.get("endTime")) for m in audio) if t]
    changes = {"communication_ids": sessions}
    if starts:
        changes["started_at"] = min(starts)
    ended_at = max(ends) if ends else now
    changes["ended_at"] = ended_at
    changes["deadline_at"] = transcript_deadline(ended_at=ended_at, now=now)
    promote_discovered(conversation, now=now, token=token, **changes)
