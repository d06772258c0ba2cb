"""Availability latency comes from Genesys (the document's Last-Modified), not from when we first looked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from genesys.clock import FakeClock
from genesys.emulator import Emulator, generate_dataset
from reviews.models import Conversation, Transcript
from reviews.pipeline import run_backfill
from reviews.pipeline.ingest import genesys_available_at
from tests.pipeline.support import NOW, WINDOW_END, WINDOW_START, make_client

HOURS_LATER = 6
END = datetime(2026, 5, 4, 11, 0, tzinfo=UTC)


def test_it_uses_last_modified_when_it_is_plausible():
    seen = END + timedelta(hours=5)
    written = END + timedelta(seconds=95)
    assert genesys_available_at(seen_at=seen, last_modified=written, ended_at=END) == written


def test_it_falls_back_to_first_seen_without_a_usable_last_modified():
    seen = END + timedelta(hours=5)
    assert genesys_available_at(seen_at=seen, last_modified=None, ended_at=END) == seen
    # Later than we saw it (skewed clock or a rewritten object): never makes availability later.
    assert genesys_available_at(seen_at=seen, last_modified=seen + timedelta(minutes=3), ended_at=END) == seen
    # Long before the call ended: not this transcript's write time.
    assert genesys_available_at(seen_at=seen, last_modified=END - timedelta(minutes=2), ended_at=END) == seen


def test_it_clamps_a_slightly_early_last_modified_to_the_call_end():
    seen = END + timedelta(hours=1)
    assert genesys_available_at(seen_at=seen, last_modified=END - timedelta(seconds=30), ended_at=END) == END
    unknown_end = END - timedelta(hours=3)
    assert genesys_available_at(seen_at=seen, last_modified=unknown_end, ended_at=None) == unknown_end


@pytest.mark.django_db
def test_it_reports_genesys_ready_delay_as_latency_for_a_backfill_hours_later(settings):
    # Every call ended hours ago, but the deadline counts from discovery: ten minutes outlive the
    # slowest "delayed" transcript (ready at most 300 s after the emulator starts).
    settings.TRANSCRIPT_DEADLINE_SECONDS = 600.0
    clock = FakeClock((NOW + timedelta(hours=HOURS_LATER)).timestamp())
    dataset = generate_dataset(7, 20, WINDOW_START, WINDOW_END, large=0, malformed=0)
    emulator = Emulator(dataset, clock=clock, seed=7)
    with emulator.serve() as base_url:
        client = make_client(base_url=base_url, clock=clock)
        summary = run_backfill(client=client, since=WINDOW_START, until=WINDOW_END, clock=clock, max_wait=3 * 3600.0)
    emulator.close()

    assert summary.finished
    transcripts = list(Transcript.objects.select_related("conversation"))
    assert len(transcripts) >= 10
    sims = {c.conversation_id: c for c in dataset.conversations}
    checked_normal = 0
    for transcript in transcripts:
        sim = sims[transcript.conversation.genesys_id]
        ready_at = datetime.fromtimestamp(emulator.transcript_ready_at(sim), UTC)
        expected_ms = (ready_at - sim.end).total_seconds() * 1000
        # Last-Modified has whole seconds: within a second of Genesys' own ready time.
        assert abs(transcript.availability_latency_ms - expected_ms) <= 1000, (sim.conversation_id, sim.transcript)
        assert abs((transcript.first_available_at - ready_at).total_seconds()) <= 1
        assert transcript.store_latency_ms >= 0
        assert transcript.first_available_at <= transcript.stored_at
        conversation = Conversation.objects.get(pk=transcript.conversation_id)
        assert conversation.transcript_available_at == transcript.first_available_at
        if not sim.transcript.delayed:
            assert abs(transcript.availability_latency_ms / 1000 - sim.transcript.ready_delay_s) <= 1
            # Hours after the calls: stored late, but that is our backlog, not Genesys' latency.
            assert transcript.store_latency_ms > (HOURS_LATER - 2) * 3600 * 1000
            checked_normal += 1
    assert checked_normal >= 5
