from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from reviews.models import Conversation
from reviews.pipeline.schedule import audio_slot, availability_level, next_availability_probe

NOW = datetime(2026, 5, 4, 12, 0, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _poll_settings(settings):
    settings.TRANSCRIPT_POLL_BASE_SECONDS = 30.0
    settings.TRANSCRIPT_POLL_MAX_SECONDS = 900.0
    settings.TRANSCRIPT_POLL_FRESH_SECONDS = 900.0
    settings.TRANSCRIPT_DEADLINE_SECONDS = 48 * 3600.0


def awaiting(*, ended_ago: timedelta | None, attempts: int = 0, deadline_in: timedelta | None = None) -> Conversation:
    return Conversation(
        genesys_id="0f1e2d3c-0000-4000-8000-000000000001",
        ended_at=None if ended_ago is None else NOW - ended_ago,
        deadline_at=None if deadline_in is None else NOW + deadline_in,
        attempts=attempts,
    )


@pytest.mark.parametrize(
    ("age_minutes", "level"),
    [(0, 0), (14.9, 0), (15, 1), (29.9, 1), (30, 2), (60, 3), (120, 4), (240, 5), (3 * 24 * 60, 9)],
)
def test_it_derives_the_backoff_level_from_the_calls_age(age_minutes, level):
    ended = NOW - timedelta(minutes=age_minutes)

    assert availability_level(ended_at=ended, now=NOW, attempts=40) == level


def test_it_counts_probes_when_the_call_end_is_not_known_yet():
    assert availability_level(ended_at=None, now=NOW, attempts=3) == 3


def test_it_polls_a_fresh_call_on_the_next_base_slot_however_often_it_was_probed():
    conversation = awaiting(ended_ago=timedelta(minutes=4), attempts=12)

    for seed in range(20):
        probe_at = next_availability_probe(conversation, now=NOW, rng=random.Random(seed))
        assert timedelta(0) < probe_at - NOW <= timedelta(seconds=60)
        assert probe_at.timestamp() % 30 == 0


def test_it_backs_off_to_the_cap_for_a_call_that_ended_days_ago():
    conversation = awaiting(ended_ago=timedelta(days=3), deadline_in=timedelta(hours=40))

    delays = {next_availability_probe(conversation, now=NOW, rng=random.Random(seed)) - NOW for seed in range(20)}

    assert all(timedelta(0) < delay <= timedelta(seconds=1800) for delay in delays)
    assert all((NOW + delay).timestamp() % 900 == 0 for delay in delays)


def test_it_probes_on_the_deadline_slot_when_the_deadline_comes_before_the_backoff():
    conversation = awaiting(ended_ago=timedelta(days=3), deadline_in=timedelta(seconds=95))

    probe_at = next_availability_probe(conversation, now=NOW, rng=random.Random(1))

    deadline = NOW + timedelta(seconds=95)
    assert deadline <= probe_at < deadline + timedelta(seconds=30)
    assert probe_at.timestamp() % 30 == 0


def test_it_batches_audio_fallbacks_on_the_max_interval_grid_by_default():
    slot = audio_slot(now=NOW)

    assert timedelta(0) < slot - NOW <= timedelta(seconds=900)
    assert slot.timestamp() % 900 == 0


def test_it_keeps_the_audio_batching_delay_a_small_share_of_a_short_deadline(settings):
    settings.TRANSCRIPT_DEADLINE_SECONDS = 480.0

    slot = audio_slot(now=NOW)

    assert timedelta(0) < slot - NOW <= timedelta(seconds=30)
    assert slot.timestamp() % 30 == 0


def probed(*, ended_ago: timedelta, last_direct_ago: timedelta | None, deadline_in=timedelta(hours=40)):
    conversation = awaiting(ended_ago=ended_ago, deadline_in=deadline_in)
    conversation.direct_probed_at = None if last_direct_ago is None else NOW - last_direct_ago
    return conversation


def test_it_probes_directly_at_each_age_checkpoint_once():
    from reviews.pipeline.schedule import checkpoint_probe_due

    assert not checkpoint_probe_due(probed(ended_ago=timedelta(minutes=59), last_direct_ago=None), now=NOW)
    assert checkpoint_probe_due(probed(ended_ago=timedelta(minutes=61), last_direct_ago=None), now=NOW)
    # Probed after the 1 h checkpoint: nothing more until 6 h.
    assert not checkpoint_probe_due(probed(ended_ago=timedelta(hours=5), last_direct_ago=timedelta(hours=3)), now=NOW)
    assert checkpoint_probe_due(probed(ended_ago=timedelta(hours=7), last_direct_ago=timedelta(hours=3)), now=NOW)


def test_it_probes_directly_once_more_at_the_deadline_unless_it_just_did():
    from reviews.pipeline.schedule import checkpoint_probe_due

    due = probed(ended_ago=timedelta(hours=3), last_direct_ago=timedelta(hours=2), deadline_in=-timedelta(seconds=1))
    recent = probed(ended_ago=timedelta(hours=3), last_direct_ago=timedelta(minutes=20), deadline_in=-timedelta(1))

    assert checkpoint_probe_due(due, now=NOW)
    assert not checkpoint_probe_due(recent, now=NOW)


def test_it_spaces_direct_probes_without_a_search_by_half_the_calls_age():
    from reviews.pipeline.schedule import direct_probe_due_without_search

    # Last probed when the call was 2 h old: the next one is due an hour later, not at the next round.
    assert not direct_probe_due_without_search(
        probed(ended_ago=timedelta(hours=2, minutes=50), last_direct_ago=timedelta(minutes=50)), now=NOW
    )
    assert direct_probe_due_without_search(
        probed(ended_ago=timedelta(hours=3, minutes=1), last_direct_ago=timedelta(minutes=61)), now=NOW
    )
    assert direct_probe_due_without_search(probed(ended_ago=timedelta(hours=9), last_direct_ago=None), now=NOW)


def test_it_retries_a_transcoding_recording_by_the_time_spent_on_the_audio_not_the_probe_count():
    from reviews.pipeline.schedule import audio_retry_at

    conversation = awaiting(ended_ago=timedelta(hours=3), attempts=40)
    conversation.state_changed_at = NOW - timedelta(seconds=10)

    assert audio_retry_at(conversation, now=NOW) == NOW + timedelta(seconds=30)  # the base interval

    conversation.state_changed_at = NOW - timedelta(hours=2)
    assert audio_retry_at(conversation, now=NOW) == NOW + timedelta(seconds=900)  # capped
