from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User

from reviews.models import AccessScope, Agent, Conversation, Division, Queue, Transcript, Utterance

START = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)


@pytest.fixture
def make_conversation():
    """A stored conversation with one transcript; each utterance is a text or a dict of field overrides."""
    numbers = itertools.count(1)

    def make(
        *utterances,
        queue: str | None = "queue-a",
        agent: str | None = "agent-a",
        division: str | None = None,
        queue_division: str | None = None,
        started_at: datetime | None = None,
        review_status: str = Conversation.ReviewStatus.NEW,
        redaction_status: str = Transcript.RedactionStatus.VERIFIED,
        genesys_id: str | None = None,
    ) -> Conversation:
        number = next(numbers)
        queue_row = None
        if queue:
            queue_row, _ = Queue.objects.get_or_create(genesys_id=queue, defaults={"name": queue.title()})
            if queue_division:
                queue_row.division, _ = Division.objects.get_or_create(genesys_id=queue_division)
                queue_row.save()
        conversation = Conversation.objects.create(
            genesys_id=genesys_id or f"c0ffee00-0000-4000-8000-{number:012d}",
            state=Conversation.State.STORED,
            started_at=started_at or START + timedelta(hours=number),
            ended_at=(started_at or START + timedelta(hours=number)) + timedelta(minutes=5),
            queue=queue_row,
            agent=Agent.objects.get_or_create(genesys_id=agent)[0] if agent else None,
            division=Division.objects.get_or_create(genesys_id=division)[0] if division else None,
            review_status=review_status,
        )
        transcript = Transcript.objects.create(
            conversation=conversation,
            communication_id=f"5e550000-0000-4000-8000-{number:012d}",
            transcript_id=f"7a000000-0000-4000-8000-{number:012d}",
            sha256="0" * 64,
            size_bytes=100,
            raw_path=f"transcripts/{number}.json",
            redaction_status=redaction_status,
        )
        for index, item in enumerate(utterances):
            fields = {"text": item} if isinstance(item, str) else dict(item)
            fields.setdefault("speaker", "external" if index % 2 else "internal")
            fields.setdefault("confidence", 0.9)
            Utterance.objects.create(
                transcript=transcript,
                conversation=conversation,
                index=index,
                start_ms=index * 1000,
                end_ms=index * 1000 + 900,
                **fields,
            )
        return conversation

    return make


@pytest.fixture
def make_user():
    """A user in `groups` with an AccessScope over Genesys queue/division ids (created on demand)."""
    numbers = itertools.count(1)

    def make(*, groups=(), queues=(), divisions=(), staff=False, scope=True) -> User:
        user = User.objects.create_user(f"user{next(numbers)}", password="pw", is_staff=staff)
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        if scope:
            access_scope = AccessScope.objects.create(user=user)
            access_scope.queues.set(Queue.objects.get_or_create(genesys_id=q)[0] for q in queues)
            access_scope.divisions.set(Division.objects.get_or_create(genesys_id=d)[0] for d in divisions)
        return user

    return make


@pytest.fixture
def staff(make_user):
    return make_user(staff=True)
