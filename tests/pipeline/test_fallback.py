from __future__ import annotations

import pytest

from reviews.models import Conversation
from reviews.pipeline import run_backfill
from tests.pipeline.support import WINDOW_END, WINDOW_START, running_world

pytestmark = pytest.mark.django_db
State = Conversation.State


def audio_outcomes(world) -> dict[str, tuple[str, str]]:
    run_backfill(client=world.client, since=WINDOW_START, until=WINDOW_END, clock=world.clock, max_wait=6 * 3600)
    return {
        c.genesys_id: (c.state, c.outcome)
        for c in Conversation.objects.filter(needs_manual_review=True)  # the calls that went to the audio path
    }


def test_it_gives_up_on_a_recording_that_stays_202_for_longer_than_the_audio_wait(settings):
    settings.AUDIO_WAIT_MAX_SECONDS = 30  # the "transcoding" profile takes 60-180 s per recording
    with running_world(conversations=10, large=0, malformed=0, faults="transcoding") as world:
        outcomes = audio_outcomes(world)

    assert outcomes and all(state == State.AUDIO_UNAVAILABLE for state, _ in outcomes.values()), outcomes
    assert all("transcoding for over 30s" in outcome for _, outcome in outcomes.values())


def test_it_keeps_the_recording_once_transcoding_ends_within_the_wait(settings):
    settings.AUDIO_WAIT_MAX_SECONDS = 3600
    with running_world(conversations=10, large=0, malformed=0, faults="transcoding") as world:
        outcomes = audio_outcomes(world)

    assert outcomes and all(state == State.AUDIO_FALLBACK for state, _ in outcomes.values()), outcomes
    assert Conversation.objects.filter(state=State.AUDIO_FALLBACK, recordings__isnull=False).count() == len(outcomes)
