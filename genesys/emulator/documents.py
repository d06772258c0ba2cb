"""Transcript documents in the Genesys STA JSON shape (genesys-api.md §4.4), written as a stream of chunks.

Large documents are never held in memory: `iter_document` yields one phrase at a time and `BlobStore`
spools them to a temp file once, computing size and MD5 on the way, then serves byte ranges from disk.

`iter_document(dataset, conv)` is the customer leg's whole transcript (what a default conversation serves);
`iter_part_document(dataset, conv, part)` is one `SimPart`: a recording segment's phrases only, or a consult
leg's own transcript. For a conversation with a single customer part the two are byte-identical.
Under the `gzip_transcripts` behaviour `BlobStore` stores the gzip of those bytes (what "S3" then serves).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .data import (
    TRANSCRIPT_START_OFFSET_MS,
    Dataset,
    SimConversation,
    SimPart,
    SimPhrase,
    SimTranscript,
    all_phrases,
    epoch_ms,
)

CHUNK_SIZE = 64 * 1024
_BAD_UTF8_SENTINEL = "@@INVALID_UTF8@@"
_TRANSCRIPT_START_OFFSET_MS = TRANSCRIPT_START_OFFSET_MS
_GZIP_WBITS = 31  # zlib's gzip container: no file name and mtime 0, so the bytes are deterministic

# Topic spotting: a topic fires on the first phrase containing its phrase.
TOPICS = (
    ("Greeting", "thanks for calling"),
    ("Identity Verification", "verify your identity"),
    ("Card Payment", "payment"),
    ("Lost Card", "lost my card"),
    ("Billing Dispute", "charge on my statement"),
    ("Address Change", "update my address"),
    ("Complaint", "not happy"),
    ("Hold", "short hold"),
    ("Closing", "anything else i can help"),
    # Said only in lifelike calls (data.py), so the plain documents stay as they were.
    ("Fraud", "fraud"),
    ("Cancellation", "cancel my"),
    ("Delivery", "hasn't arrived"),
)


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def iter_document(dataset: Dataset, conv: SimConversation) -> Iterator[bytes]:
    """Yield the transcript document for `conv` in pieces; joined they are the exact S3 object bytes."""
    transcript = conv.transcript
    if transcript is None:
        raise ValueError(f"conversation {conv.conversation_id} has no transcript")
    yield from _corrupted_if_asked(_iter_valid(dataset, conv, transcript), transcript)


def iter_part_document(dataset: Dataset, conv: SimConversation, part: SimPart) -> Iterator[bytes]:
    """Yield the document of one part (segment or consult leg); a lone customer part is `iter_document`."""
    if is_whole_transcript(conv, part):
        yield from iter_document(dataset, conv)
        return
    transcript = conv.transcript if part.leg == "customer" else conv.consult.transcript
    if transcript is None:
        raise ValueError(f"conversation {conv.conversation_id} has no transcript")
    yield from _corrupted_if_asked(_iter_valid(dataset, conv, transcript, part), transcript)


def is_whole_transcript(conv: SimConversation, part: SimPart) -> bool:
    """The part is the customer leg's only one: its document is the conversation's whole transcript."""
    return part.leg == "customer" and sum(p.leg == "customer" for p in conv.parts) == 1


def _corrupted_if_asked(chunks: Iterator[bytes], transcript: SimTranscript) -> Iterator[bytes]:
    if transcript.kind in ("malformed", "invalid_utf8"):
        # Small by construction: corrupt a fully built copy.
        yield _corrupt(b"".join(chunks), transcript)
        return
    yield from chunks


def _iter_valid(
    dataset: Dataset, conv: SimConversation, transcript: SimTranscript, part: SimPart | None = None
) -> Iterator[bytes]:
    start_ms = epoch_ms(conv.start)
    offset_ms = part.start_offset_ms if part else _TRANSCRIPT_START_OFFSET_MS
    end_offset_ms = part.end_offset_ms if part else conv.duration_ms
    transcript_start = start_ms + offset_ms
    duration = {"milliseconds": end_offset_ms - offset_ms}
    header = {
        "organizationId": dataset.organization_id,
        "conversationId": conv.conversation_id,
        "communicationId": transcript.communication_id,
        "mediaType": conv.media_type,
        "conversationStartTime": start_ms,
        "startTime": transcript_start,
        "duration": duration,
    }
    transcript_header = {
        "transcriptId": part.transcript_id if part else transcript.transcript_id,
        "language": transcript.language,
        "programId": transcript.program_id,
        "engineId": transcript.engine_id,
        "startTime": transcript_start,
        "duration": duration,
    }
    yield (_json(header)[:-1] + ',"transcripts":[' + _json(transcript_header)[:-1] + ',"phrases":[').encode()
    buffer: list[str] = []
    emitted = 0
    for phrase in _document_phrases(transcript, part):
        buffer.append(_json(phrase_json(transcript, phrase, start_ms, offset_ms)))
        if len(buffer) >= 32:
            yield _join_phrases(buffer, first=emitted == 0)
            emitted += len(buffer)
            buffer = []
    if buffer:
        yield _join_phrases(buffer, first=emitted == 0)
    analytics = analytics_json(transcript, start_ms, _document_phrases(transcript, part))
    yield ('],"analytics":' + _json(analytics) + '}],"participants":' + _json(participants_json(conv)) + "}").encode()


def _document_phrases(transcript: SimTranscript, part: SimPart | None) -> Iterator[SimPhrase]:
    if part is None:
        yield from all_phrases(transcript)
        return
    wanted = set(part.phrase_indexes)
    yield from (phrase for phrase in all_phrases(transcript) if phrase.index in wanted)


def _join_phrases(items: list[str], *, first: bool) -> bytes:
    return (("" if first else ",") + ",".join(items)).encode()


def _corrupt(document: bytes, transcript: SimTranscript) -> bytes:
    if transcript.kind == "malformed":
        return document[: int(len(document) * 0.6)]  # an upload cut short: truncated JSON
    return document.replace(_BAD_UTF8_SENTINEL.encode(), b"caf\xe9", 1)  # latin-1 bytes, invalid UTF-8


def phrase_json(
    transcript: SimTranscript,
    phrase: SimPhrase,
    conversation_start_ms: int,
    document_offset_ms: int = _TRANSCRIPT_START_OFFSET_MS,
) -> dict:
    """One phrase; `offset` fields are relative to the document's startTime (conversation start + offset)."""
    rng = random.Random(f"{transcript.seed}:words:{phrase.index}")
    tokens = phrase.tokens
    decorated = phrase.decorated
    if transcript.kind == "invalid_utf8" and phrase.index == 1:
        decorated = decorated + " " + _BAD_UTF8_SENTINEL
    weights = [len(t) + 2 + rng.random() * 3 for t in tokens]
    scale = phrase.duration_ms / sum(weights) if weights else 0
    words, cursor = [], phrase.offset_ms
    for token, weight in zip(tokens, weights, strict=True):
        length = max(80, int(weight * scale))
        words.append(
            {
                "word": token,
                "confidence": _word_confidence(rng, phrase.noise),
                "offset": {"milliseconds": cursor - document_offset_ms},
                "startTimeMs": conversation_start_ms + cursor,
                "duration": {"milliseconds": length},
            }
        )
        cursor += length
    confidence = round(sum(w["confidence"] for w in words) / len(words), 3) if words else 0.0
    return {
        "phraseIndex": phrase.index,
        "participantPurpose": phrase.purpose,
        "text": phrase.text,
        "decoratedText": decorated,
        "stability": rng.choice((1.0, 1.0, 1.0, 0.98, 0.95, 0.9, 0.82)),
        "confidence": confidence,
        "offset": {"milliseconds": phrase.offset_ms - document_offset_ms},
        "startTimeMs": conversation_start_ms + phrase.offset_ms,
        "duration": {"milliseconds": phrase.duration_ms},
        "words": words,
        "alternatives": [],
        "type": "phrase",
    }


def _word_confidence(rng: random.Random, noise: float = 0.0) -> float:
    # Skewed towards high confidence with a long low tail, like real ASR output (0.35-0.99). A harder phrase
    # (`noise`, 0..1: a poor line, a mumbling speaker) has a fatter low tail and a lower peak.
    if rng.random() < 0.07 + 0.33 * noise:
        return round(rng.uniform(0.35, 0.7), 3)
    return round(0.35 + 0.64 * rng.betavariate(6 - 3.5 * noise, 1.3), 3)


def analytics_json(
    transcript: SimTranscript, conversation_start_ms: int, phrases: Iterable[SimPhrase] | None = None
) -> dict:
    """Sentiment and topic events of `phrases` (default: every phrase of the transcript)."""
    sentiment, topics, seen_topics = [], [], set()
    for phrase in all_phrases(transcript) if phrases is None else phrases:
        text = phrase.text
        if phrase.sentiment is not None:
            sentiment.append(
                {
                    "participant": phrase.purpose,
                    "phrase": text,
                    "phraseIndex": phrase.index,
                    "sentiment": phrase.sentiment,
                    "startTimeMs": conversation_start_ms + phrase.offset_ms,
                }
            )
        for name, needle in TOPICS:
            if name not in seen_topics and needle in text:
                seen_topics.add(name)
                topics.append(
                    {
                        "participant": phrase.purpose,
                        "topicId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"transcript-vault/topic/{name}")),
                        "topicName": name,
                        "topicPhrase": needle,
                        "transcriptPhrase": needle,
                        "confidence": 0.9,
                        "startTimeMs": conversation_start_ms + phrase.offset_ms,
                    }
                )
    return {"sentiment": sentiment, "topics": topics, "acoustic": []}


def participants_json(conv: SimConversation) -> list[dict]:
    start_ms, end_ms = epoch_ms(conv.start), epoch_ms(conv.end)
    participants = []
    if conv.direction == "inbound":
        participants.append(
            {"participantPurpose": "ivr", "startTimeMs": start_ms, "endTimeMs": start_ms + conv.agent_join_ms}
        )
    customer = {
        "participantPurpose": conv.customer_purpose,
        "initialDirection": conv.direction,
        "ani": conv.customer_ani,
        "dnis": conv.dnis,
        "startTimeMs": start_ms + conv.external_join_ms,
        "endTimeMs": end_ms,
    }
    agent = {
        "participantPurpose": "agent",
        "userId": conv.user_id,
        "queueId": conv.queue_id,
        "divisionId": conv.division_id,
        "initialDirection": conv.direction,
        "startTimeMs": start_ms + (0 if conv.agent_first else conv.agent_join_ms),
        "endTimeMs": end_ms,
    }
    # An agent-placed call starts with the agent dialling; the external party joins when they answer.
    participants += [agent, customer] if conv.agent_first else [customer, agent]
    if conv.consult is not None:
        consult = conv.consult
        participants.append(
            {
                "participantPurpose": "agent",
                "userId": consult.user_id,
                "queueId": consult.queue_id,
                "divisionId": consult.division_id,
                "initialDirection": conv.direction,
                "startTimeMs": start_ms + consult.join_ms,
                "endTimeMs": start_ms + consult.end_ms,
            }
        )
    return participants


# ---------------------------------------------------------------------------------------------- blobs


@dataclass(frozen=True)
class Blob:
    """An immutable object as "S3" stores it: bytes in memory or a spooled file, with size and MD5."""

    size: int
    md5_hex: str
    content_type: str
    data: bytes | None = None
    path: str | None = None
    content_encoding: str | None = None  # "gzip": the stored bytes are compressed (S3 serves them as they are)

    def iter_range(self, start: int, end: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Bytes [start, end] inclusive, in chunks; never reads the whole object."""
        remaining = end - start + 1
        with self._open() as fp:
            fp.seek(start)
            while remaining > 0:
                chunk = fp.read(min(chunk_size, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def read_all(self) -> bytes:
        return b"".join(self.iter_range(0, self.size - 1)) if self.size else b""

    def _open(self):
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")  # noqa: SIM115


def blob_from_bytes(data: bytes, content_type: str) -> Blob:
    return Blob(len(data), hashlib.md5(data).hexdigest(), content_type, data=data)


class BlobStore:
    """Builds each object once, on first request; large documents are spooled to `directory`."""

    def __init__(self, dataset: Dataset, directory: str) -> None:
        self._dataset = dataset
        self._directory = directory
        self._blobs: dict[str, Blob] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def transcript(self, conv: SimConversation) -> Blob:
        return self._get(f"transcript:{conv.conversation_id}", lambda: self._build_transcript(conv))

    def part(self, conv: SimConversation, part: SimPart, *, gzip: bool = False) -> Blob:
        """The S3 object of one transcript part; `gzip` stores it compressed with Content-Encoding gzip."""
        if not gzip and is_whole_transcript(conv, part):
            return self.transcript(conv)  # the default document: one blob, whichever way it is asked for
        return self._get(f"part:{part.key}" + (":gzip" if gzip else ""), lambda: self._build_part(conv, part, gzip))

    def recording(self, conv: SimConversation) -> Blob:
        return self._get(f"recording:{conv.conversation_id}", lambda: blob_from_bytes(conv.wav_bytes(), "audio/wav"))

    def screen(self, conv: SimConversation, recording_id: str) -> Blob:
        return self._get(
            f"screen:{recording_id}", lambda: blob_from_bytes(screen_webm_bytes(recording_id), "video/webm")
        )

    def _get(self, key: str, build) -> Blob:
        with self._guard:
            blob = self._blobs.get(key)
            if blob is not None:
                return blob
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # single-flight: concurrent first requests build once
            blob = self._blobs.get(key)
            if blob is None:
                blob = build()
                with self._guard:
                    self._blobs[key] = blob
            return blob

    def _build_part(self, conv: SimConversation, part: SimPart, gzip: bool) -> Blob:
        chunks = iter_part_document(self._dataset, conv, part)
        if gzip:
            chunks = _gzipped(chunks)
        encoding = "gzip" if gzip else None
        if part.kind != "large":
            data = b"".join(chunks)
            return Blob(
                len(data), hashlib.md5(data).hexdigest(), "application/json", data=data, content_encoding=encoding
            )
        name = f"{re.sub(r'[^0-9a-f-]', '', conv.conversation_id)}-{re.sub(r'[^0-9a-f-]', '', part.recording_id)}"
        return self._spool(chunks, name + (".json.gz" if gzip else ".json"), encoding)

    def _spool(self, chunks: Iterator[bytes], name: str, encoding: str | None) -> Blob:
        os.makedirs(self._directory, exist_ok=True)
        path = os.path.join(self._directory, name)
        digest, size = hashlib.md5(), 0
        with open(path + ".part", "wb") as fp:
            for chunk in chunks:
                fp.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        os.replace(path + ".part", path)
        return Blob(size, digest.hexdigest(), "application/json", path=path, content_encoding=encoding)

    def _build_transcript(self, conv: SimConversation) -> Blob:
        chunks = iter_document(self._dataset, conv)
        if conv.transcript.kind != "large":
            return blob_from_bytes(b"".join(chunks), "application/json")
        os.makedirs(self._directory, exist_ok=True)
        path = os.path.join(self._directory, f"{re.sub(r'[^0-9a-f-]', '', conv.conversation_id)}.json")
        digest, size = hashlib.md5(), 0
        with open(path + ".part", "wb") as fp:
            for chunk in chunks:
                fp.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        os.replace(path + ".part", path)
        return Blob(size, digest.hexdigest(), "application/json", path=path)


def part_object_key(conv: SimConversation, part: SimPart) -> str:
    """The emulator's internal object key (blobs, fault decisions); the default part keeps the historic key."""
    if part.leg == "customer" and part.key.endswith(f"/{conv.communication_ids[0]}-transcripts"):
        return f"transcript:{conv.conversation_id}"
    return f"transcript:{conv.conversation_id}:{part.recording_id}"


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS)
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


def screen_webm_bytes(recording_id: str) -> bytes:
    """A small deterministic stand-in for a WebM screen recording: the EBML magic, a DocType, filler."""
    rng = random.Random(f"screen:{recording_id}")
    header = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"
    return header + bytes(rng.getrandbits(8) for _ in range(4096))
