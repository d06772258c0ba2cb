from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reviews.models import Conversation
from reviews.pipeline.discovery import upsert_conversation
from reviews.pipeline.schedule import transcript_deadline

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def analytics_conversation(*, ended: datetime) -> dict:
    return {
        "conversationId": "0f1e2d3c-0000-4000-8000-000000000001",
        "conversationStart": (ended - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "conversationEnd": ended.isoformat().replace("+00:00", "Z"),
        "originatingDirection": "inbound",
        "participants": [
            {
                "purpose": "customer",
                "sessions": [
                    {"sessionId": "c0ffee00-0000-4000-8000-000000000002", "mediaType": "voice", "recording": True}
                ],
            }
        ],
    }


def test_it_counts_the_deadline_from_the_call_end_for_fresh_calls(settings):
    settings.TRANSCRIPT_DEADLINE_SECONDS = 3600
    ended = NOW - timedelta(minutes=2)

    assert transcript_deadline(ended_at=ended, now=NOW) == NOW + timedelta(hours=1)
    assert transcript_deadline(ended_at=NOW + timedelta(minutes=1), now=NOW) == NOW + timedelta(hours=1, minutes=1)


@pytest.mark.django_db
def test_it_gives_a_backfilled_call_the_whole_deadline_from_discovery(settings):
    settings.TRANSCRIPT_DEADLINE_SECONDS = 48 * 3600
    three_days_ago = NOW - timedelta(days=3)

    upsert_conversation(analytics_conversation(ended=three_days_ago), now=NOW)

    conversation = Conversation.objects.get()
    assert conversation.deadline_at == NOW + timedelta(hours=48)
    assert conversation.state == Conversation.State.AWAITING_TRANSCRIPT
