from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from genesys.emulator.variants import get_variant
from reviews.models import Conversation
from reviews.pipeline import discover, discover_incremental
from tests.pipeline.support import running_world

pytestmark = pytest.mark.django_db

EVENING = datetime(2026, 5, 3, 21, 0, tzinfo=UTC)
MORNING = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)


def midnight_variant():
    """Long calls across midnight UTC, under the §7.1 reading of the interval: analytics lists a call only when
    it started on a day the interval touches."""
    variant = get_variant("midnight_calls")
    behaviour = replace(variant.behaviour, analytics_interval_semantics="active_day_touched")
    return replace(variant, behaviour=behaviour)


def crossers(dataset) -> set[str]:
    """Calls that crossed midnight and lasted longer than any discovery overlap."""
    return {
        c.conversation_id
        for c in dataset.conversations
        if c.start.date() != c.end.date() and c.end - c.start > timedelta(hours=2)
    }


def test_it_finds_a_call_that_crossed_midnight_and_outlasted_the_overlap(settings):
    settings.DISCOVERY_OVERLAP_MINUTES = 30
    with running_world(
        conversations=30, large=0, malformed=0, variant=midnight_variant(), start=EVENING, end=MORNING, now=EVENING
    ) as world:
        long_calls = crossers(world.dataset)
        assert len(long_calls) == 3
        queries = []
        while world.clock.time() < (MORNING + timedelta(hours=1)).timestamp():
            before = world.emulator.stats.by_endpoint["analytics.details.query"]
            discover_incremental(client=world.client, clock=world.clock)
            queries.append(world.emulator.stats.by_endpoint["analytics.details.query"] - before)
            world.clock.advance(5 * 60)

        found = set(Conversation.objects.values_list("genesys_id", flat=True))
        assert long_calls <= found
        assert found == {c.conversation_id for c in world.dataset.conversations}
        # Newest end first, stopping at the first older one: one page per run, although the interval reaches back.
        assert max(queries) == 1


def test_it_backfills_a_window_longer_than_an_orgs_analytics_interval_limit():
    start = datetime(2026, 4, 24, tzinfo=UTC)
    end = start + timedelta(days=9)
    with running_world(
        conversations=20, large=0, malformed=0, variant="analytics_7_day_limit", start=start, end=end, now=end
    ) as world:
        result = discover(client=world.client, start=start, end=end, now=end)

        assert result.found == 20
        assert world.emulator.stats.by_status[("analytics.details.query", 400)] == 0


def test_it_takes_agents_with_purpose_user_as_the_calls_agent():
    with running_world(conversations=20, large=0, malformed=0, variant="outbound_agent_first") as world:
        discover(client=world.client, start=world.dataset.start, end=world.dataset.end, now=world.dataset.end)

        agents = dict(Conversation.objects.values_list("genesys_id", "agent__genesys_id"))
        assert agents == {c.conversation_id: c.agent_user_ids[0] for c in world.dataset.conversations}


def test_it_keeps_every_division_a_consulted_call_touched():
    with running_world(conversations=20, large=0, malformed=0, variant="consult_transfer") as world:
        discover(client=world.client, start=world.dataset.start, end=world.dataset.end, now=world.dataset.end)

        for sim in world.dataset.conversations:
            conversation = Conversation.objects.get(genesys_id=sim.conversation_id)
            assert set(conversation.divisions.values_list("genesys_id", flat=True)) == set(sim.division_ids)
            assert conversation.division.genesys_id == sim.division_ids[0]
        assert any(len(sim.division_ids) > 1 for sim in world.dataset.conversations)


def test_it_offers_callback_legs_and_puts_the_external_party_first():
    with running_world(conversations=20, large=0, malformed=0, variant="callbacks") as world:
        discover(client=world.client, start=world.dataset.start, end=world.dataset.end, now=world.dataset.end)

        for sim in world.dataset.conversations:
            legs = Conversation.objects.get(genesys_id=sim.conversation_id).communication_ids
            assert legs[0] == sim.communication_ids[0]
            assert {part.communication_id for part in sim.parts} <= set(legs)


def test_it_versions_an_archived_calls_shifted_start_and_leaves_unchanged_calls_alone(settings):
    from reviews.compliance import relay_due
    from reviews.models import ConversationVersion, OutboxMessage
    from reviews.pipeline import run_backfill

    settings.COMPLIANCE_SINKS = ["filesystem"]
    with running_world(conversations=12, large=0, malformed=0) as world:
        start, end = world.dataset.start, world.dataset.end
        run_backfill(client=world.client, since=start, until=end, clock=world.clock, max_wait=6 * 3600)
        while relay_due(clock=world.clock).handled:
            pass
        archived = set(OutboxMessage.objects.values_list("conversation__genesys_id", flat=True))
        outbox = OutboxMessage.objects.count()

        discover(client=world.client, start=start, end=end, now=end)  # the same facts: nothing to version
        assert (ConversationVersion.objects.count(), OutboxMessage.objects.count()) == (0, outbox)

        # What a restart of the demo did: Genesys now reports another start time for an archived call.
        sim = next(c for c in world.dataset.conversations if c.conversation_id in archived)
        sim.start -= timedelta(seconds=2)
        discover(client=world.client, start=start, end=end, now=end)

    versions = ConversationVersion.objects.filter(conversation__genesys_id=sim.conversation_id)
    assert [(v.number, v.changed_fields) for v in versions] == [(1, []), (2, ["conversationStart"])]
    assert ConversationVersion.objects.exclude(conversation__genesys_id=sim.conversation_id).count() == 0
    assert OutboxMessage.objects.count() == outbox + 2
    assert Conversation.objects.get(genesys_id=sim.conversation_id).started_at == sim.start
