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


def test_it_makes_a_playback_copy_the_kept_record_instead_of_fetching_it_again(settings):
    """A transcribed call's recording cached for the review page (reviews/pipeline/audio_cache.py) that the audio
    fallback then needs (the call went back for its audio): the copy becomes kept and the sweep leaves it."""
    from datetime import timedelta

    from reviews.models import AudioRecording, Transcript
    from reviews.pipeline.audio_cache import fetch_call_audio, sweep_audio_cache
    from reviews.pipeline.fallback import already_kept
    from reviews.pipeline.schedule import now_of

    with running_world(conversations=4, large=0, malformed=0) as world:
        sim = next(c for c in world.dataset.conversations if c.transcript is not None)
        conversation = Conversation.objects.create(
            genesys_id=sim.conversation_id, state=State.STORED, started_at=sim.start, ended_at=sim.end
        )
        Transcript.objects.create(
            conversation=conversation, communication_id=sim.communication_ids[0], sha256="0" * 64, size_bytes=1,
            raw_path="transcripts/00/none", redaction_status=Transcript.RedactionStatus.VERIFIED,
        )  # fmt: skip
        for _attempt in range(5):  # the emulator transcodes for a few seconds: 202, then the media
            fetch_call_audio(client=world.client, clock=world.clock, genesys_id=sim.conversation_id)
            world.clock.advance(10)
        copy = AudioRecording.objects.get(conversation=conversation)
        assert not copy.kept

        assert already_kept(conversation, copy.recording_id)

        copy.refresh_from_db()
        assert (copy.kept, copy.cached_until) == (True, None)
        assert sweep_audio_cache(now=now_of(world.clock) + timedelta(days=3)).deleted == 0
        assert not already_kept(conversation, "another-recording")
