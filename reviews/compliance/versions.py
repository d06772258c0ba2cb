"""Versions of an archived conversation's Genesys facts: a later discovery never silently contradicts the archive.

Discovery refreshes the Conversation row (the dashboard shows what Genesys says now). Once a conversation has
been archived (it has outbox rows), a change of its facts (start/end, direction, queue, agent, divisions) is
recorded as a new ConversationVersion in the same transaction as the row update, and delivered through the
outbox like everything else archived. The first change also records version 1: the facts the vault held when it
archived the conversation, i.e. the row before this update. Rediscovery with the same facts writes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from reviews.compliance.outbox import record_conversation_version
from reviews.compliance.payload import FACT_NAMES, facts_sha256
from reviews.models import Conversation, ConversationVersion, OutboxMessage

logger = logging.getLogger(__name__)


def is_archived(conversation: Conversation) -> bool:
    return OutboxMessage.objects.filter(conversation=conversation).exists()


def record_fact_change(
    conversation: Conversation, *, before: dict, after: dict, now: datetime
) -> list[ConversationVersion]:
    """The versions written (and queued for every sink) because the facts went from `before` to `after`.

    Call it inside the transaction that updates the row, so the row never shows facts the archive is not
    about to receive.
    """
    if before == after or not is_archived(conversation):
        return []
    with transaction.atomic():
        # Serialises two discoveries of one conversation on PostgreSQL (SQLite serialises writers anyway);
        # the unique (conversation, number) constraint is the backstop.
        Conversation.objects.select_for_update().filter(pk=conversation.pk).values_list("pk").first()
        versions = list(conversation.versions.order_by("number"))
        created = []
        if not versions:
            versions.append(_create(conversation, facts=before, previous=None, now=now))
            created.append(versions[-1])
        if facts_sha256(after) != versions[-1].facts_sha256:
            versions.append(_create(conversation, facts=after, previous=versions[-1], now=now))
            created.append(versions[-1])
        partition_start = versions[0].facts["conversationStart"]
        for version in created:
            previous = versions[version.number - 2] if version.number > 1 else None
            record_conversation_version(version, previous=previous, partition_start=partition_start, now=now)
    for version in created:
        logger.info(
            "conversation facts version %s recorded conversation=%s changed=%s",
            version.number,
            conversation.genesys_id,
            ",".join(version.changed_fields),
            extra={"conversation_id": conversation.genesys_id},
        )
    return created


def _create(conversation, *, facts: dict, previous: ConversationVersion | None, now: datetime) -> ConversationVersion:
    changed = [name for name in FACT_NAMES if previous is not None and previous.facts.get(name) != facts.get(name)]
    return ConversationVersion.objects.create(
        conversation=conversation,
        number=previous.number + 1 if previous else 1,
        facts=facts,
        facts_sha256=facts_sha256(facts),
        changed_fields=changed,
        recorded_at=now,
    )
