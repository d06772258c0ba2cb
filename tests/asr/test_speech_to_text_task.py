"""reviews.tasks.speech_to_text_task: the scheduled entry point, with the production recogniser (a child process)."""

from __future__ import annotations

import pytest

from genesys.clock import FakeClock
from reviews.models import AsrJob, Transcript
from reviews.tasks import speech_to_text_task
from tests.asr.conftest import spoken_wav
from tests.asr.support import NOW, audio_only_call

pytestmark = pytest.mark.django_db


def test_it_works_through_the_pending_calls_one_after_the_other(settings):
    settings.ASR_ENABLED = True
    settings.ASR_CONCURRENCY = 1
    settings.COMPLIANCE_SINKS = ["filesystem"]
    audio_only_call("conv-a", wav=spoken_wav())
    audio_only_call("conv-b", wav=b"RIFF\x00\x00 corrupt")

    summary = speech_to_text_task(clock=FakeClock(NOW.timestamp()))

    assert summary == "speech-to-text: 1 transcribed, 1 unreadable"
    assert list(Transcript.objects.values_list("conversation__genesys_id", "source")) == [("conv-a", "vault-asr")]
    assert set(AsrJob.objects.values_list("slot", "lease_token")) == {(None, "")}


def test_it_says_when_speech_to_text_is_off(settings):
    settings.ASR_ENABLED = False
    audio_only_call("conv-a", wav=spoken_wav())

    assert speech_to_text_task(clock=FakeClock(NOW.timestamp())) == "speech-to-text: disabled (ASR_ENABLED=false)"
    assert not AsrJob.objects.exists()
