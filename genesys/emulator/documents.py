"""Transcript documents in the Genesys STA JSON shape (genesys-api.md §4.4), written as a stream of chunks.

Large documents are never held in memory: `iter_document` yields one phrase at a time and `BlobStore`
spools them to a temp file once, computing size and MD5 on the way, then serves byte ranges from disk.
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
from collections.abc import Iterator
from dataclasses import dataclass

from .data import Dataset, SimConversation, SimPhrase, SimTranscript, all_phrases, epoch_ms

CHUNK_SIZE = 64 * 1024
_BAD_UTF8_SENTINEL = "@@INVALID_UTF8@@"
_TRANSCRIPT_START_OFFSET_MS = 120  # the ASR session starts a moment after the conversation

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
)


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def iter_document(dataset: Dataset, conv: SimConversation) -> Iterator[bytes]:
    """Yield the transcript document for `conv` in pieces; joined they are the exact S3 object bytes."""
    transcript = conv.transcript
    if transcript is None:
        raise ValueError(f"conversation {conv.conversation_id} has no transcript")
    if transcript.kind in ("malformed", "invalid_utf8"):
        # Small by construction: corrupt a fully built copy.
        yield _corrupt(b"".join(_iter_valid(dataset, conv, transcript)), transcript)
        return
    yield from _iter_valid(dataset, conv, transcript)


def _iter_valid(dataset: Dataset, conv: SimConversation, transcript: SimTranscript) -> Iterator[bytes]:
    start_ms = epoch_ms(conv.start)
    transcript_start = start_ms + _TRANSCRIPT_START_OFFSET_MS
    duration = {"milliseconds": conv.duration_ms - _TRANSCRIPT_START_OFFSET_MS}
    header = {
        "organizationId": dataset.organization_id,
        "conversationId": conv.conversation_id,
        "communicationId": transcript.communication_id,
        "mediaType": "call",
        "conversationStartTime": start_ms,
        "startTime": transcript_start,
        "duration": duration,
    }
    transcript_header = {
        "transcriptId": transcript.transcript_id,
        "language": "en-US",
        "programId": transcript.program_id,
        "engineId": transcript.engine_id,
        "startTime": transcript_start,
        "duration": duration,
    }
    yield (_json(header)[:-1] + ',"transcripts":[' + _json(transcript_header)[:-1] + ',"phrases":[').encode()
    buffer: list[str] = []
    for phrase in all_phrases(transcript):
        buffer.append(_json(phrase_json(transcript, phrase, start_ms)))
        if len(buffer) >= 32:
            yield _join_phrases(buffer, first=phrase.index < 32)
            buffer = []
    if buffer:
        yield _join_phrases(buffer, first=transcript.phrase_count <= len(buffer))
    analytics = analytics_json(transcript, start_ms)
    yield ('],"analytics":' + _json(analytics) + '}],"participants":' + _json(participants_json(conv)) + "}").encode()


def _join_phrases(items: list[str], *, first: bool) -> bytes:
    return (("" if first else ",") + ",".join(items)).encode()


def _corrupt(document: bytes, transcript: SimTranscript) -> bytes:
    if transcript.kind == "malformed":
        return document[: int(len(document) * 0.6)]  # an upload cut short: truncated JSON
    return document.replace(_BAD_UTF8_SENTINEL.encode(), b"caf\xe9", 1)  # latin-1 bytes, invalid UTF-8


def phrase_json(transcript: SimTranscript, phrase: SimPhrase, conversation_start_ms: int) -> dict:
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
                "confidence": _word_confidence(rng),
                "offset": {"milliseconds": cursor - _TRANSCRIPT_START_OFFSET_MS},
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
        "offset": {"milliseconds": phrase.offset_ms - _TRANSCRIPT_START_OFFSET_MS},
        "startTimeMs": conversation_start_ms + phrase.offset_ms,
        "duration": {"milliseconds": phrase.duration_ms},
        "words": words,
        "alternatives": [],
        "type": "phrase",
    }


def _word_confidence(rng: random.Random) -> float:
    # Skewed towards high confidence with a long low tail, like real ASR output (0.35-0.99).
    if rng.random() < 0.07:
        return round(rng.uniform(0.35, 0.7), 3)
    return round(0.35 + 0.64 * rng.betavariate(6, 1.3), 3)


def analytics_json(transcript: SimTranscript, conversation_start_ms: int) -> dict:
    sentiment, topics, seen_topics = [], [], set()
    for phrase in all_phrases(transcript):
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
    participants.append(
        {
            "participantPurpose": conv.customer_purpose,
            "initialDirection": conv.direction,
            "ani": conv.customer_ani,
            "dnis": conv.dnis,
            "startTimeMs": start_ms,
            "endTimeMs": end_ms,
        }
    )
    participants.append(
        {
            "participantPurpose": "agent",
            "userId": conv.user_id,
            "queueId": conv.queue_id,
            "divisionId": conv.division_id,
            "initialDirection": conv.direction,
            "startTimeMs": start_ms + conv.agent_join_ms,
            "endTimeMs": end_ms,
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

    def recording(self, conv: SimConversation) -> Blob:
        return self._get(f"recording:{conv.conversation_id}", lambda: blob_from_bytes(conv.wav_bytes(), "audio/wav"))

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
