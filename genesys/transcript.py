"""Streaming parser for the STA transcript document (genesys-api.md §4.4), memory flat in document size.

Two passes over the file with ijson: parse_transcript() reads the small metadata (ids, participants,
sentiment, topics) and skips phrases; doc.phrases() streams phrases one at a time. Transcript text never
appears in an error message.

A document stored gzip-compressed (S3 served it with `Content-Encoding: gzip`, and downloads keep the served
bytes) is decompressed while it is read, in both passes, so memory stays flat either way.

The source is a path or a readable, seekable binary file (the vault hands over its decrypting blob reader, so
no plaintext copy is ever written); a file is rewound for each pass and left open for the caller to close.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import ijson

from genesys.errors import TranscriptFormatError


def _fastest_backend():
    try:
        return ijson.get_backend("yajl2_c")
    except Exception:  # the C extension is optional; the default backend is correct, only slower
        return ijson


IJSON = _fastest_backend()
BUFFER_SIZE = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
# What a damaged gzip stream raises while being read: bad header/CRC, truncated stream, bad deflate data.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)

_TRANSCRIPT = "transcripts.item"
_PHRASE = "transcripts.item.phrases.item"
_SENTIMENT = "transcripts.item.analytics.sentiment.item"
_TOPIC = "transcripts.item.analytics.topics.item"
_PARTICIPANT = "participants.item"
# Events at a list item's own prefix that do not begin a new item (map_key belongs to the item's map).
_NOT_AN_ITEM_START = frozenset({"end_map", "end_array", "map_key"})
_TOP_LEVEL_FIELDS = {"conversationId", "communicationId", "conversationStartTime", "mediaType"}
_TRANSCRIPT_FIELDS = {
    f"{_TRANSCRIPT}.transcriptId": "transcript_id",
    f"{_TRANSCRIPT}.language": "language",
    f"{_TRANSCRIPT}.engineId": "engine_id",
    f"{_TRANSCRIPT}.programId": "program_id",
}


@dataclass(frozen=True)
class TranscriptMeta:
    transcript_id: str | None
    language: str | None
    engine_id: str | None
    program_id: str | None


@dataclass(frozen=True)
class TopicEvent:
    transcript_id: str | None
    phrase_index: int | None
    start_time_ms: int | None
    name: str | None


@dataclass(frozen=True)
class Word:
    word: str
    confidence: float | None
    start_time_ms: int | None
    duration_ms: int | None


@dataclass(frozen=True)
class Phrase:
    transcript_id: str | None
    phrase_index: int
    participant_purpose: str | None
    text: str
    decorated_text: str
    start_time_ms: int | None
    duration_ms: int | None
    confidence: float | None
    stability: float | None
    words: list[Word] = field(default_factory=list)

    @property
    def end_time_ms(self) -> int | None:
        if self.start_time_ms is None:
            return None
        return self.start_time_ms + (self.duration_ms or 0)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    return None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _milliseconds(item: dict, name: str) -> int | None:
    """`duration: {"milliseconds": n}` (the schema's object form) or `durationMs` (the flat form)."""
    nested = item.get(name)
    if isinstance(nested, dict):
        value = _int_or_none(nested.get("milliseconds"))
        if value is not None:
            return value
    return _int_or_none(item.get(f"{name}Ms"))


def _start_ms(item: dict, *, conversation_start_ms: int | None) -> int | None:
    start = _int_or_none(item.get("startTimeMs"))
    if start is not None:
        return start
    offset = _milliseconds(item, "offset")
    if offset is not None and conversation_start_ms is not None:
        return conversation_start_ms + offset
    return None


def _word(item: Any, *, conversation_start_ms: int | None) -> Word | None:
    # Inlined field reads: this runs once per word, hundreds of thousands of times for a large transcript.
    if type(item) is not dict:
        return None
    word = item.get("word")
    if type(word) is not str:
        return None
    confidence = item.get("confidence")
    start = item.get("startTimeMs")
    duration = item.get("duration")
    duration = duration.get("milliseconds") if type(duration) is dict else item.get("durationMs")
    return Word(
        word,  # verbatim: mask tokens such as "[card number]" stay as Genesys wrote them
        float(confidence) if type(confidence) in (float, int) else None,
        int(start) if type(start) in (float, int) else _start_ms(item, conversation_start_ms=conversation_start_ms),
        int(duration) if type(duration) in (float, int) else None,
    )


def _word_span_ms(words: list[Word]) -> int | None:
    starts = [w.start_time_ms for w in words if w.start_time_ms is not None]
    if not starts:
        return None
    ends = [w.start_time_ms + (w.duration_ms or 0) for w in words if w.start_time_ms is not None]
    return max(ends) - min(starts)


def phrase_from(item: Any, *, transcript_id: str | None, position: int, conversation_start_ms: int | None) -> Phrase:
    if not isinstance(item, dict):
        raise TranscriptFormatError(f"transcript {transcript_id}: phrase #{position} is not an object")
    words = [
        word
        for word in (_word(w, conversation_start_ms=conversation_start_ms) for w in item.get("words") or [])
        if word is not None
    ]
    text = item.get("text") if isinstance(item.get("text"), str) else " ".join(w.word for w in words)
    decorated = item.get("decoratedText") if isinstance(item.get("decoratedText"), str) else text
    duration = _milliseconds(item, "duration")
    if duration is None:
        duration = _word_span_ms(words)
    phrase_index = _int_or_none(item.get("phraseIndex"))
    return Phrase(
        transcript_id=transcript_id,
        phrase_index=position if phrase_index is None else phrase_index,
        participant_purpose=item.get("participantPurpose"),
        text=text,
        decorated_text=decorated,
        start_time_ms=_start_ms(item, conversation_start_ms=conversation_start_ms),
        duration_ms=duration,
        confidence=_float_or_none(item.get("confidence")),
        stability=_float_or_none(item.get("stability")),
        words=words,
    )


# Where a document comes from: a file name, or an open binary file (readable and seekable).
Source = os.PathLike | str | IO[bytes]


@contextmanager
def _raw(source: Source) -> Iterator[IO[bytes]]:
    """The source's bytes from the start; a file given open is rewound and not closed."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            yield stream
    else:
        source.seek(0)
        yield source


def is_gzip(source: Source, content_encoding: str | None = None) -> bool:
    """Whether to read `source` through gzip: the server said so, or the file starts with the gzip magic."""
    if content_encoding is not None and content_encoding.strip().lower() in GZIP_ENCODINGS:
        return True
    with _raw(source) as stream:
        return stream.read(len(GZIP_MAGIC)) == GZIP_MAGIC


@contextmanager
def _open(source: Source, *, compressed: bool) -> Iterator[IO[bytes]]:
    """The document's JSON bytes as a stream; a damaged gzip stream becomes TranscriptFormatError."""
    try:
        with _raw(source) as raw:
            if not compressed:
                yield raw
                return
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream
    except _GZIP_ERRORS:
        if not compressed:
            raise
        raise TranscriptFormatError("transcript is not valid gzip") from None


def _format_error(exc: Exception) -> TranscriptFormatError:
    # The parser's own message can quote the document; name only the kind of failure.
    kind = "not valid UTF-8" if "utf" in str(exc).lower() else "not valid JSON"
    return TranscriptFormatError(f"transcript document is {kind} ({type(exc).__name__})")


def _events(path: Source, *, compressed: bool = False) -> Iterator[tuple[str, str, Any]]:
    """(prefix, event, value) for the whole file; parse failures become TranscriptFormatError."""
    try:
        with _open(path, compressed=compressed) as stream:
            yield from IJSON.parse(stream, buf_size=BUFFER_SIZE, use_float=True)
    except TranscriptFormatError:
        raise
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        raise _format_error(exc) from None


def _items(path: Source, prefix: str, *, compressed: bool = False) -> Iterator[Any]:
    try:
        with _open(path, compressed=compressed) as stream:
            yield from IJSON.items(stream, prefix, buf_size=BUFFER_SIZE, use_float=True)
    except TranscriptFormatError:
        raise
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        raise _format_error(exc) from None


class _Collector:
    """Build the small objects under one prefix (a participant, a sentiment event) from raw events."""

    def __init__(self) -> None:
        self.builder: ijson.ObjectBuilder | None = None
        self.depth = 0

    @property
    def active(self) -> bool:
        return self.builder is not None

    def start(self, event: str, value: Any) -> None:
        self.builder = ijson.ObjectBuilder()
        self.builder.event(event, value)
        self.depth = 1

    def feed(self, event: str, value: Any) -> Any | None:
        """Feed one event; returns the finished object when its closing event arrives (else None)."""
        assert self.builder is not None
        self.builder.event(event, value)
        if event in ("start_map", "start_array"):
            self.depth += 1
        elif event in ("end_map", "end_array"):
            self.depth -= 1
        if self.depth == 0:
            finished, self.builder = self.builder.value, None
            return finished
        return None


class TranscriptDocument:
    def __init__(self, path: Source, *, content_encoding: str | None = None) -> None:
        self.path = path
        self.compressed = is_gzip(path, content_encoding)
        self.conversation_id: str | None = None
        self.communication_id: str | None = None
        self.conversation_start_ms: int | None = None
        self.media_type: str | None = None
        self.transcripts: list[TranscriptMeta] = []
        self.participants: list[dict] = []
        self.sentiment: dict[tuple[str | None, int], float] = {}
        self.topics: list[TopicEvent] = []
        self.phrase_count = 0

    def _read_metadata(self) -> None:
        collector = _Collector()
        collecting: str | None = None
        current: dict[str, Any] = {}
        has_phrases = False
        saw_top_level = saw_transcripts = False
        for prefix, event, value in _events(self.path, compressed=self.compressed):
            # Hot path first: almost every event of a large document is inside a phrase, and this pass only
            # counts phrases, so everything else under a phrase is skipped with a single string test.
            if prefix.startswith(_PHRASE):
                if prefix == _PHRASE and event not in _NOT_AN_ITEM_START:
                    self._phrase_counts[-1] += 1
                continue
            if collector.active:
                finished = collector.feed(event, value)
                if finished is not None:
                    self._collected(collecting, finished, current)
                continue
            if prefix == "" and not saw_top_level:
                saw_top_level = True
                if event != "start_map":
                    raise TranscriptFormatError("transcript document is not a JSON object")
            elif prefix in _TOP_LEVEL_FIELDS:
                self._top_level(prefix, value)
            elif prefix == "transcripts" and event == "start_array":
                saw_transcripts = True
            elif prefix == _TRANSCRIPT and event == "start_map":
                current, has_phrases = {}, False
                self._phrase_counts.append(0)
            elif prefix == _TRANSCRIPT and event == "end_map":
                if not has_phrases:
                    raise TranscriptFormatError(f"transcript #{len(self.transcripts)} has no phrases array")
                self.transcripts.append(TranscriptMeta(**{k: current.get(k) for k in _TRANSCRIPT_FIELDS.values()}))
            elif prefix in _TRANSCRIPT_FIELDS and event in ("string", "number"):
                current[_TRANSCRIPT_FIELDS[prefix]] = str(value)
            elif prefix == f"{_TRANSCRIPT}.phrases" and event == "start_array":
                has_phrases = True
            elif prefix in (_PARTICIPANT, _SENTIMENT, _TOPIC) and event == "start_map":
                collecting = prefix
                collector.start(event, value)
        if not saw_transcripts:
            raise TranscriptFormatError("transcript document has no transcripts array")
        self.phrase_count = sum(self._phrase_counts)

    def _top_level(self, prefix: str, value: Any) -> None:
        if prefix == "conversationId":
            self.conversation_id = value
        elif prefix == "communicationId":
            self.communication_id = value
        elif prefix == "mediaType":
            self.media_type = value
        elif prefix == "conversationStartTime":
            self.conversation_start_ms = _int_or_none(value)

    def _collected(self, kind: str | None, item: Any, current: dict[str, Any]) -> None:
        if not isinstance(item, dict):
            return
        if kind == _PARTICIPANT:
            self.participants.append(item)
            return
        # transcriptId may come after analytics in the object, so events are tagged with the transcript's
        # position and resolved to ids once the first pass is done.
        position = len(self.transcripts)
        if kind == _SENTIMENT:
            phrase_index = _int_or_none(item.get("phraseIndex"))
            score = _float_or_none(item.get("sentiment"))
            if phrase_index is not None and score is not None:
                self._pending_sentiment.append((position, phrase_index, score))
        elif kind == _TOPIC:
            self._pending_topics.append((position, item))

    def _resolve_analytics(self) -> None:
        def transcript_id(position: int) -> str | None:
            return self.transcripts[position].transcript_id if position < len(self.transcripts) else None

        for position, phrase_index, score in self._pending_sentiment:
            self.sentiment[(transcript_id(position), phrase_index)] = score
        for position, item in self._pending_topics:
            self.topics.append(
                TopicEvent(
                    transcript_id=transcript_id(position),
                    phrase_index=_int_or_none(item.get("phraseIndex")),
                    start_time_ms=_start_ms(item, conversation_start_ms=self.conversation_start_ms),
                    name=item.get("topicName"),
                )
            )
        self._pending_sentiment, self._pending_topics = [], []

    def load(self) -> TranscriptDocument:
        self._pending_sentiment: list[tuple[int, int, float]] = []
        self._pending_topics: list[tuple[int, dict]] = []
        self._phrase_counts: list[int] = []
        self._read_metadata()
        self._resolve_analytics()
        return self

    def _transcript_ids_per_phrase(self) -> Iterator[str | None]:
        for meta, count in zip(self.transcripts, self._phrase_counts, strict=False):
            for _ in range(count):
                yield meta.transcript_id
        while True:  # the file changed between passes; phrase_from still validates each phrase
            yield None

    def phrases(self) -> Iterator[Phrase]:
        """Second streaming pass: one Phrase at a time, in document order.

        ijson.items builds each phrase in C; the phrase counts from the first pass say which transcript
        each phrase belongs to, so no per-event Python runs here.
        """
        transcript_ids = self._transcript_ids_per_phrase()
        previous_id: object = object()
        position = 0
        for item in _items(self.path, _PHRASE, compressed=self.compressed):
            transcript_id = next(transcript_ids)
            if transcript_id != previous_id:
                previous_id, position = transcript_id, 0
            yield phrase_from(
                item,
                transcript_id=transcript_id,
                position=position,
                conversation_start_ms=self.conversation_start_ms,
            )
            position += 1


def parse_transcript(path: Source, *, content_encoding: str | None = None) -> TranscriptDocument:
    """Read the document's metadata in one streaming pass; call .phrases() to stream its phrases.

    `path` is a file name or an open, seekable binary file; a file must stay open until .phrases() is done.

    `content_encoding` is the download's Content-Encoding: "gzip" (or a file starting with the gzip magic)
    is decompressed while streaming; anything else is read as plain JSON. Raises TranscriptFormatError for
    invalid JSON / UTF-8 / gzip or a missing transcripts/phrases structure.
    """
    return TranscriptDocument(path, content_encoding=content_encoding).load()
