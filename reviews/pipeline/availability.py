"""Availability polling: one round claims the due conversations and moves each one step forward.

Nothing here sleeps. A conversation whose transcript is not ready records the probe and its next
attempt time, and the round ends; the scheduler (advance_task) or the foreground driver comes back.

API budget: every due conversation (up to 100) is probed with ONE transcript search call; only the
conversations it lists get a transcripturls call, which returns the URL and the recording ids at once.
When the search has listed nothing for SEARCH_HEALTH_WINDOW (content search disabled in the org),
conversations are also probed directly (transcripturls on one leg per probe, customer leg first) on
every DIRECT_PROBE_EVERY-th attempt; conversations older than the search's 60-day retention are only
probed directly.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings

from genesys.clock import Clock
from genesys.errors import AuthenticationError, GenesysError, PermissionDeniedError
from reviews.models import Conversation, SyncCursor
from reviews.pipeline.fallback import fetch_audio, poll_batches
from reviews.pipeline.ingest import IngestResult, Outcome, ingest_conversation
from reviews.pipeline.leases import claim, claim_one, release_all
from reviews.pipeline.rows import (
    deadline_passed,
    deadline_reason,
    needs_audio,
    now_of,
    record_failure,
    release,
    require_audio,
    reschedule_not_yet,
    safe_error,
    transcript_deadline,
)

logger = logging.getLogger(__name__)
State = Conversation.State

# Without a working search, every other probe also asks transcripturl directly (one leg each time).
DIRECT_PROBE_EVERY = 2
SEARCH_MARGIN = timedelta(seconds=1)
# Transcript content is searchable for 60 days; older conversations are only ever probed directly.
SEARCH_RETENTION = timedelta(days=60)
SEARCH_CURSOR = "transcript-search"
SEARCH_HEALTH_WINDOW = timedelta(hours=24)
_FATAL = (AuthenticationError, PermissionDeniedError)
# A round stops starting conversations once this share of PIPELINE_LEASE_SECONDS has passed since its
# claim. Leases are not renewed, so a longer round would work rows whose lease expired and that another
# worker has claimed again: both would call transcripturls and download the document (one of them in vain).
LEASE_BUDGET_SHARE = 0.5


def advance_due(*, client, clock: Clock, limit: int = 100, stop_at: float | None = None) -> int:
    """One round: poll due batch downloads, claim up to `limit` due conversations and advance them.

    `stop_at` (clock.monotonic() seconds) bounds the round for a task timeout, and the round also ends
    within LEASE_BUDGET_SHARE of the lease: conversations not reached by then are handed back untouched
    and stay due. Returns how many conversations and batch jobs were worked on (0 means nothing was due).
    """
    worked = poll_batches(client=client, clock=clock)
    token, conversations = claim(now=now_of(clock), limit=limit)
    if conversations:
        lease_stop = clock.monotonic() + settings.PIPELINE_LEASE_SECONDS * LEASE_BUDGET_SHARE
        stop_at = lease_stop if stop_at is None else min(stop_at, lease_stop)
        advance_claimed(client=client, clock=clock, token=token, conversations=conversations, stop_at=stop_at)
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
) -> None:
    try:
        audio = [c for c in conversations if needs_audio(c)]
        polling = [c for c in conversations if not needs_audio(c)]
        probe(client=client, clock=clock, token=token, conversations=polling, stop_at=stop_at)
        if audio:
            fetch_audio(client=client, clock=clock, token=token, conversations=audio)
    finally:
        # Rows still leased by this round (stored ones, or any left by an error) are handed back.
        release_all(conversations, token=token)


def probe(*, client, clock: Clock, token: str, conversations: list[Conversation], stop_at: float | None = None) -> None:
    """Probe availability for conversations awaiting a transcript, and ingest the ready ones."""
    if not conversations:
        return
    now = now_of(clock)
    for conversation in conversations:
        if not conversation.communication_ids and conversation.state == State.DISCOVERED:
            resolve_from_recordings(client=client, conversation=conversation, now=now)
    searchable = [c for c in conversations if c.started_at >= now - SEARCH_RETENTION]
    try:
        ready = search_ready(client=client, conversations=searchable, now=now) if searchable else {}
    except _FATAL:
        raise
    except GenesysError as exc:
        logger.warning("transcript search failed for %d conversations: %s", len(conversations), safe_error(exc))
        for conversation in conversations:
            record_failure(conversation, token=token, now=now, error=exc)
        return
    search_trusted = search_is_healthy(now=now)
    for conversation in conversations:
        if stop_at is not None and clock.monotonic() >= stop_at:
            break  # out of time: the rest are released by advance_claimed and stay due
        direct = conversation not in searchable or direct_probe_due(conversation, search_trusted=search_trusted)
        try:
            probe_one(
                client=client,
                clock=clock,
                token=token,
                conversation=conversation,
                listed=ready.get(conversation.genesys_id),
                direct=direct,
            )
        except _FATAL:
            raise
        except GenesysError as exc:
            logger.warning("probe failed conversation=%s: %s", conversation.genesys_id, safe_error(exc))
            record_failure(conversation, token=token, now=now_of(clock), error=exc)
        except Exception as exc:
            # A bug must not wedge the row under our lease; it is recorded, counted and retried with backoff.
            logger.exception("probe crashed conversation=%s", conversation.genesys_id)
            record_failure(conversation, token=token, now=now_of(clock), error=exc)


def search_ready(*, client, conversations: list[Conversation], now: datetime) -> dict[str, list[str | None]]:
    """{conversationId: [communicationId, ...]} for the conversations whose transcript search lists them."""
    starts = [c.started_at for c in conversations]
    ready: dict[str, list[str | None]] = {}
    for result in client.search_transcripts(
        start=min(starts) - SEARCH_MARGIN,
        end=max(starts) + SEARCH_MARGIN,
        conversation_ids=[c.genesys_id for c in conversations],
    ):
        communications = ready.setdefault(result.get("conversationId"), [])
        if result.get("communicationId") not in communications:
            communications.append(result.get("communicationId"))
    if ready:
        SyncCursor.objects.update_or_create(name=SEARCH_CURSOR, defaults={"watermark": now, "last_run_at": now})
    return ready


def search_is_healthy(*, now: datetime) -> bool:
    """Whether the transcript search listed anything lately. When it has not (content search disabled in
    the org, or a quiet spell), conversations are also probed with transcripturl directly."""
    last_hit = SyncCursor.objects.filter(name=SEARCH_CURSOR).values_list("watermark", flat=True).first()
    return last_hit is not None and last_hit >= now - SEARCH_HEALTH_WINDOW


def direct_probe_due(conversation: Conversation, *, search_trusted: bool) -> bool:
    attempts = conversation.attempts
    if search_trusted or not conversation.communication_ids:
        return False
    return attempts >= DIRECT_PROBE_EVERY and attempts % DIRECT_PROBE_EVERY == 0


def direct_probe_leg(conversation: Conversation) -> str:
    """One leg per direct probe, customer leg first, then the others in turn."""
    legs = conversation.communication_ids
    return legs[(conversation.attempts // DIRECT_PROBE_EVERY) % len(legs)]


def probe_one(
    *, client, clock: Clock, token: str, conversation: Conversation, listed: list | None, direct: bool
) -> None:
    """Try to ingest one conversation; otherwise reschedule it or send it to the audio fallback."""
    now = now_of(clock)
    results: list[IngestResult] = []
    if listed:
        for communication_id in listed:
            candidates = [communication_id] if communication_id else conversation.communication_ids
            for candidate in candidates:
                result = ingest_conversation(
                    client=client,
                    clock=clock,
                    conversation=conversation,
                    token=token,
                    communication_id=candidate,
                    available_at=now,
                )
                results.append(result)
                if result.outcome is not Outcome.NOT_YET:
                    break
    elif direct and conversation.communication_ids:
        leg = direct_probe_leg(conversation)
        urls = client.get_transcript_urls(conversation.genesys_id, leg)
        if urls:
            results.append(
                ingest_conversation(
                    client=client,
                    clock=clock,
                    conversation=conversation,
                    token=token,
                    communication_id=leg,
                    urls=urls,
                    available_at=now,
                )
            )
    outcomes = {r.outcome for r in results}
    if outcomes & {Outcome.STORED, Outcome.UNCHANGED}:
        release(conversation, token=token)
        return
    if Outcome.LEASE_LOST in outcomes:
        return
    reasons = [r.reason for r in results if r.reason]
    if reasons:
        require_audio(conversation, token=token, now=now, reason=reasons[0])
    elif deadline_passed(conversation, now=now):
        logger.info("transcript deadline passed conversation=%s", conversation.genesys_id)
        require_audio(conversation, token=token, now=now, reason=deadline_reason())
    else:
        reschedule_not_yet(conversation, token=token, now=now, note="transcript not available yet")


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def resolve_from_recordings(*, client, conversation: Conversation, now: datetime) -> None:
    """A row made by the process endpoint for a conversation discovery has not seen yet: the recording
    metadata gives its communication ids (Recording.sessionId) and times, without waiting for analytics."""
    try:
        metadata = client.list_recording_metadata(conversation.genesys_id)
    except _FATAL:
        raise
    except GenesysError as exc:
        logger.info("recording metadata unavailable conversation=%s: %s", conversation.genesys_id, safe_error(exc))
        return
    sessions = list(dict.fromkeys(m["sessionId"] for m in metadata if m.get("sessionId")))
    if not sessions:
        return
    starts = [t for t in (_parse_time(m.get("startTime")) for m in metadata) if t]
    ends = [t for t in (_parse_time(m.get("endTime")) for m in metadata) if t]
    changes = {"communication_ids": sessions, "state": State.AWAITING_TRANSCRIPT}
    if starts:
        changes["started_at"] = min(starts)
    ended_at = max(ends) if ends else now
    changes["ended_at"] = ended_at
    changes["deadline_at"] = transcript_deadline(ended_at=ended_at, now=now)
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    for field, value in changes.items():
        setattr(conversation, field, value)
