"""A Recognition as a transcript document in Genesys' own shape, so the one ingest path stores it.

reviews/pipeline/ingest.store_transcript then writes utterances, runs the leak detector and masking, fills the
search index, the metrics and the compliance outbox exactly as for a Genesys document. Words are grouped into
phrases at pauses, as Genesys' phrases are. Who spoke is unknown (one channel, no diarisation): phrases carry no
participantPurpose and the document lists no participants, so no phrase is ever attributed to the agent or the
customer by guesswork.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from reviews.asr.engine import RecognisedWord, Recognition

# A silence this long between two words starts a new phrase; phrases are also cut at this many words so a
# monologue still reads (and is searched and masked) in sentence-sized pieces.
PHRASE_PAUSE_MS = 700
PHRASE_MAX_WORDS = 40
LANGUAGE = "en-us"
TRANSCRIPT_ID_PREFIX = "vault-asr-"


@dataclass(frozen=True)
class RecordingPlacement:
    """Where a recording sits: the call it belongs to and how far into the call it starts."""

    conversation_id: str
    communication_id: str
    recording_id: str
    conversation_start_ms: int
    recording_offset_ms: int


def phrases_of(words: list[RecognisedWord]) -> list[list[RecognisedWord]]:
    phrases: list[list[RecognisedWord]] = []
    for word in words:
        current = phrases[-1] if phrases else None
        if current and word.start_ms - current[-1].end_ms < PHRASE_PAUSE_MS and len(current) < PHRASE_MAX_WORDS:
            current.append(word)
        else:
            phrases.append([word])
    return phrases


def transcript_document(recognition: Recognition, *, placement: RecordingPlacement) -> bytes:
    """The JSON document (UTF-8 bytes) of one recording's recognition; times are absolute epoch milliseconds."""
    origin = placement.conversation_start_ms + placement.recording_offset_ms
    phrases = [
        _phrase_json(index, words, origin_ms=origin) for index, words in enumerate(phrases_of(recognition.words))
    ]
    document = {
        "conversationId": placement.conversation_id,
        "communicationId": placement.communication_id,
        "mediaType": "call",
        "conversationStartTime": placement.conversation_start_ms,
        "participants": [],
        "transcripts": [
            {
                "transcriptId": f"{TRANSCRIPT_ID_PREFIX}{placement.recording_id}"[:64],
                "language": LANGUAGE,
                # Genesys' engine id stays empty: the engine and model are named on the Transcript row instead.
                "engineId": "",
                "programId": "",
                "phrases": phrases,
            }
        ],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _phrase_json(index: int, words: list[RecognisedWord], *, origin_ms: int) -> dict:
    text = " ".join(word.text for word in words)
    start_ms = words[0].start_ms
    return {
        "phraseIndex": index,
        "text": text,
        "decoratedText": text,
        "confidence": round(sum(word.confidence for word in words) / len(words), 4),
        "startTimeMs": origin_ms + start_ms,
        "duration": {"milliseconds": words[-1].end_ms - start_ms},
        "words": [
            {
                "word": word.text,
                "confidence": word.confidence,
                "startTimeMs": origin_ms + word.start_ms,
                "duration": {"milliseconds": word.end_ms - word.start_ms},
            }
            for word in words
        ],
    }
