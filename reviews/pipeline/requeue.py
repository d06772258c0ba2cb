"""Putting a conversation (back) in the queue: the process endpoint, the operations page's retry, reconcile."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from genesys.clock import SYSTEM_CLOCK, Clock
from reviews.models import Conversation
from reviews.pipeline.schedule import now_of
from reviews.pipeline.transitions import REQUEUE_SOURCES, make_due, requeue

logger = logging.getLogger(__name__)
State = Conversation.State

ADVANCE_CONVERSATION_TASK = "reviews.tasks.advance_conversation_task"
MAX_ID_LENGTH = Conversation._meta.get_field("genesys_id").max_length


def retry_conversation(conversation: Conversation, *, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Start a failed, restricted, archived or audio-less conversation over: awaiting_transcript, due now.
    False when it is in none of those states (or a worker holds it)."""
    updated = requeue(conversation, now=now_of(clock))
    if updated:
        conversation.refresh_from_db()
        logger.info("conversation re-queued conversation=%s", conversation.genesys_id)
    return updated


def retry_now(conversation: Conversation, *, clock: Clock = SYSTEM_CLOCK) -> str | None:
    """The operations page's Retry: start the conversation over (retry_conversation) and queue its advance task,
    so a worker takes it up at once instead of waiting for a scheduled round.

    Returns the django-q task id; "" when the row was started over but the broker refused the task (the advance
    schedule then takes it up, as it is due now); None when nothing changed (not in a state a retry starts over,
    or a worker holds it), and then nothing is queued."""
    from django_q.tasks import async_task

    if not retry_conversation(conversation, clock=clock):
        return None
    try:
        return async_task(ADVANCE_CONVERSATION_TASK, conversation.genesys_id) or ""
    except Exception as exc:  # the broker (Redis, the ORM queue) is down: the row is due now all the same
        logger.warning("retry of conversation=%s not queued: %s", conversation.genesys_id, type(exc).__name__)
        return ""


def queue_now(genesys_id: str, *, clock: Clock = SYSTEM_CLOCK) -> Conversation:
    """The conversation's row, due now: created as `discovered` when unknown (the worker then resolves its
    communication ids from the recording metadata), a failed one reset, an active one made due at once."""
    now = now_of(clock)
    try:
        with transaction.atomic():
            conversation, created = Conversation.objects.get_or_create(
                genesys_id=genesys_id,
                defaults={
                    "state": State.DISCOVERED,
                    "started_at": now,
                    "discovered_at": now,
                    "state_changed_at": now,
                    "next_attempt_at": now,
                },
            )
    except IntegrityError:
        conversation, created = Conversation.objects.get(genesys_id=genesys_id), False
    if created:
        return conversation
    if conversation.state in REQUEUE_SOURCES:
        retry_conversation(conversation, clock=clock)
    elif not conversation.is_final:
        make_due(conversation, now=now)
    conversation.refresh_from_db()
    return conversation


def enqueue_conversation(genesys_id: str) -> str:
    """Queue a conversation for processing now; returns the django-q task id of its advance task."""
    from django_q.tasks import async_task

    genesys_id = (genesys_id or "").strip()
    if not genesys_id or len(genesys_id) > MAX_ID_LENGTH:
        raise ValueError(f"a Genesys conversation id is 1 to {MAX_ID_LENGTH} characters")
    queue_now(genesys_id)
    return async_task(ADVANCE_CONVERSATION_TASK, genesys_id)
