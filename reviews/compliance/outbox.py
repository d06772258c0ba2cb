"""Transactional outbox: the compliance rows are written in the transcript's own transaction.

A relay (relay.py) delivers them later, at least once, with the stable idempotency key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min

from genesys.clock import SYSTEM_CLOCK, Clock
from reviews.compliance.payload import build_audio_payload, build_payload, build_version_payload, facts_of_row
from reviews.models import Conversation, OutboxMessage

State = OutboxMessage.State
Kind = OutboxMessage.Kind


def clock_now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.time(), tz=UTC)


def record_transcript_version(transcript, *, clock: Clock = SYSTEM_CLOCK) -> list[OutboxMessage]:
    """One outbox row per configured sink for this transcript version; re-running changes nothing.

    The payload is built once and frozen in the row, so every retry sends byte-identical content.
    """
    now = clock_now(clock)
    # Due at once. Never later than stored_at, so a pipeline run on an injected clock
    # (tests, backfills) still finds its rows due.
    return _enqueue(
        key=transcript.version_key,
        payload=build_payload(transcript, synced_at=now),
        now=now,
        due_at=min(now, transcript.stored_at or now),
        kind=Kind.TRANSCRIPT,
        transcript=transcript,
        conversation=transcript.conversation,
    )


def record_audio_archive(conversation, *, now: datetime) -> list[OutboxMessage]:
    """One outbox row per sink for every recording kept of an audio-only call; re-running changes nothing.

    Called when the call ends in audio fallback (reviews/pipeline/fallback.py), before the state moves, so a
    crash in between only means the worker that takes the conversation over finds the rows already there.
    """
    messages = []
    with transaction.atomic():
        for recording in conversation.recordings.select_related("conversation").order_by("recording_id"):
            messages += _enqueue(
                key=recording.version_key,
                payload=build_audio_payload(recording, facts=facts_of_row(conversation), synced_at=now),
                now=now,
                due_at=min(now, recording.stored_at or now),
                kind=Kind.AUDIO,
                recording=recording,
                conversation=conversation,
            )
    return messages


def archive_missing_audio(*, now: datetime, limit: int = 500) -> int:
    """Archive the audio-only calls that ended before the pipeline archived recordings (vaults older than
    migration 0008); the relay task runs it, so those calls reach the archive without an operator. Returns
    how many conversations it archived."""
    missing = (
        Conversation.objects.filter(state=Conversation.State.AUDIO_FALLBACK, recordings__isnull=False)
        .exclude(outbox_messages__kind=Kind.AUDIO)
        .distinct()
        .order_by("pk")[:limit]
    )
    conversations = list(missing)
    for conversation in conversations:
        record_audio_archive(conversation, now=now)
    return len(conversations)


def record_conversation_version(version, *, previous, partition_start: str, now: datetime) -> list[OutboxMessage]:
    """One outbox row per sink for a new version of a conversation's facts (reviews/compliance/versions.py)."""
    return _enqueue(
        key=version.version_key,
        payload=build_version_payload(version, previous=previous, partition_start=partition_start, synced_at=now),
        now=now,
        due_at=now,
        kind=Kind.VERSION,
        version=version,
        conversation=version.conversation,
    )


def _enqueue(*, key: str, payload: dict, now: datetime, due_at: datetime, **item) -> list[OutboxMessage]:
    """get_or_create per sink on (sink, key): the unique constraint makes a second call a no-op."""
    messages = []
    with transaction.atomic():
        for sink in settings.COMPLIANCE_SINKS:
            message, _created = OutboxMessage.objects.get_or_create(
                sink=sink,
                idempotency_key=key,
                defaults={**item, "payload": payload, "next_attempt_at": due_at, "created_at": now},
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
