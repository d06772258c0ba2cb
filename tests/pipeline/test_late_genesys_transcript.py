"""An audio-only call keeps being checked for a late Genesys transcript, which replaces the vault's own."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from reviews import blobs
from reviews.asr import jobs
from reviews.asr.engine import RecognisedWord, Recognition
from reviews.models import AsrJob, Conversation, OutboxMessage, Transcript, Utterance
from reviews.pipeline.late import check_late_transcripts
from reviews.pipeline.schedule import now_of
from reviews.search import SearchFilters, search
from tests.asr.support import keep_recording
from tests.pipeline.support import running_world

pytestmark = pytest.mark.django_db
State = Conversation.State
VAULT_WORD = "zanzibar"  # said only in the vault's transcript, never in an emulator script


@pytest.fixture(autouse=True)
def _late_settings(settings):
    settings.ASR_ENABLED = True
    settings.ASR_CONCURRENCY = 1
    settings.LATE_TRANSCRIPT_WINDOW_HOURS = 72


def hears(text: str):
    def recognise(wav: bytes) -> Recognition:
        words = [RecognisedWord(w, i * 400, i * 400 + 300, 0.7) for i, w in enumerate(text.split())]
        return Recognition(words=words, engine="pocketsphinx", model="test-model", audio_ms=5000, cpu_seconds=1.0)

    return recognise


def audio_only_copy(sim, *, now: datetime) -> Conversation:
    """Our row for an emulator call, as the audio fallback left it: audio kept, a late check due now."""
    conversation = Conversation.objects.create(
        genesys_id=sim.conversation_id,
        state=State.AUDIO_FALLBACK,
        started_at=sim.start,
        ended_at=sim.end,
        deadline_at=now - timedelta(hours=1),
        state_changed_at=now - timedelta(hours=1),
        communication_ids=list(sim.communication_ids),
        next_attempt_at=now,
        needs_manual_review=True,
        manual_review_reason="transcript never arrived within 1h",
    )
    keep_recording(conversation, wav=b"RIFF-not-decoded-here", recording_id=sim.recording_ids[0])
    return conversation


def test_it_replaces_the_vault_transcript_when_genesys_writes_one_late(staff, django_capture_on_commit_callbacks):
    with running_world(conversations=6, large=0, malformed=0) as world:
        world.clock.advance(3600)  # every scripted transcript is ready by now
        sim = next(c for c in world.dataset.conversations if c.transcript and c.transcript.kind == "normal")
        conversation = audio_only_copy(sim, now=now_of(world.clock))
        assert jobs.transcribe_next(clock=world.clock, recognise=hears(f"hello {VAULT_WORD} there")) == "transcribed"
        vault = Transcript.objects.get(conversation=conversation)
        vault_outbox = set(OutboxMessage.objects.filter(transcript=vault).values_list("pk", flat=True))
        assert vault_outbox

        with django_capture_on_commit_callbacks(execute=True):
            assert check_late_transcripts(client=world.client, clock=world.clock) == 1

    conversation.refresh_from_db()
    assert (conversation.state, conversation.lease_token, conversation.needs_manual_review) == (State.STORED, "", False)
    transcripts = list(Transcript.objects.filter(conversation=conversation))
    assert [t.source for t in transcripts] == [Transcript.Source.GENESYS]
    assert not Transcript.objects.filter(pk=vault.pk).exists()
    assert not Utterance.objects.filter(transcript_id=vault.pk).exists()
    assert not OutboxMessage.objects.filter(pk__in=vault_outbox).exists()
    # The compliance sink gets Genesys' transcript as a new version.
    assert OutboxMessage.objects.filter(transcript=transcripts[0], kind=OutboxMessage.Kind.TRANSCRIPT).exists()
    assert search(user=staff, query=VAULT_WORD, filters=SearchFilters()).total == 0
    assert AsrJob.objects.get(conversation=conversation).superseded_at is not None
    assert not blobs.absolute_path(vault.raw_path).exists()


def test_it_checks_again_later_while_genesys_has_nothing():
    with running_world(conversations=30, large=0, malformed=0) as world:
        sim = next(c for c in world.dataset.conversations if c.transcript is None)
        now = now_of(world.clock)
        conversation = audio_only_copy(sim, now=now)

        assert check_late_transcripts(client=world.client, clock=world.clock) == 1
        assert check_late_transcripts(client=world.client, clock=world.clock) == 0  # not due again yet

    conversation.refresh_from_db()
    assert (conversation.state, conversation.lease_token) == (State.AUDIO_FALLBACK, "")
    # Half the hour it has waited since it fell back to audio (the polling cap, 20 min, is the least).
    assert conversation.next_attempt_at == now + timedelta(minutes=30)


def test_it_stops_checking_once_the_window_has_passed(settings):
    settings.LATE_TRANSCRIPT_WINDOW_HOURS = 2
    with running_world(conversations=30, large=0, malformed=0) as world:
        sim = next(c for c in world.dataset.conversations if c.transcript is None)
        now = now_of(world.clock)
        conversation = audio_only_copy(sim, now=now)
        Conversation.objects.filter(pk=conversation.pk).update(next_attempt_at=now + timedelta(minutes=59))
        world.clock.advance(3600)

        check_late_transcripts(client=world.client, clock=world.clock)  # the last check, at the window's end

    conversation.refresh_from_db()
    assert (conversation.state, conversation.next_attempt_at) == (State.AUDIO_FALLBACK, None)


def test_it_never_stores_a_vault_transcript_over_a_genesys_one():
    with running_world(conversations=6, large=0, malformed=0) as world:
        world.clock.advance(3600)
        sim = next(c for c in world.dataset.conversations if c.transcript and c.transcript.kind == "normal")
        conversation = audio_only_copy(sim, now=now_of(world.clock))
        claim = jobs.claim_next(now=now_of(world.clock))
        # Genesys' transcript lands while the recogniser runs (e.g. an operator's retry ingested it).
        Transcript.objects.create(
            conversation=conversation, communication_id=sim.communication_ids[0], sha256="0" * 64, size_bytes=1,
            raw_path="transcripts/00/none", redaction_status=Transcript.RedactionStatus.VERIFIED,
        )  # fmt: skip

        outcome = jobs.run_claimed(claim, clock=world.clock, recognise=hears("hello there"))

    assert outcome == AsrJob.Outcome.FAILED
    assert list(Transcript.objects.values_list("source", flat=True)) == [Transcript.Source.GENESYS]
    assert AsrJob.objects.get().detail == "not stored: Genesys' transcript arrived first"
