from __future__ import annotations

import io

from genesys.transcript import parse_transcript
from reviews.asr.document import PHRASE_MAX_WORDS, PHRASE_PAUSE_MS, RecordingPlacement, phrases_of, transcript_document
from reviews.asr.engine import RecognisedWord, Recognition

PLACEMENT = RecordingPlacement(
    conversation_id="conv-1",
    communication_id="comm-1",
    recording_id="rec-1",
    conversation_start_ms=1_700_000_000_000,
    recording_offset_ms=2_000,
)


def word(text: str, start_ms: int, confidence: float = 0.5) -> RecognisedWord:
    return RecognisedWord(text=text, start_ms=start_ms, end_ms=start_ms + 200, confidence=confidence)


def recognition(words: list[RecognisedWord]) -> Recognition:
    return Recognition(words=words, engine="pocketsphinx", model="m", audio_ms=10_000, cpu_seconds=1.0)


def test_it_starts_a_new_phrase_after_a_pause():
    words = [word("hello", 0), word("there", 300), word("yes", 500 + PHRASE_PAUSE_MS)]

    assert [[w.text for w in phrase] for phrase in phrases_of(words)] == [["hello", "there"], ["yes"]]


def test_it_cuts_a_long_monologue_into_phrases():
    words = [word("word", i * 250) for i in range(PHRASE_MAX_WORDS + 3)]

    assert [len(phrase) for phrase in phrases_of(words)] == [PHRASE_MAX_WORDS, 3]


def test_it_writes_a_document_the_genesys_parser_reads_with_absolute_times():
    document = parse_transcript(
        io.BytesIO(transcript_document(recognition([word("hi", 100, 0.25)]), placement=PLACEMENT))
    )

    (phrase,) = list(document.phrases())
    assert (document.conversation_id, document.communication_id) == ("conv-1", "comm-1")
    assert document.transcripts[0].transcript_id == "vault-asr-rec-1"
    assert (document.transcripts[0].language, document.transcripts[0].engine_id) == ("en-us", "")
    assert (phrase.text, phrase.participant_purpose, phrase.confidence) == ("hi", None, 0.25)
    assert phrase.start_time_ms == PLACEMENT.conversation_start_ms + 2_000 + 100
    assert [(w.word, w.confidence, w.duration_ms) for w in phrase.words] == [("hi", 0.25, 200)]
    assert document.participants == []
