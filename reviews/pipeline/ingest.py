"""Download, parse and store one transcript document.

The document is streamed to a staging file, promoted to its sha256 address, then parsed a second
time phrase by phrase inside ONE transaction that writes the Transcript, its Utterances (in batches),
the redaction findings, the metrics, the compliance outbox rows and the conversation's new state.
Memory stays flat in document size; an empty or unparseable document leaves nothing behind.
"""

from __future__ import annotations

import bisect
import logging
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction

from genesys.clock import Clock
from genesys.errors import TranscriptFormatError
from genesys.transcript import Phrase, TranscriptDocument, parse_transcript
from reviews import blobs
from reviews.models import Conversation, RedactionFinding, Transcript, Utterance
from reviews.pipeline.rows import now_of, set_state, update_leased
from reviews.redaction import RedactionScanner, UtteranceText
from reviews.transcript_metrics import MetricsAccumulator

try:  # the compliance outbox is its own module; without it transcripts are still stored
    from reviews.compliance.outbox import record_transcript_version
except ImportError:  # pragma: no cover - only while the compliance module is absent
    record_transcript_version = None

try:
    from reviews.observability import observe_transcript_stored
except ImportError:  # pragma: no cover - metrics are optional for the pipeline
    observe_transcript_stored = None

logger = logging.getLogger(__name__)
State = Conversation.State

UTTERANCE_BATCH = 500
CUSTOMER_PURPOSE = "customer"
# A document cannot be written before its call ended; allow this much clock skew before distrusting Last-Modified.
LAST_MODIFIED_SKEW = timedelta(minutes=1)


class Outcome(StrEnum):
    STORED = "stored"
    UNCHANGED = "unchanged"  # the same document was stored before
    NOT_YET = "not_yet"  # transcripturls answered 404
    EMPTY = "empty"
    UNPARSEABLE = "unparseable"
    LEASE_LOST = "lease_lost"


class _Abort(Exception):
    """Rolls the store transaction back with a reason (empty document, lost lease)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


@dataclass(frozen=True)
class Downloaded:
    raw_path: str
    sha256: str
    size: int
    etag: str
    seconds: float
    recording_ids: list[str]
    last_modified: datetime | None = None  # S3 Last-Modified: when Genesys wrote the document


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    reason: str = ""  # why the audio fallback is needed (empty / unparseable), safe to show


def ingest_conversation(
    *,
    client,
    clock: Clock,
    conversation: Conversation,
    token: str,
    communication_id: str,
    urls: list[dict] | None = None,
    available_at: datetime | None = None,
) -> IngestResult:
    """Fetch the transcript of one communication and store it; the caller holds the lease and releases it.

    `urls` is the transcripturls answer when the caller already has it (a direct probe), which saves a call.
    On success the conversation is `stored` (lease kept); EMPTY/UNPARSEABLE leave nothing behind and
    return the reason for the audio fallback.
    """
    genesys_id = conversation.genesys_id
    if urls is None:
        urls = client.get_transcript_urls(genesys_id, communication_id)
    urls = [u for u in urls or [] if u.get("url")]
    if not urls:
        return IngestResult(Outcome.NOT_YET)
    if conversation.state != State.STORED and not set_state(conversation, token=token, state=State.DOWNLOADING):
        return IngestResult(Outcome.LEASE_LOST)
    downloaded = download_transcript(
        client=client, conversation=conversation, communication_id=communication_id, urls=urls
    )
    available_at = genesys_available_at(
        seen_at=available_at or now_of(clock), last_modified=downloaded.last_modified, ended_at=conversation.ended_at
    )
    existing = Transcript.objects.filter(conversation=conversation, communication_id=communication_id).first()
    if existing is not None and existing.sha256 == downloaded.sha256:
        logger.info("transcript unchanged conversation=%s communication=%s", genesys_id, communication_id)
        if not mark_stored(conversation, token=token, available_at=existing.first_available_at or available_at):
            return IngestResult(Outcome.LEASE_LOST)
        return IngestResult(Outcome.UNCHANGED)
    try:
        document = parse_transcript(blobs.absolute_path(downloaded.raw_path))
        store_transcript(
            clock=clock,
            conversation=conversation,
            token=token,
            communication_id=communication_id,
            document=document,
            downloaded=downloaded,
            available_at=available_at,
        )
    except TranscriptFormatError as exc:
        logger.warning("transcript unparseable conversation=%s communication=%s", genesys_id, communication_id)
        return IngestResult(Outcome.UNPARSEABLE, f"transcript unparseable: {exc.message}"[:200])
    except _Abort as abort:
        if abort.outcome is Outcome.EMPTY:
            logger.info("transcript empty conversation=%s communication=%s", genesys_id, communication_id)
            return IngestResult(Outcome.EMPTY, "transcript empty")
        return IngestResult(abort.outcome)
    logger.info(
        "transcript stored conversation=%s communication=%s bytes=%d", genesys_id, communication_id, downloaded.size
    )
    return IngestResult(Outcome.STORED)


def download_transcript(*, client, conversation: Conversation, communication_id: str, urls: list[dict]) -> Downloaded:
    genesys_id = conversation.genesys_id

    def fresh_url() -> str:
        # A pre-signed URL lives 10 minutes; a resumed download after expiry needs a new one (1 API call).
        url = client.get_transcript_url(genesys_id, communication_id)
        if not url:
            raise TranscriptFormatError("transcripturl disappeared while downloading")
        return url

    with blobs.staging_file("transcripts") as (stream, path):
        result = client.download(urls[0]["url"], stream, refresh_url=fresh_url)
        stream.flush()
        raw_path = blobs.promote(path, kind="transcripts", sha256=result.sha256)
    return Downloaded(
        raw_path=raw_path,
        sha256=result.sha256,
        size=result.size,
        etag=result.etag or "",
        seconds=result.seconds,
        recording_ids=[u["recordingId"] for u in urls if u.get("recordingId")],
        last_modified=result.last_modified,
    )


def genesys_available_at(*, seen_at: datetime, last_modified: datetime | None, ended_at: datetime | None) -> datetime:
    """When the transcript became available in Genesys: the document's Last-Modified when it is plausible,
    else when we first saw it. A backfill sees yesterday's transcripts hours late; Last-Modified does not.

    Last-Modified is ignored when it lies after we saw the document (clock skew or a rewrite) or before the
    call ended (minus LAST_MODIFIED_SKEW); within the skew allowance it is clamped to the call's end, so the
    availability latency is never negative and first_available_at never exceeds the stored time.
    """
    if last_modified is None or last_modified > seen_at:
        return seen_at
    if ended_at is not None:
        if last_modified < ended_at - LAST_MODIFIED_SKEW:
            return seen_at
        last_modified = max(last_modified, ended_at)
    return min(seen_at, last_modified)


def mark_stored(conversation: Conversation, *, token: str, available_at: datetime | None) -> bool:
    """Final state, lease kept: the caller may still store another communication before releasing."""
    return update_leased(
        conversation,
        token=token,
        state=State.STORED,
        transcript_available_at=available_at,
        next_attempt_at=None,
        last_error="",
        needs_manual_review=False,
        manual_review_reason="",
    )


def _milliseconds_between(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return int((later - earlier).total_seconds() * 1000)


def store_transcript(
    *,
    clock: Clock,
    conversation: Conversation,
    token: str,
    communication_id: str,
    document: TranscriptDocument,
    downloaded: Downloaded,
    available_at: datetime,
) -> Transcript:
    stored_at = now_of(clock)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.lease_token != token:
            raise _Abort(Outcome.LEASE_LOST)
        transcript = _transcript_row(
            conversation=locked,
            communication_id=communication_id,
            document=document,
            downloaded=downloaded,
            available_at=available_at,
            stored_at=stored_at,
        )
        counts = write_utterances(transcript=transcript, document=document)
        if counts.utterances == 0:
            raise _Abort(Outcome.EMPTY)
        for name, value in counts.metrics.items():
            setattr(transcript, name, value)
        transcript.redaction_status = counts.report.status
        transcript.mask_counts = counts.report.mask_counts
        transcript.leak_count = write_findings(transcript=transcript, findings=counts.report.findings)
        transcript.save()
        if record_transcript_version is not None:
            record_transcript_version(transcript, clock=clock)
        if not mark_stored(locked, token=token, available_at=transcript.first_available_at):
            raise _Abort(Outcome.LEASE_LOST)
        if observe_transcript_stored is not None:
            transaction.on_commit(lambda: observe_transcript_stored(transcript))
    conversation.state = State.STORED
    return transcript


def _transcript_row(
    *,
    conversation: Conversation,
    communication_id: str,
    document: TranscriptDocument,
    downloaded: Downloaded,
    available_at: datetime,
    stored_at: datetime,
) -> Transcript:
    """The Transcript row for this communication, new or (for a changed document) emptied and reused."""
    meta = document.transcripts[0] if document.transcripts else None
    fields = {
        "transcript_id": (meta.transcript_id if meta else "") or "",
        "language": (meta.language if meta else "") or "",
        "engine_id": (meta.engine_id if meta else "") or "",
        "program_id": (meta.program_id if meta else "") or "",
        "media_type": document.media_type or "",
        "recording_ids": downloaded.recording_ids,
        "sha256": downloaded.sha256,
        "size_bytes": downloaded.size,
        "etag": downloaded.etag[:200],
        "raw_path": downloaded.raw_path,
        "stored_at": stored_at,
        "download_seconds": downloaded.seconds,
        "redaction_status": Transcript.RedactionStatus.NO_MARKERS,
    }
    existing = (
        Transcript.objects.select_for_update()
        .filter(conversation=conversation, communication_id=communication_id)
        .first()
    )
    if existing is not None and existing.first_available_at is not None:
        # A new version keeps the moment the communication's transcript first became available.
        available_at = min(existing.first_available_at, available_at)
    fields.update(
        first_available_at=available_at,
        availability_latency_ms=_milliseconds_between(available_at, conversation.ended_at),
        store_latency_ms=max(_milliseconds_between(stored_at, available_at) or 0, 0),
    )
    if existing is not None:
        # A new version of a document we hold: it replaces the old rows; the outbox gets a new version key.
        existing.utterances.all().delete()
        existing.findings.all().delete()
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        return existing
    try:
        with transaction.atomic():
            return Transcript.objects.create(conversation=conversation, communication_id=communication_id, **fields)
    except IntegrityError:
        # Another worker stored this communication despite the lease (e.g. ours expired): theirs wins.
        raise _Abort(Outcome.LEASE_LOST) from None


@dataclass
class _Written:
    utterances: int
    metrics: dict
    report: object


class _SpeakerRoles:
    """Map an internal phrase to agent/ivr/... by which participant was on the call at that moment."""

    def __init__(self, participants: list[dict], conversation_start_ms: int) -> None:
        windows = []
        for participant in participants:
            purpose = participant.get("participantPurpose") or participant.get("purpose")
            start = participant.get("startTimeMs")
            if not purpose or purpose == CUSTOMER_PURPOSE or not isinstance(start, int | float):
                continue
            end = participant.get("endTimeMs")
            windows.append((int(start), int(end) if isinstance(end, int | float) else None, purpose))
        windows.sort()
        self._windows = windows
        self._purposes = {purpose for _, _, purpose in windows}

    def purpose_of(self, speaker: str, absolute_start_ms: int | None) -> str:
        if speaker == "external":
            return CUSTOMER_PURPOSE
        if absolute_start_ms is not None:
            # The latest participant to join who is still on the call: an agent after the IVR hands over.
            for start, end, purpose in reversed(self._windows):
                if start <= absolute_start_ms and (end is None or absolute_start_ms < end):
                    return purpose
        return next(iter(self._purposes)) if len(self._purposes) == 1 else ""


class _Topics:
    """Topic names per phrase: by (transcriptId, phraseIndex) when given, else by time inside the phrase."""

    def __init__(self, document: TranscriptDocument) -> None:
        self._by_phrase: dict[tuple, list[str]] = {}
        timed: list[tuple[int, str]] = []
        for topic in document.topics:
            if not topic.name:
                continue
            if topic.phrase_index is not None:
                self._by_phrase.setdefault((topic.transcript_id, topic.phrase_index), []).append(topic.name)
            elif topic.start_time_ms is not None:
                timed.append((topic.start_time_ms, topic.name))
        timed.sort()
        self._times = [t for t, _ in timed]
        self._names = [n for _, n in timed]

    def for_phrase(self, phrase: Phrase) -> list[str]:
        names = list(self._by_phrase.get((phrase.transcript_id, phrase.phrase_index), []))
        if self._times and phrase.start_time_ms is not None:
            low = bisect.bisect_left(self._times, phrase.start_time_ms)
            high = bisect.bisect_left(self._times, phrase.end_time_ms or phrase.start_time_ms + 1)
            names.extend(n for n in self._names[low:high] if n not in names)
        return names


def _relative(value: int | None, origin: int) -> int:
    return (value - origin) if value is not None else 0


def utterance_from(
    phrase: Phrase,
    *,
    index: int,
    transcript: Transcript,
    origin_ms: int,
    roles: _SpeakerRoles,
    topics: _Topics,
    sentiment: dict,
) -> Utterance:
    speaker = phrase.participant_purpose or ""
    start_ms = _relative(phrase.start_time_ms, origin_ms)
    word_confidences = [w.confidence for w in phrase.words if w.confidence is not None]
    return Utterance(
        transcript=transcript,
        conversation_id=transcript.conversation_id,
        index=index,
        phrase_index=phrase.phrase_index,
        speaker=speaker[:16],
        participant_purpose=roles.purpose_of(speaker, phrase.start_time_ms)[:32],
        start_ms=start_ms,
        end_ms=start_ms + (phrase.duration_ms or 0),
        # decoratedText (punctuated, cased) when present: the same text is searched, shown and scanned.
        text=phrase.decorated_text or phrase.text,
        confidence=statistics.fmean(word_confidences) if word_confidences else phrase.confidence,
        words=[[w.word, w.confidence, _relative(w.start_time_ms, origin_ms), w.duration_ms or 0] for w in phrase.words],
        sentiment=sentiment.get((phrase.transcript_id, phrase.phrase_index)),
        topics=topics.for_phrase(phrase),
    )


def write_utterances(*, transcript: Transcript, document: TranscriptDocument) -> _Written:
    """Stream phrases into Utterance rows in batches, feeding the PII scanner and the metrics as we go."""
    origin_ms = document.conversation_start_ms or 0
    roles = _SpeakerRoles(document.participants, origin_ms)
    topics = _Topics(document)
    scanner = RedactionScanner(phone_regions=settings.PII_PHONE_REGIONS)
    metrics = MetricsAccumulator(low_confidence_threshold=settings.LOW_CONFIDENCE_THRESHOLD)
    batch: list[Utterance] = []
    count = 0
    for index, phrase in enumerate(document.phrases()):
        utterance = utterance_from(
            phrase,
            index=index,
            transcript=transcript,
            origin_ms=origin_ms,
            roles=roles,
            topics=topics,
            sentiment=document.sentiment,
        )
        scanner.feed(
            UtteranceText(
                index=index,
                start_ms=utterance.start_ms,
                speaker=utterance.speaker,
                text=utterance.text,
                words=[(word[0], word[2]) for word in utterance.words],
            )
        )
        metrics.add(
            utterance.speaker,
            utterance.start_ms,
            utterance.end_ms,
            [w.confidence for w in phrase.words if w.confidence is not None],
            phrase.stability,
        )
        batch.append(utterance)
        count += 1
        if len(batch) >= UTTERANCE_BATCH:
            Utterance.objects.bulk_create(batch)
            batch = []
    if batch:
        Utterance.objects.bulk_create(batch)
    return _Written(utterances=count, metrics=metrics.result(), report=scanner.finish())


def write_findings(*, transcript: Transcript, findings: list) -> int:
    if not findings:
        return 0
    indexes = {f.utterance_index for f in findings}
    utterance_ids = dict(Utterance.objects.filter(transcript=transcript, index__in=indexes).values_list("index", "pk"))
    RedactionFinding.objects.bulk_create(
        [
            RedactionFinding(
                transcript=transcript,
                utterance_id=utterance_ids.get(f.utterance_index),
                kind=f.kind,
                rule=f.rule[:64],
                confidence=f.confidence,
                start_ms=f.start_ms,
                masked_excerpt=f.masked_excerpt[:300],
            )
            for f in findings
        ]
    )
    return len(findings)
