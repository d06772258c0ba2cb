"""The worker's speech-to-text step, from a kept recording of an audio-only call to a stored vault-asr transcript."""

from __future__ import annotations

from datetime import timedelta

import pytest

from genesys.clock import FakeClock
from reviews.asr import jobs
from reviews.asr.child import EngineFailed
from reviews.asr.engine import RecognisedWord, Recognition, transcribe_wav
from reviews.models import AsrJob, AudioRecording, Conversation, OutboxMessage, RedactionFinding, Transcript, Utterance
from reviews.search import SearchFilters, search
from tests.asr.conftest import spoken_call
from tests.asr.support import NOW, audio_only_call, keep_recording

pytestmark = pytest.mark.django_db
State = Conversation.State
Outcome = AsrJob.Outcome
CARD_SPOKEN = "four one one one one one one one one one one one one one one one"


@pytest.fixture(autouse=True)
def _asr_settings(settings):
    settings.ASR_ENABLED = True
    settings.ASR_CONCURRENCY = 1
    settings.ASR_MAX_ATTEMPTS = 2
    settings.COMPLIANCE_SINKS = ["filesystem"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.timestamp())


def said(text: str, *, start_ms: int = 0, gap_ms: int = 0) -> list[RecognisedWord]:
    return [
        RecognisedWord(text=word, start_ms=start_ms + i * (300 + gap_ms), end_ms=start_ms + i * (300 + gap_ms) + 250,
                       confidence=0.8)
        for i, word in enumerate(text.split())
    ]  # fmt: skip


def recogniser_saying(*words: RecognisedWord):
    """A stand-in engine that hears `words` in every recording (the real one is tested in test_engine.py)."""

    def recognise(wav: bytes) -> Recognition:
        return Recognition(words=list(words), engine="pocketsphinx", model="test-model", audio_ms=9000, cpu_seconds=1.5)

    return recognise


def test_it_transcribes_an_audio_only_call_into_a_searchable_vault_transcript(clock, staff):
    conversation = audio_only_call(wav=spoken_call())

    outcome = jobs.transcribe_next(clock=clock, recognise=transcribe_wav)

    assert outcome == Outcome.TRANSCRIBED
    transcript = Transcript.objects.get(conversation=conversation)
    assert (transcript.source, transcript.asr_engine) == (Transcript.Source.VAULT_ASR, "pocketsphinx")
    assert transcript.asr_model.startswith("en-us (pocketsphinx ")
    assert transcript.transcript_id == "vault-asr-conv-audio-1-rec"
    assert [u.text for u in transcript.utterances.order_by("index")] == ["good morning", "please hold the line"]
    first_word = transcript.utterances.order_by("index").first().words[0]
    assert first_word[0] == "good" and 0 <= first_word[1] <= 1
    page = search(user=staff, query='"hold the line"', filters=SearchFilters())
    assert [hit.conversation.pk for hit in page.results] == [conversation.pk]
    conversation.refresh_from_db()
    assert (conversation.state, conversation.lease_token) == (State.AUDIO_FALLBACK, "")
    job = AsrJob.objects.get(conversation=conversation)
    assert (job.outcome, job.word_count, job.slot, job.attempts) == (Outcome.TRANSCRIBED, 6, None, 1)
    assert job.audio_ms == 1660 + 2500 + 2281 and job.cpu_seconds > 0


def test_it_masks_a_card_number_heard_in_the_call(clock):
    conversation = audio_only_call()
    words = said("my card number is " + CARD_SPOKEN)

    jobs.transcribe_next(clock=clock, recognise=recogniser_saying(*words))

    transcript = Transcript.objects.get(conversation=conversation)
    assert list(transcript.utterances.values_list("text", flat=True)) == ["my card number is [card number*]"]
    assert list(RedactionFinding.objects.values_list("kind", flat=True)) == ["card_number"]
    assert transcript.leak_count == 1
    stored_words = transcript.utterances.get().words
    assert "four" not in [word[0] for word in stored_words]


def test_it_stores_the_vault_transcript_in_the_compliance_outbox_like_any_other(clock):
    conversation = audio_only_call()

    jobs.transcribe_next(clock=clock, recognise=recogniser_saying(*said("hello there")))

    transcript = Transcript.objects.get(conversation=conversation)
    assert OutboxMessage.objects.filter(transcript=transcript, kind=OutboxMessage.Kind.TRANSCRIPT).count() == 1
    # It never was available in Genesys: no availability latency to skew Genesys' metrics.
    assert (transcript.first_available_at, transcript.availability_latency_ms) == (None, None)


def test_it_splits_phrases_at_pauses_and_places_them_by_the_recording_offset(clock):
    conversation = audio_only_call(wav=b"one")
    AudioRecording.objects.filter(conversation=conversation).update(start_offset_ms=60_000)
    words = said("hello there", start_ms=1000) + said("how can i help", start_ms=5000)

    jobs.transcribe_next(clock=clock, recognise=recogniser_saying(*words))

    utterances = Utterance.objects.filter(conversation=conversation).order_by("index")
    assert [(u.text, u.start_ms) for u in utterances] == [("hello there", 61_000), ("how can i help", 65_000)]
    assert {u.speaker for u in utterances} == {""}  # one channel: who spoke is not guessed


def test_it_records_a_silent_recording_without_storing_anything(clock):
    conversation = audio_only_call()

    outcome = jobs.transcribe_next(clock=clock, recognise=recogniser_saying())

    assert outcome == Outcome.SILENT
    assert not Transcript.objects.filter(conversation=conversation).exists()
    job = AsrJob.objects.get()
    assert (job.outcome, job.detail, job.audio_ms) == (Outcome.SILENT, "no speech found in the recording", 9000)
    assert jobs.transcribe_next(clock=clock, recognise=recogniser_saying()) is None  # final: not tried again


def test_it_records_a_corrupt_recording_as_unreadable(clock):
    conversation = audio_only_call(wav=b"\x00\x01 this is not audio")

    outcome = jobs.transcribe_next(clock=clock, recognise=transcribe_wav)

    assert outcome == Outcome.UNREADABLE
    job = AsrJob.objects.get(conversation=conversation)
    assert job.detail.startswith("recording conv-audio-1-rec: not a PCM WAV file")
    assert not Transcript.objects.exists()
    assert jobs.transcribe_next(clock=clock, recognise=transcribe_wav) is None


def test_it_retries_an_engine_failure_after_a_backoff_then_gives_up(clock, settings):
    settings.TRANSCRIPT_POLL_MAX_SECONDS = 600
    conversation = audio_only_call()

    def crash(wav: bytes) -> Recognition:
        raise EngineFailed("speech-to-text process killed by signal 9")

    assert jobs.transcribe_next(clock=clock, recognise=crash) == Outcome.FAILED
    job = AsrJob.objects.get(conversation=conversation)
    assert (job.detail, job.next_attempt_at) == (
        "speech-to-text process killed by signal 9",
        NOW + timedelta(minutes=10),
    )
    assert jobs.transcribe_next(clock=clock, recognise=crash) is None  # not due yet

    clock.advance(600)
    assert jobs.transcribe_next(clock=clock, recognise=crash) == Outcome.FAILED
    clock.advance(3600)
    assert jobs.transcribe_next(clock=clock, recognise=crash) is None  # ASR_MAX_ATTEMPTS (2) used up
    assert AsrJob.objects.get().attempts == 2
    assert not Transcript.objects.exists()


def test_it_never_leaves_a_partial_transcript_when_one_recording_fails(clock):
    conversation = audio_only_call()
    keep_recording(conversation, wav=b"second", recording_id="rec-2", offset_ms=30_000)
    calls = []

    def first_works_then_crashes(wav: bytes) -> Recognition:
        calls.append(wav)
        if len(calls) == 2:
            raise EngineFailed("speech-to-text ran out of memory (cap 1024 MB)")
        return recogniser_saying(*said("hello"))(wav)

    assert jobs.transcribe_next(clock=clock, recognise=first_works_then_crashes) == Outcome.FAILED
    assert not Transcript.objects.exists() and not Utterance.objects.exists()


def test_it_transcribes_one_call_at_a_time_across_the_cluster(clock):
    audio_only_call("conv-a")
    audio_only_call("conv-b")

    first = jobs.claim_next(now=NOW)
    second = jobs.claim_next(now=NOW)

    assert first is not None and first.conversation.genesys_id == "conv-a"
    assert second is None  # the only slot is busy, although conv-b waits
    first_conversation = Conversation.objects.get(genesys_id="conv-a")
    assert first_conversation.lease_token == first.token


def test_it_runs_as_many_calls_at_once_as_asr_concurrency_allows(clock, settings):
    settings.ASR_CONCURRENCY = 2
    for name in ("conv-a", "conv-b", "conv-c"):
        audio_only_call(name)

    claims = [jobs.claim_next(now=NOW) for _ in range(3)]

    assert [c.conversation.genesys_id if c else None for c in claims] == ["conv-a", "conv-b", None]
    assert sorted(AsrJob.objects.values_list("slot", flat=True)) == [0, 1]


def test_it_takes_over_the_slot_of_a_worker_that_died(clock, settings):
    settings.ASR_TIMEOUT_SECONDS = 600
    audio_only_call("conv-a")
    audio_only_call("conv-b")
    assert jobs.claim_next(now=NOW) is not None  # and then the worker is killed

    later = NOW + timedelta(seconds=600 + jobs.LEASE_MARGIN_SECONDS + 1)
    assert jobs.claim_next(now=later - timedelta(seconds=2)) is None  # its lease still runs

    assert jobs.free_abandoned_slots(now=later) == 1
    dead = AsrJob.objects.get(conversation__genesys_id="conv-a")
    assert (dead.outcome, dead.detail, dead.slot) == (Outcome.FAILED, "the worker stopped while transcribing", None)
    claim = jobs.claim_next(now=later)
    assert claim is not None and claim.conversation.genesys_id == "conv-a"  # retried first: the oldest call
    assert (claim.job.attempts, claim.job.slot) == (2, 0)


def test_it_leaves_calls_with_a_genesys_transcript_or_another_state_alone(clock):
    audio_only_call("conv-stored")
    Conversation.objects.filter(genesys_id="conv-stored").update(state=State.STORED)
    leased = audio_only_call("conv-leased")
    Conversation.objects.filter(pk=leased.pk).update(lease_token="late-check", lease_expires_at=NOW + timedelta(1))

    assert jobs.transcribe_next(clock=clock, recognise=recogniser_saying(*said("hi"))) is None


def test_it_does_nothing_when_disabled(clock, settings):
    settings.ASR_ENABLED = False
    audio_only_call()

    assert jobs.claim_next(now=NOW) is None


def test_it_hands_the_child_its_limits_and_the_watch_phrases(settings, monkeypatch):
    settings.ASR_PHRASES = ["close my account", "fraud"]
    settings.ASR_LANGUAGE_MODEL = "general"
    settings.ASR_NICE, settings.ASR_MEMORY_MB, settings.ASR_TIMEOUT_SECONDS = 7, 300, 60
    handed = {}
    monkeypatch.setattr(jobs, "recognise_in_child", lambda wav, **kwargs: handed.update(kwargs, wav=wav))

    jobs.recognise_with_limits(b"RIFF")

    assert handed["wav"] == b"RIFF"
    assert handed["watch_phrases"] == ["close my account", "fraud"]
    assert (handed["nice"], handed["memory_bytes"], handed["timeout_seconds"]) == (7, 300 * 1024 * 1024, 60)
    assert handed["language_model"] is None
