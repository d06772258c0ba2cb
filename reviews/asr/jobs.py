"""The worker's speech-to-text step: transcribe the next pending audio-only call and store the result.

Pending (derived, nothing queues it): a conversation in audio_fallback with kept audio, whose lease is free,
and with no AsrJob row, or one whose last try crashed (failed, or running with an expired lease) that has
attempts left and is due. Claiming it takes one of ASR_CONCURRENCY slots (a unique column, so the cluster
never runs more at once) and the conversation's lease (so a late Genesys transcript check never interleaves
with the store). The recogniser runs in a low-priority child process (reviews/asr/child.py); its words become a
Genesys-shaped document (reviews/asr/document.py) stored by the one ingest path as a `vault-asr` transcript.

Outcomes, recorded on the AsrJob row and logged without any text:
- transcribed: words were found and stored (all of the call's recordings in one transaction);
- silent: the recordings decode but no speech was found (nothing stored);
- unreadable: no recording is a WAV the engine decodes (corrupt, or another format);
- failed: the engine crashed, ran out of memory or time; retried with backoff up to ASR_MAX_ATTEMPTS.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.transcript import parse_transcript
from reviews import blobs
from reviews.asr.child import EngineFailed, recognise_in_child
from reviews.asr.document import RecordingPlacement, transcript_document
from reviews.asr.engine import AudioUnreadable, Recognition
from reviews.asr.vocabulary import current_language_model, watch_phrases
from reviews.models import AsrJob, AudioRecording, Conversation, Transcript
from reviews.pipeline.ingest import Downloaded, Outcome, TranscriptOrigin, store_vault_transcript
from reviews.pipeline.leases import lease_free, new_token
from reviews.pipeline.schedule import now_of

logger = logging.getLogger(__name__)
JobOutcome = AsrJob.Outcome
Recogniser = Callable[[bytes], Recognition]
# The leases outlive the child's time limit by this much, so only a dead worker's lease ever expires.
LEASE_MARGIN_SECONDS = 120


@dataclass(frozen=True)
class Claim:
    job: AsrJob
    conversation: Conversation
    token: str


@dataclass
class _Heard:
    """What the engine made of a call's recordings."""

    recognised: list[tuple[AudioRecording, Recognition]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def words(self) -> int:
        return sum(len(recognition.words) for _, recognition in self.recognised)


def recognise_with_limits(wav: bytes) -> Recognition:
    """The production recogniser: the child process, at ASR_NICE, under ASR_MEMORY_MB, for ASR_TIMEOUT_SECONDS,
    with this machine's current language model and the watch phrases to spot (reviews/asr/vocabulary.py)."""
    return recognise_in_child(
        wav,
        nice=settings.ASR_NICE,
        memory_bytes=settings.ASR_MEMORY_MB * 1024 * 1024,
        timeout_seconds=settings.ASR_TIMEOUT_SECONDS,
        language_model=current_language_model(clock=SYSTEM_CLOCK),
        watch_phrases=watch_phrases(),
    )


def pending(*, now: datetime):
    """Conversations waiting for speech-to-text, oldest call first."""
    retry_due = Q(asr_job__next_attempt_at__isnull=True) | Q(asr_job__next_attempt_at__lte=now)
    crashed = Q(asr_job__outcome__in=[JobOutcome.FAILED, JobOutcome.RUNNING], asr_job__slot__isnull=True) & retry_due
    crashed &= Q(asr_job__attempts__lt=settings.ASR_MAX_ATTEMPTS)
    return (
        Conversation.objects.filter(state=Conversation.State.AUDIO_FALLBACK, recordings__kept=True)
        .filter(lease_free(now))
        .filter(Q(asr_job__isnull=True) | crashed)
        .exclude(transcripts__source=Transcript.Source.VAULT_ASR)
        .distinct()
        .order_by(F("ended_at").asc(nulls_last=True), "pk")
    )


def claim_next(*, now: datetime) -> Claim | None:
    """Lease the next pending call and a free slot; None when all ASR_CONCURRENCY slots are busy or none waits."""
    if not settings.ASR_ENABLED:
        return None
    free_abandoned_slots(now=now)
    held = set(AsrJob.objects.filter(slot__isnull=False).values_list("slot", flat=True))
    free = [slot for slot in range(settings.ASR_CONCURRENCY) if slot not in held]
    conversation = pending(now=now).first() if free else None
    if conversation is None:
        return None
    token = new_token()
    expires = now + timedelta(seconds=settings.ASR_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS)
    leased = Conversation.objects.filter(lease_free(now), pk=conversation.pk, state=Conversation.State.AUDIO_FALLBACK)
    if not leased.update(lease_token=token, lease_expires_at=expires):
        return None
    try:
        with transaction.atomic():
            job, _ = AsrJob.objects.get_or_create(conversation=conversation)
            AsrJob.objects.filter(pk=job.pk, slot__isnull=True).update(
                slot=free[0],
                lease_token=token,
                lease_expires_at=expires,
                outcome=JobOutcome.RUNNING,
                attempts=F("attempts") + 1,
                started_at=now,
                finished_at=None,
                detail="",
            )
    except IntegrityError:  # another worker took that slot (or made the row) between our read and write
        _release_conversation(conversation, token=token)
        return None
    job.refresh_from_db()
    if job.lease_token != token:
        _release_conversation(conversation, token=token)
        return None
    conversation.refresh_from_db()
    return Claim(job=job, conversation=conversation, token=token)


def free_abandoned_slots(*, now: datetime) -> int:
    """A worker that died mid-transcription leaves its slot leased; once the lease expires the try counts as a
    failure (retried while attempts remain)."""
    return AsrJob.objects.filter(slot__isnull=False, lease_expires_at__lte=now).update(
        slot=None,
        lease_token="",
        lease_expires_at=None,
        outcome=JobOutcome.FAILED,
        detail="the worker stopped while transcribing",
        next_attempt_at=now,
    )


def transcribe_next(*, clock: Clock, recognise: Recogniser = recognise_with_limits) -> str | None:
    """Claim and transcribe one pending call; its outcome, or None when nothing was claimed."""
    claim = claim_next(now=now_of(clock))
    if claim is None:
        return None
    try:
        return run_claimed(claim, clock=clock, recognise=recognise)
    except Exception as exc:
        # A bug or a database error must not leave the job "running"; only the type is kept (its text may quote data).
        logger.error("speech-to-text crashed conversation=%s: %s", claim.conversation.genesys_id, type(exc).__name__)
        return finish(claim, clock=clock, outcome=JobOutcome.FAILED, detail=type(exc).__name__, retry=True)
    finally:
        _release_conversation(claim.conversation, token=claim.token)
        AsrJob.objects.filter(pk=claim.job.pk, lease_token=claim.token).update(
            slot=None, lease_token="", lease_expires_at=None
        )


def run_claimed(claim: Claim, *, clock: Clock, recognise: Recogniser) -> str:
    conversation = claim.conversation
    try:
        heard = listen(conversation, recognise=recognise)
    except EngineFailed as failure:
        return finish(claim, clock=clock, outcome=JobOutcome.FAILED, detail=str(failure), retry=True)
    if heard.words:
        return store(claim, clock=clock, heard=heard)
    if heard.unreadable and not heard.recognised:
        return finish(claim, clock=clock, outcome=JobOutcome.UNREADABLE, detail="; ".join(heard.unreadable))
    detail = "; ".join(heard.unreadable) if heard.unreadable else "no speech found in the recording"
    return finish(claim, clock=clock, outcome=JobOutcome.SILENT, detail=detail, heard=heard)


def listen(conversation: Conversation, *, recognise: Recogniser) -> _Heard:
    heard = _Heard()
    for recording in conversation.recordings.filter(kept=True).order_by("start_offset_ms", "recording_id"):
        with blobs.open_blob(recording.raw_path) as stream:
            wav = stream.read()
        try:
            heard.recognised.append((recording, recognise(wav)))
        except AudioUnreadable as unreadable:
            heard.unreadable.append(f"recording {recording.recording_id}: {unreadable}"[:200])
    return heard


def store(claim: Claim, *, clock: Clock, heard: _Heard) -> str:
    """Every recording with words as one vault-asr part, all in one transaction with the job's outcome."""
    conversation = claim.conversation
    staged = [
        (recognition, _stage_document(conversation, recording, recognition))
        for recording, recognition in heard.recognised
        if recognition.words
    ]
    with transaction.atomic():
        for recognition, downloaded in staged:
            with blobs.open_blob(downloaded.raw_path) as stream:
                outcome = store_vault_transcript(
                    clock=clock,
                    conversation=conversation,
                    token=claim.token,
                    communication_id=downloaded_communication(conversation),
                    document=parse_transcript(stream),
                    downloaded=downloaded,
                    origin=TranscriptOrigin(
                        source=Transcript.Source.VAULT_ASR, asr_engine=recognition.engine, asr_model=recognition.model
                    ),
                )
            if outcome is not Outcome.STORED:
                transaction.set_rollback(True)
                break
        else:
            return finish(claim, clock=clock, outcome=JobOutcome.TRANSCRIBED, detail=_skipped(heard), heard=heard)
    if outcome is Outcome.SUPERSEDED:
        detail = "not stored: Genesys' transcript arrived first"
        return finish(claim, clock=clock, outcome=JobOutcome.FAILED, detail=detail, heard=heard, final=True)
    return finish(claim, clock=clock, outcome=JobOutcome.FAILED, detail=f"not stored: {outcome}", retry=True)


def downloaded_communication(conversation: Conversation) -> str:
    """The leg the vault transcript is filed under: the call's first communication (the one recorded)."""
    legs = conversation.communication_ids or []
    return (legs[0] if legs else "")[:64]


def _stage_document(conversation: Conversation, recording: AudioRecording, recognition: Recognition) -> Downloaded:
    """The Genesys-shaped document as an encrypted blob, as a downloaded document would be."""
    placement = RecordingPlacement(
        conversation_id=conversation.genesys_id,
        communication_id=downloaded_communication(conversation),
        recording_id=recording.recording_id,
        conversation_start_ms=int(conversation.started_at.timestamp() * 1000),
        recording_offset_ms=recording.start_offset_ms or 0,
    )
    document = transcript_document(recognition, placement=placement)
    sha256 = hashlib.sha256(document).hexdigest()
    with blobs.staging_file("transcripts") as (stream, path):
        stream.write(document)
        stream.flush()
        raw_path = blobs.promote(path, kind="transcripts", sha256=sha256)
    return Downloaded(
        raw_path=raw_path,
        sha256=sha256,
        size=len(document),
        etag="",
        seconds=recognition.cpu_seconds,
        recording_id=recording.recording_id[:64],
    )


def _skipped(heard: _Heard) -> str:
    silent = sum(1 for _, recognition in heard.recognised if not recognition.words)
    notes = [f"{silent} recording(s) without speech"] if silent else []
    return "; ".join(notes + heard.unreadable)


def finish(
    claim: Claim,
    *,
    clock: Clock,
    outcome: str,
    detail: str,
    heard: _Heard | None = None,
    retry: bool = False,
    final: bool = False,
) -> str:
    """Record the outcome on the job (still under our lease); a retryable failure is due again after a backoff."""
    now = now_of(clock)
    recognitions = [recognition for _, recognition in heard.recognised] if heard else []
    changes = {
        "outcome": outcome,
        "finished_at": now,
        "detail": detail[:300],
        "audio_ms": sum(r.audio_ms for r in recognitions) if recognitions else None,
        "cpu_seconds": round(sum(r.cpu_seconds for r in recognitions), 3) if recognitions else None,
        "word_count": heard.words if heard else 0,
        "next_attempt_at": now + _retry_backoff(claim.job.attempts) if retry else None,
    }
    if recognitions:
        changes.update(engine=recognitions[0].engine, model=recognitions[0].model)
    if final:
        changes["attempts"] = max(claim.job.attempts, settings.ASR_MAX_ATTEMPTS)
    AsrJob.objects.filter(pk=claim.job.pk, lease_token=claim.token).update(**changes)
    logger.info(
        "speech-to-text %s conversation=%s words=%d audio_ms=%s cpu_seconds=%s attempt=%d",
        outcome,
        claim.conversation.genesys_id,
        changes["word_count"],
        changes["audio_ms"],
        changes["cpu_seconds"],
        claim.job.attempts,
    )
    return outcome


def _retry_backoff(attempts: int) -> timedelta:
    return timedelta(seconds=settings.TRANSCRIPT_POLL_MAX_SECONDS * 2 ** max(attempts - 1, 0))


def _release_conversation(conversation: Conversation, *, token: str) -> None:
    Conversation.objects.filter(pk=conversation.pk, lease_token=token).update(lease_token="", lease_expires_at=None)
