"""Discovery: find ended, recorded voice conversations in Genesys analytics and upsert them.

Re-discovery is harmless: existing rows only get their descriptive fields refreshed (when they
changed), never their pipeline progress. Once a conversation is archived, a change of its facts (times,
direction, queue, agent, divisions) is also recorded as a new version and archived (compliance/versions.py).

The incremental run asks for the conversations that ENDED since its watermark (newest end first, stopping
at the first older one), over an interval reaching DISCOVERY_MAX_CALL_HOURS further back: analytics only
lists conversations that started on a day the interval touches (genesys-api.md §7.1), so a long call that
crossed midnight UTC would otherwise fall between two windows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from genesys.client import parse_time
from genesys.clock import Clock
from genesys.participants import AGENT_PURPOSES, EXTERNAL_PURPOSES
from reviews.compliance.payload import facts, facts_of_row
from reviews.compliance.versions import record_fact_change
from reviews.models import Agent, Conversation, Division, Queue, SyncCursor
from reviews.pipeline.names import NameResolver
from reviews.pipeline.schedule import now_of, transcript_deadline
from reviews.pipeline.transitions import promote_discovered

logger = logging.getLogger(__name__)

DISCOVERY_CURSOR = "discovery"
# Session media that carry call audio: a voice callback's call back is recorded too (genesys-api.md §12).
CALL_MEDIA = ("voice", "callback")
# Conversation-level purposes whose participantName is a person we may show (never the customer's).
_NAMED_PURPOSES = ("agent", "user", "acd", "ivr", "workflow")


@dataclass(frozen=True)
class DiscoveryResult:
    found: int
    created: int
    start: datetime | None = None
    end: datetime | None = None

    def __str__(self) -> str:
        return f"found={self.found} created={self.created}"


def voice_sessions(participant: dict) -> list[dict]:
    return [s for s in participant.get("sessions") or [] if s.get("mediaType") in CALL_MEDIA]


def communication_ids_of(conversation: dict) -> list[str]:
    """Recorded voice/callback session ids, the external party's first (the STA communicationId candidates)."""
    customer, others = [], []
    for participant in conversation.get("participants") or []:
        target = customer if participant.get("purpose") in EXTERNAL_PURPOSES else others
        for session in voice_sessions(participant):
            session_id = session.get("sessionId")
            if session_id and session.get("recording") and session_id not in customer + others:
                target.append(session_id)
    return customer + others


def participants_summary(conversation: dict) -> list[dict]:
    summary = []
    for participant in conversation.get("participants") or []:
        purpose = participant.get("purpose") or ""
        summary.append(
            {
                "purpose": purpose,
                "userId": participant.get("userId") or "",
                # A customer's participantName is often their phone number or name: PII, never kept.
                "name": (participant.get("participantName") or "") if purpose in _NAMED_PURPOSES else "",
                "sessionIds": [s["sessionId"] for s in voice_sessions(participant) if s.get("sessionId")],
            }
        )
        if purpose in EXTERNAL_PURPOSES and (digest := caller_digest(participant)):
            summary[-1]["aniDigest"] = digest  # legal holds and subject requests (reviews/identifiers.py)
    return summary


def caller_digest(participant: dict) -> str:
    """Keyed digest of the caller's number (the session's ani); the number itself is PII and never kept."""
    from reviews.identifiers import IdentifierError, phone_digest

    for session in voice_sessions(participant):
        try:
            return phone_digest(session.get("ani") or "")
        except IdentifierError:  # no ani, or not a phone number (a SIP address, "anonymous")
            continue
    return ""


def first_queue_id(conversation: dict) -> str | None:
    for participant in conversation.get("participants") or []:
        for session in participant.get("sessions") or []:
            for segment in session.get("segments") or []:
                if segment.get("queueId"):
                    return segment["queueId"]
    return None


def agent_user_id(conversation: dict) -> str | None:
    """The first agent on the call (purpose agent or user, by where they appear, not by join time)."""
    for participant in conversation.get("participants") or []:
        if participant.get("purpose") in AGENT_PURPOSES and participant.get("userId"):
            return participant["userId"]
    return None


_NAME_KINDS = {Queue: "queue", Agent: "agent"}


class Lookups:
    """get_or_create for Queue/Agent/Division, cached for one discovery run; unnamed queues and agents are
    handed to the run's NameResolver (when there is one)."""

    def __init__(self, names: NameResolver | None = None) -> None:
        self._cache: dict[tuple[type, str], int] = {}
        self.names = names

    def pk(self, model, genesys_id: str | None) -> int | None:
        if not genesys_id:
            return None
        key = (model, genesys_id)
        if key not in self._cache:
            try:
                with transaction.atomic():
                    obj, _ = model.objects.get_or_create(genesys_id=genesys_id)
            except IntegrityError:  # created concurrently by another worker
                obj = model.objects.get(genesys_id=genesys_id)
            self._cache[key] = obj.pk
            if self.names is not None and model in _NAME_KINDS:
                self.names.note(_NAME_KINDS[model], genesys_id, obj.name)
        return self._cache[key]


def division_ids_of(conversation: dict) -> list[str]:
    return list(dict.fromkeys(d for d in conversation.get("divisionIds") or [] if isinstance(d, str) and d))


def descriptive_fields(conversation: dict, lookups: Lookups) -> dict:
    division_ids = division_ids_of(conversation)
    return {
        "started_at": parse_time(conversation.get("conversationStart")),
        "ended_at": parse_time(conversation.get("conversationEnd")),
        "direction": conversation.get("originatingDirection") or "",
        "queue_id": lookups.pk(Queue, first_queue_id(conversation)),
        "agent_id": lookups.pk(Agent, agent_user_id(conversation)),
        "division_id": lookups.pk(Division, division_ids[0] if division_ids else None),
        "communication_ids": communication_ids_of(conversation),
        "participants": participants_summary(conversation),
    }


def facts_of_analytics(conversation: dict) -> dict:
    """The facts versioned once a conversation is archived (reviews/compliance/versions.py), as analytics says."""
    return facts(
        started_at=parse_time(conversation.get("conversationStart")),
        ended_at=parse_time(conversation.get("conversationEnd")),
        direction=conversation.get("originatingDirection") or "",
        queue_id=first_queue_id(conversation),
        agent_id=agent_user_id(conversation),
        division_ids=division_ids_of(conversation),
    )


def first_attempt_at(*, ended_at: datetime | None, now: datetime) -> datetime:
    """Right away for old conversations; one poll interval after hang-up for ones that just ended,
    since a transcript is never ready the moment a call ends."""
    if ended_at is None:
        return now
    return max(now, ended_at + timedelta(seconds=settings.TRANSCRIPT_POLL_BASE_SECONDS))


def upsert_conversation(conversation: dict, *, now: datetime, lookups: Lookups | None = None) -> bool:
    """Create or refresh one row from an analytics conversation; True when it was created."""
    lookups = lookups or Lookups()
    genesys_id = conversation["conversationId"]
    fields = descriptive_fields(conversation, lookups)
    division_pks = [lookups.pk(Division, d) for d in division_ids_of(conversation)]
    existing = Conversation.objects.filter(genesys_id=genesys_id).first()
    if existing is None:
        ended_at = fields["ended_at"]
        deadline = transcript_deadline(ended_at=ended_at, now=now) if ended_at else None
        try:
            with transaction.atomic():
                created = Conversation.objects.create(
                    genesys_id=genesys_id,
                    state=Conversation.State.AWAITING_TRANSCRIPT,
                    discovered_at=now,
                    state_changed_at=now,
                    deadline_at=deadline,
                    next_attempt_at=first_attempt_at(ended_at=ended_at, now=now),
                    **fields,
                )
                created.divisions.set(division_pks)
            return True
        except IntegrityError:  # discovered concurrently by another worker: refresh theirs instead
            existing = Conversation.objects.get(genesys_id=genesys_id)
    changed = {name: value for name, value in fields.items() if getattr(existing, name) != value}
    divisions_changed = set(existing.divisions.values_list("pk", flat=True)) != set(division_pks)
    if changed or divisions_changed:
        with transaction.atomic():
            # The facts as the vault held them, read before the update: the archive may hold exactly these.
            before = facts_of_row(existing)
            if changed:
                Conversation.objects.filter(pk=existing.pk).update(**changed)
            if divisions_changed:
                existing.divisions.set(division_pks)
            # An archived conversation never changes silently: a new version, delivered like the rest.
            record_fact_change(existing, before=before, after=facts_of_analytics(conversation), now=now)
    if existing.state == Conversation.State.DISCOVERED and fields["ended_at"]:
        # A row made by the process endpoint before analytics knew it: now it can be polled properly.
        promote_discovered(existing, now=now, deadline_at=transcript_deadline(ended_at=fields["ended_at"], now=now))
    return False


def discover(*, client, start: datetime, end: datetime, now: datetime) -> DiscoveryResult:
    """Upsert every ended, recorded voice conversation Genesys lists for [start, end)."""
    result = _upsert_all(client, client.query_conversation_details(start=start, end=end), now=now)
    logger.info("discovery %s..%s found=%d created=%d", start.isoformat(), end.isoformat(), *result)
    return DiscoveryResult(found=result[0], created=result[1], start=start, end=end)


def _upsert_all(client, conversations, *, now: datetime) -> tuple[int, int]:
    found = created = 0
    names = NameResolver(client)
    lookups = Lookups(names)
    for conversation in conversations:
        if not conversation.get("conversationId") or not conversation.get("conversationEnd"):
            continue
        found += 1
        created += upsert_conversation(conversation, now=now, lookups=lookups)
        names.flush(full_only=True)  # a full look-up's worth (100 ids) goes out as soon as it is there
    names.flush()  # then the rest: about one call per kind per run, none once every name is known
    return found, created


def discover_incremental(*, client, clock: Clock) -> DiscoveryResult:
    """Discover the conversations that ended since the stored watermark (minus an overlap for late analytics
    data), however long ago they started (up to DISCOVERY_MAX_CALL_HOURS before the window).

    The watermark moves only after a complete run, so a failed page is simply retried next time.
    """
    now = now_of(clock)
    cursor, _ = SyncCursor.objects.get_or_create(name=DISCOVERY_CURSOR)
    if cursor.watermark is None:
        ended_after = now - timedelta(hours=settings.DISCOVERY_INITIAL_LOOKBACK_HOURS)
    else:
        ended_after = cursor.watermark - timedelta(minutes=settings.DISCOVERY_OVERLAP_MINUTES)
    interval_start = ended_after - timedelta(hours=settings.DISCOVERY_MAX_CALL_HOURS)
    conversations = client.recently_ended_conversations(interval_start=interval_start, ended_after=ended_after, end=now)
    found, created = _upsert_all(client, conversations, now=now)
    logger.info("discovery ended after %s found=%d created=%d", ended_after.isoformat(), found, created)
    # Never move the watermark backwards when two discovery runs overlap.
    SyncCursor.objects.filter(Q(watermark__isnull=True) | Q(watermark__lt=now), pk=cursor.pk).update(
        watermark=now,
        last_run_at=now,
        last_result={"found": found, "created": created, "start": ended_after.isoformat()},
    )
    return DiscoveryResult(found=found, created=created, start=ended_after, end=now)
