"""Download, parse and store the transcript documents of one communication (one per recording segment).

`transcripturls` returns one URL per recording segment (holds and recording pauses make several), so a
communication is one or more parts. Each part is streamed to a staging file, promoted to its sha256 address,
then parsed phrase by phrase inside ONE transaction that writes the Transcript, its Utterances (in batches),
the redaction findings, the metrics and the compliance outbox rows. A leaked value is masked before its phrase
is written (the original sealed; see reviews/pipeline/masking.py). Memory stays flat in document size; an
empty or unparseable part leaves nothing behind. Parts are idempotent per (communication, recording): the same
document again is `unchanged`, a changed one replaces its rows and gets a new outbox version.

What the conversation's state becomes is the caller's decision (availability.py), once every leg of the
round has been tried.

The vault's own speech-to-text of an audio-only call (reviews/asr) is stored through store_vault_transcript,
the same path with `source=vault-asr`. A Genesys transcript stored later for that call removes the vault's (its
utterances, findings, index rows and outbox rows) in its own transaction: the two never coexist.
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
from genesys.participants import AGENT_PURPOSES, EXTERNAL_PURPOSES
from genesys.transcript import Phrase, TranscriptDocument, parse_transcript
from reviews import blobs
from reviews.compliance.outbox import record_transcript_version
from reviews.evaluations.auto import score_after_store
from reviews.models import AsrJob, Conversation, RedactionFinding, Transcript, Utterance
from reviews.observability import observe_transcript_stored
from reviews.pipeline.masking import PhraseMasker, associated_data_for, write_identifier_mentions
from reviews.pipeline.schedule import now_of
from reviews.pipeline.transitions import start_download
from reviews.redaction import RedactionScanner
from reviews.retention import remove_unreferenced_blob
from reviews.transcript_metrics import MetricsAccumulator

logger = logging.getLogger(__name__)
State = Conversation.State
Source = Transcript.Source

UTTERANCE_BATCH = 500
CUSTOMER_PURPOSE = "customer"
# Who speaks when several internal participants are connected at once: a person, then the IVR's prompts;
# an ACD participant only holds the call in a queue.
SPEAKING_RANK = {"agent": 0, "user": 0, "ivr": 1, "voicemail": 2, "acd": 3}
# A document cannot be written before its call ended; allow this much clock skew before distrusting Last-Modified.
LAST_MODIFIED_SKEW = timedelta(minutes=1)


class Outcome(StrEnum):
    STORED = "stored"
    UNCHANGED = "unchanged"  # the same document of this segment was stored before
    NOT_YET = "not_yet"  # transcripturls answered 404 (or listed no URL)
    EMPTY = "empty"
    UNPARSEABLE = "unparseable"
    LEASE_LOST = "lease_lost"
    SUPERSEDED = "superseded"  # a vault transcript not stored: Genesys' transcript (or a new state) came first


USABLE = frozenset({Outcome.STORED, Outcome.UNCHANGED})


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
    recording_id: str
    content_encoding: str = ""  # how Genesys served it; the stored bytes (and sha256) are exactly those
    last_modified: datetime | None = None  # S3 Last-Modified: when Genesys wrote the document


@dataclass(frozen=True)
class TranscriptOrigin:
    """Who produced a document: Genesys (the default), or the vault's speech-to-text with its engine and model."""

    source: str = Source.GENESYS
    asr_engine: str = ""
    asr_model: str = ""


GENESYS = TranscriptOrigin()


@dataclass(frozen=True)
class PartResult:
    outcome: Outcome
    communication_id: str = ""
    recording_id: str = ""
    reason: str = ""  # why the part is unusable (empty / unparseable), safe to show


def ingest_leg(
    *,
    client,
    clock: Clock,
    conversation: Conversation,
    token: str,
    communication_id: str,
    available_at: datetime | None = None,
    skip_stored_parts: bool = False,
) -> list[PartResult]:
    """Fetch and store every part (recording segment) of one communication's transcript: one transcripturls
    call returns every segment's URL (a 404 is NOT_YET).

    `skip_stored_parts` leaves segments we already hold alone (a retry after a part failed mid-leg).
    The caller holds the lease, decides the conversation's state from the results and releases it.
    """
    urls = client.get_transcript_urls(conversation.genesys_id, communication_id)
    urls = [u for u in urls or [] if u.get("url")]
    if not urls:
        return [PartResult(Outcome.NOT_YET, communication_id)]
    if conversation.state != State.DOWNLOADING and not start_download(conversation, token=token, now=now_of(clock)):
        return [PartResult(Outcome.LEASE_LOST, communication_id)]
    held = set()
    if skip_stored_parts:
        held = set(
            Transcript.objects.filter(
                conversation=conversation, communication_id=communication_id, source=Source.GENESYS
            ).values_list("recording_id", flat=True)
        )
    results = []
    for item in urls:
        recording_id = (item.get("recordingId") or "")[:64]
        if recording_id in held:
            results.append(PartResult(Outcome.UNCHANGED, communication_id, recording_id))
            continue
        result = ingest_part(
            client=client,
            clock=clock,
            conversation=conversation,
            token=token,
            communication_id=communication_id,
            recording_id=recording_id,
            url=item["url"],
            single=len(urls) == 1,
            available_at=available_at,
        )
        results.append(result)
        if result.outcome is Outcome.LEASE_LOST:
            break
    return results


def ingest_part(
    *,
    client,
    clock: Clock,
    conversation: Conversation,
    token: str,
    communication_id: str,
    recording_id: str,
    url: str,
    single: bool,
    available_at: datetime | None,
) -> PartResult:
    genesys_id = conversation.genesys_id
    done = {"communication_id": communication_id, "recording_id": recording_id}
    downloaded = download_part(
        client=client,
        conversation=conversation,
        communication_id=communication_id,
        recording_id=recording_id,
        url=url,
        single=single,
    )
    available_at = genesys_available_at(
        seen_at=available_at or now_of(clock), last_modified=downloaded.last_modified, ended_at=conversation.ended_at
    )
    existing = Transcript.objects.filter(
        conversation=conversation, communication_id=communication_id, recording_id=recording_id, source=Source.GENESYS
    ).first()
    if existing is not None and existing.sha256 == downloaded.sha256:
        logger.info("transcript unchanged conversation=%s communication=%s", genesys_id, communication_id)
        return PartResult(Outcome.UNCHANGED, **done)
    try:
        # The blob is encrypted at rest: parse its decrypted view, open until every phrase is stored.
        with blobs.open_blob(downloaded.raw_path) as stream:
            document = parse_transcript(stream, content_encoding=downloaded.content_encoding or None)
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
        return PartResult(Outcome.UNPARSEABLE, reason=f"transcript unparseable: {exc.message}"[:200], **done)
    except _Abort as abort:
        if abort.outcome is Outcome.EMPTY:
            logger.info("transcript empty conversation=%s communication=%s", genesys_id, communication_id)
            return PartResult(Outcome.EMPTY, reason="transcript empty", **done)
        return PartResult(abort.outcome, **done)
    logger.info(
        "transcript stored conversation=%s communication=%s bytes=%d", genesys_id, communication_id, downloaded.size
    )
    return PartResult(Outcome.STORED, **done)


def url_refresher(*, client, conversation: Conversation, communication_id: str, recording_id: str, single: bool):
    """A fresh pre-signed URL for this segment when the one in hand expired (they live 10 minutes)."""
    genesys_id = conversation.genesys_id

    def fresh_url() -> str:
        if single:
            url = client.get_transcript_url(genesys_id, communication_id)
        else:
            # The singular endpoint names one URL per communication; a segment needs its own from the list.
            urls = client.get_transcript_urls(genesys_id, communication_id) or []
            url = next((u.get("url") for u in urls if (u.get("recordingId") or "") == recording_id), None)
        if not url:
            raise TranscriptFormatError("transcript URL disappeared while downloading")
        return url

    return fresh_url


def download_part(
    *, client, conversation: Conversation, communication_id: str, recording_id: str, url: str, single: bool
) -> Downloaded:
    refresh = url_refresher(
        client=client,
        conversation=conversation,
        communication_id=communication_id,
        recording_id=recording_id,
        single=single,
    )
    with blobs.staging_file("transcripts") as (stream, path):
        result = client.download(url, stream, refresh_url=refresh)
        stream.flush()
        raw_path = blobs.promote(path, kind="transcripts", sha256=result.sha256)
    return Downloaded(
        raw_path=raw_path,
        sha256=result.sha256,
        size=result.size,
        etag=result.etag or "",
        seconds=result.seconds,
        recording_id=recording_id,
        content_encoding=(result.content_encoding or "")[:16],
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
    available_at: datetime | None,
    origin: TranscriptOrigin = GENESYS,
) -> Transcript:
    stored_at = now_of(clock)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.lease_token != token:
            raise _Abort(Outcome.LEASE_LOST)
        if origin.source == Source.GENESYS:
            remove_vault_transcripts(locked, now=stored_at)
        elif not vault_transcript_wanted(locked):
            raise _Abort(Outcome.SUPERSEDED)
        transcript = _transcript_row(
            conversation=locked,
            communication_id=communication_id,
            document=document,
            downloaded=downloaded,
            available_at=available_at,
            stored_at=stored_at,
            origin=origin,
        )
        counts = write_utterances(transcript=transcript, document=document)
        if counts.utterances == 0:
            raise _Abort(Outcome.EMPTY)
        for name, value in counts.metrics.items():
            setattr(transcript, name, value)
        transcript.part_start_ms = counts.first_start_ms
        transcript.redaction_status = counts.report.status
        transcript.mask_counts = counts.report.mask_counts
        transcript.leak_count = write_findings(transcript=transcript, findings=counts.report.findings)
        transcript.save()
        record_transcript_version(transcript, clock=clock)
        transaction.on_commit(lambda: observe_transcript_stored(transcript))
        transaction.on_commit(lambda: score_after_store(locked.pk))
    return transcript


def store_vault_transcript(
    *,
    clock: Clock,
    conversation: Conversation,
    token: str,
    communication_id: str,
    document: TranscriptDocument,
    downloaded: Downloaded,
    origin: TranscriptOrigin,
) -> Outcome:
    """Store the vault's own transcript of an audio-only call (reviews/asr) through store_transcript.

    STORED, EMPTY (no phrase), LEASE_LOST, or SUPERSEDED when Genesys' transcript got there first. It never
    became available in Genesys, so it has no availability latency and adds nothing to Genesys' latency metrics.
    """
    try:
        store_transcript(
            clock=clock,
            conversation=conversation,
            token=token,
            communication_id=communication_id,
            document=document,
            downloaded=downloaded,
            available_at=None,
            origin=origin,
        )
    except _Abort as abort:
        return abort.outcome
    return Outcome.STORED


def vault_transcript_wanted(conversation: Conversation) -> bool:
    """Only an audio-only call without any Genesys transcript gets the vault's own (checked under the row lock)."""
    if conversation.state != State.AUDIO_FALLBACK:
        return False
    return not Transcript.objects.filter(conversation=conversation, source=Source.GENESYS).exists()


def remove_vault_transcripts(conversation: Conversation, *, now: datetime) -> int:
    """Genesys' transcript replaces the vault's own: delete its rows (cascading to utterances, findings, search
    index rows and undelivered outbox rows) in the caller's transaction, and its blob once that commits."""
    vault = Transcript.objects.filter(conversation=conversation, source=Source.VAULT_ASR)
    paths = list(vault.values_list("raw_path", flat=True))
    if not paths:
        return 0
    removed = len(paths)
    vault.delete()
    AsrJob.objects.filter(conversation=conversation, superseded_at__isnull=True).update(superseded_at=now)
    transaction.on_commit(lambda: [remove_unreferenced_blob(path) for path in paths])
    logger.info("vault transcript replaced by Genesys' conversation=%s parts=%d", conversation.genesys_id, removed)
    return removed


def _transcript_row(
    *,
    conversation: Conversation,
    communication_id: str,
    document: TranscriptDocument,
    downloaded: Downloaded,
    available_at: datetime | None,
    stored_at: datetime,
    origin: TranscriptOrigin = GENESYS,
) -> Transcript:
    """The Transcript row for this segment, new or (for a changed document) emptied and reused."""
    meta = document.transcripts[0] if document.transcripts else None
    fields = {
        "source": origin.source,
        "asr_engine": origin.asr_engine[:64],
        "asr_model": origin.asr_model[:128],
        "transcript_id": (meta.transcript_id if meta else "") or "",
        "language": (meta.language if meta else "") or "",
        "engine_id": (meta.engine_id if meta else "") or "",
        "program_id": (meta.program_id if meta else "") or "",
        "media_type": document.media_type or "",
        "sha256": downloaded.sha256,
        "size_bytes": downloaded.size,
        "etag": downloaded.etag[:200],
        "content_encoding": downloaded.content_encoding,
        "raw_path": downloaded.raw_path,
        "stored_at": stored_at,
        "download_seconds": downloaded.seconds,
        "redaction_status": Transcript.RedactionStatus.NO_MARKERS,
    }
    existing = (
        Transcript.objects.select_for_update()
        .filter(conversation=conversation, communication_id=communication_id, recording_id=downloaded.recording_id)
        .first()
    )
    if existing is not None and existing.first_available_at is not None and available_at is not None:
        # A new version keeps the moment the segment's transcript first became available.
        available_at = min(existing.first_available_at, available_at)
    store_latency_ms = _milliseconds_between(stored_at, available_at)
    fields.update(
        first_available_at=available_at,
        availability_latency_ms=_milliseconds_between(available_at, conversation.ended_at),
        store_latency_ms=None if store_latency_ms is None else max(store_latency_ms, 0),
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
            return Transcript.objects.create(
                conversation=conversation,
                communication_id=communication_id,
                recording_id=downloaded.recording_id,
                **fields,
            )
    except IntegrityError:
        # Another worker stored this segment despite the lease (e.g. ours expired): theirs wins.
        raise _Abort(Outcome.LEASE_LOST) from None


@dataclass
class _Written:
    utterances: int
    metrics: dict
    report: object
    first_start_ms: int | None = None


class _SpeakerRoles:
    """Which participant an internal phrase belongs to: the internal participant on the call at that moment.

    Only `participantPurpose` (internal/external) says who spoke; the document's participants say which
    internal party was connected when. Join order means nothing (an outbound call starts with the agent),
    and the external party is never a candidate for an internal phrase. When an agent's window overlaps a
    system participant's (IVR, ACD), the agent spoke.
    """

    def __init__(self, participants: list[dict], conversation_start_ms: int) -> None:
        windows = []
        for participant in participants:
            purpose = participant.get("participantPurpose") or participant.get("purpose")
            start = participant.get("startTimeMs")
            if not purpose or purpose in EXTERNAL_PURPOSES or not isinstance(start, int | float):
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
            on_call = [
                purpose
                for start, end, purpose in self._windows
                if start <= absolute_start_ms and (end is None or absolute_start_ms < end)
            ]
            if on_call:
                best = min(on_call, key=lambda purpose: SPEAKING_RANK.get(purpose, len(SPEAKING_RANK)))
                return "agent" if best in AGENT_PURPOSES else best
        if len(self._purposes) == 1:
            only = next(iter(self._purposes))
            return "agent" if only in AGENT_PURPOSES else only
        return ""


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
    """Stream phrases into Utterance rows in batches, feeding the PII scanner and the metrics as we go.

    A phrase is written only once the scanner can no longer extend a detection into it, with any leaked
    value already masked (reviews/pipeline/masking.py): the clear value never reaches the database.
    """
    origin_ms = document.conversation_start_ms or 0
    roles = _SpeakerRoles(document.participants, origin_ms)
    topics = _Topics(document)
    masker = PhraseMasker(
        RedactionScanner(phone_regions=settings.PII_PHONE_REGIONS),
        associated_data=associated_data_for(transcript),
    )
    metrics = MetricsAccumulator(low_confidence_threshold=settings.LOW_CONFIDENCE_THRESHOLD)
    batch: list[Utterance] = []
    count = 0
    first_start_ms: int | None = None
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
        metrics.add(
            utterance.speaker,
            utterance.start_ms,
            utterance.end_ms,
            [w.confidence for w in phrase.words if w.confidence is not None],
            phrase.stability,
        )
        count += 1
        first_start_ms = utterance.start_ms if first_start_ms is None else min(first_start_ms, utterance.start_ms)
        batch.extend(ready for ready, _ in masker.add(utterance))
        if len(batch) >= UTTERANCE_BATCH:
            Utterance.objects.bulk_create(batch)
            batch = []
    report, rest = masker.finish()
    batch.extend(ready for ready, _ in rest)
    if batch:
        Utterance.objects.bulk_create(batch)
    write_identifier_mentions(transcript=transcript, found=masker.identifiers)
    return _Written(utterances=count, metrics=metrics.result(), report=report, first_start_ms=first_start_ms)


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
