"""A round never outlives its lease: once half the lease has passed it hands the rest back, still due.

Found by tests/scaleout/test_two_clusters.py: with a round longer than PIPELINE_LEASE_SECONDS, other
workers re-claimed the expired rows while the first worker was still going through them, and both
called transcripturls and downloaded the same documents (2.2 transcripturls calls per transcript).
"""

from __future__ import annotations

from django.conf import settings

from reviews.models import Conversation
from reviews.pipeline import advance_due, discover
from reviews.pipeline.availability import LEASE_BUDGET_SHARE
from tests.pipeline.support import NOW, WINDOW_END, WINDOW_START


def test_it_hands_back_unreached_conversations_before_the_lease_runs_out(world):
    discover(client=world.client, start=WINDOW_START, end=WINDOW_END, now=NOW)
    step = settings.PIPELINE_LEASE_SECONDS / 10
    urls_of = world.client.get_transcript_urls
    worked_after_expiry = []

    def slow_transcript_urls(conversation_id, communication_id):
        # Each document takes a tenth of the lease to fetch and store.
        row = Conversation.objects.get(genesys_id=conversation_id)
        if row.lease_expires_at is not None and row.lease_expires_at.timestamp() <= world.clock.time():
            worked_after_expiry.append(conversation_id)
        world.clock.advance(step)
        return urls_of(conversation_id, communication_id)

    world.client.get_transcript_urls = slow_transcript_urls
    claimed = advance_due(client=world.client, clock=world.clock, limit=100)

    stored = Conversation.objects.filter(state=Conversation.State.STORED).count()
    assert claimed == len(world.conversations())
    assert 0 < stored <= settings.PIPELINE_LEASE_SECONDS * LEASE_BUDGET_SHARE / step + 1
    assert worked_after_expiry == []
    # Everything not reached is free and still due, with no attempt counted: the next round takes it.
    assert not Conversation.objects.exclude(lease_token="").exists()
    untouched = Conversation.objects.filter(state=Conversation.State.AWAITING_TRANSCRIPT, attempts=0)
    assert untouched.count() > len(world.conversations()) / 2
