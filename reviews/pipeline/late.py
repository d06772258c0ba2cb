"""Late Genesys transcripts: an audio-only call keeps being asked for its transcript, sparsely, for a while.

Genesys sometimes writes a transcript after the vault gave up waiting (a backlog, a reprocessed recording). An
audio_fallback conversation is checked again at growing intervals for LATE_TRANSCRIPT_WINDOW_HOURS
(schedule.next_late_transcript_check, held in next_attempt_at), with the same probes as the availability rounds:
one transcript search call for every due call, and a direct `transcripturls` probe for a call the search cannot
vouch for. A transcript found is ingested as usual (ingest.ingest_leg); its store removes the vault's own
speech-to-text transcript in the same transaction, and the call becomes `stored`. Errors never move the call off
the audio path: it is checked again at its next time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Min

from genesys.clock import Clock
from genesys.errors import AuthenticationError, GenesysError, RateLimitedError
from reviews.models import Conversation, Transcript
from reviews.pipeline import org
from reviews.pipeline.availability import direct_probe_legs, search_listing
from reviews.pipeline.ingest import USABLE, Outcome, PartResult, ingest_leg
from reviews.pipeline.leases import claim_late_transcript_checks, defer_all, release_all
from reviews.pipeline.schedule import now_of
from reviews.pipeline.transitions import (
    late_transcript_not_yet,
    late_transcript_unusable,
    note_direct_probe,
    safe_error,
    transcript_stored,
)

logger = logging.getLogger(__name__)
LATE_CHECK_BATCH = 100  # one transcript search call covers up to 100 conversations


def check_late_transcripts(*, client, clock: Clock, limit: int = LATE_CHECK_BATCH) -> int:
    """Check the audio-only calls whose late-transcript check is due; returns how many were checked."""
    now = now_of(clock)
    token, conversations = claim_late_transcript_checks(now=now, limit=limit)
    if not conversations:
        return 0
    try:
        org_settings = org.transcription_settings(client, now=now)
        listed, vouched = search_listing(client=client, conversations=conversations, org_settings=org_settings, now=now)
        for conversation in conversations:
            check_one(
                client=client,
                clock=clock,
                token=token,
                conversation=conversation,
                listed=listed.get(conversation.genesys_id),
                vouched=conversation.pk in vouched,
            )
    except RateLimitedError as exc:
        defer_all(conversations, token=token, until=now_of(clock) + timedelta(seconds=max(exc.retry_after, 1.0)))
        return 0
    finally:
        release_all(conversations, token=token)
    return len(conversations)


def check_one(*, client, clock: Clock, token: str, conversation: Conversation, listed: list | None, vouched: bool):
    if listed:
        legs = [leg for leg in listed if leg] or list(conversation.communication_ids or [])
    elif vouched:
        legs = []  # the search answered and does not list it: nothing yet, no probe needed
    else:
        note_direct_probe(conversation, token=token, now=now_of(clock))
        legs = direct_probe_legs(conversation, stored_legs=set())
    results: list[PartResult] = []
    try:
        for leg in legs:
            results.extend(
                ingest_leg(
                    client=client,
                    clock=clock,
                    conversation=conversation,
                    token=token,
                    communication_id=leg,
                    available_at=now_of(clock),
                )
            )
            if any(r.outcome in USABLE for r in results):
                break
    except (AuthenticationError, RateLimitedError):
        raise
    except GenesysError as exc:
        logger.warning("late transcript check failed conversation=%s: %s", conversation.genesys_id, safe_error(exc))
        late_transcript_not_yet(conversation, token=token, now=now_of(clock), note=safe_error(exc))
        return
    decide_late(conversation, token=token, now=now_of(clock), results=results)


def decide_late(conversation: Conversation, *, token: str, now: datetime, results: list[PartResult]) -> None:
    outcomes = {r.outcome for r in results}
    if Outcome.LEASE_LOST in outcomes:
        return
    if outcomes & USABLE:
        first = Transcript.objects.filter(conversation=conversation, source=Transcript.Source.GENESYS).aggregate(
            available=Min("first_available_at")
        )
        logger.info("late Genesys transcript stored conversation=%s", conversation.genesys_id)
        transcript_stored(conversation, token=token, now=now, available_at=first["available"])
        return
    unusable = [r for r in results if r.reason]
    if unusable:
        late_transcript_unusable(conversation, token=token, now=now, reason=unusable[0].reason)
        return
    late_transcript_not_yet(conversation, token=token, now=now)
