from __future__ import annotations

import io
import json
import re
import wave
from datetime import timedelta

import phonenumbers
import pytest
from stdnum import iban, luhn
from stdnum.us import ssn

from genesys.emulator import generate_dataset
from genesys.emulator.data import DIGIT_WORDS, HOSTILE_TEXT, MASK_TOKENS
from genesys.emulator.documents import iter_document
from tests.emulator.support import END, START


@pytest.fixture(scope="module")
def big():
    return generate_dataset(5, 200, START, END, malformed=2, hostile_text=True)


_DOCUMENTS: dict[tuple[int, str], dict] = {}


def document(dataset, conv) -> dict:
    key = (id(dataset), conv.conversation_id)
    if key not in _DOCUMENTS:  # building words is the slow part; several tests read the same documents
        _DOCUMENTS[key] = json.loads(b"".join(iter_document(dataset, conv)))
    return _DOCUMENTS[key]


def test_it_is_deterministic_for_a_seed(dataset):
    again = generate_dataset(11, 60, START, END, large=1, large_mb=3, malformed=2)
    assert [c.conversation_id for c in again.conversations] == [c.conversation_id for c in dataset.conversations]
    conv, twin = dataset.conversations[3], again.conversations[3]
    if conv.transcript:
        assert b"".join(iter_document(dataset, conv)) == b"".join(iter_document(again, twin))
    assert conv.wav_bytes() == twin.wav_bytes()
    other = generate_dataset(12, 60, START, END)
    assert other.conversations[0].conversation_id != dataset.conversations[0].conversation_id


def test_it_mixes_readiness_and_kinds_in_the_documented_shares(big):
    summary = big.summary()
    assert summary["conversations"] == 200
    assert summary["never_ready"] == 16 and summary["delayed"] == 30
    assert summary["leaky"] == 24 and summary["no_markers"] == 4 and summary["empty"] == 2
    assert summary["malformed"] == 1 and summary["invalid_utf8"] == 1
    assert all(60 <= c.duration_ms / 1000 <= 13 * 60 for c in big.conversations)
    assert {c.direction for c in big.conversations} == {"inbound", "outbound"}
    assert len(big.queues) == 6 and len({q["division_id"] for q in big.queues}) == 3 and len(big.users) == 20
    for conv in big.conversations:
        assert conv.start >= START and conv.end <= END
        if conv.transcript and not conv.transcript.delayed:
            assert 60 <= conv.transcript.ready_delay_s <= 180
        if conv.transcript and conv.transcript.delayed:
            assert 30 <= conv.transcript.ready_delay_s <= 300


def test_it_writes_documents_in_the_genesys_shape(big):
    conv = next(c for c in big.conversations if c.transcript and c.transcript.kind == "normal")
    doc = document(big, conv)
    assert doc["conversationId"] == conv.conversation_id and doc["communicationId"] == conv.communication_ids[0]
    assert doc["mediaType"] == "call" and doc["duration"]["milliseconds"] > 0
    transcript = doc["transcripts"][0]
    assert transcript["language"] == "en-US" and transcript["transcriptId"] == conv.transcript.transcript_id
    phrases = transcript["phrases"]
    assert len(phrases) == conv.transcript.phrase_count
    assert {p["participantPurpose"] for p in phrases} == {"internal", "external"}
    for phrase in phrases:
        assert phrase["text"] == phrase["text"].lower()
        assert phrase["text"] == " ".join(w["word"] for w in phrase["words"])
        assert phrase["startTimeMs"] == doc["conversationStartTime"] + phrase["offset"]["milliseconds"] + 120
        assert all(0.35 <= w["confidence"] <= 0.99 for w in phrase["words"])
    assert set(transcript["analytics"]) == {"sentiment", "topics", "acoustic"}
    assert {p["participantPurpose"] for p in doc["participants"]} >= {"agent"}


def test_it_keeps_each_mask_token_as_one_word_and_counts_them(big):
    for conv in big.conversations:
        if not conv.transcript or conv.transcript.kind != "normal":
            continue
        words = [w["word"] for p in document(big, conv)["transcripts"][0]["phrases"] for w in p["words"]]
        masks = [w[1:-1] for w in words if w.startswith("[")]
        assert all(m in MASK_TOKENS for m in masks)
        assert len(masks) == sum(conv.transcript.mask_counts.values())


def _phrases(dataset, conv) -> list[dict]:
    return document(dataset, conv)["transcripts"][0]["phrases"]


def _digits(text: str) -> str:
    spoken = {word: str(i) for i, word in enumerate(DIGIT_WORDS)}
    return "".join(spoken.get(t, re.sub(r"\D", "", t)) for t in text.split())


def test_it_records_leak_ground_truth_that_validates(big):
    kinds_seen = set()
    for conv in big.conversations:
        if not conv.transcript or not conv.transcript.leaks:
            continue
        phrases = _phrases(big, conv)
        for leak in conv.transcript.leaks:
            index, kind = leak["phraseIndex"], leak["kind"]
            kinds_seen.add(kind)
            phrase = phrases[index]
            assert phrase["participantPurpose"] == "external"
            text = phrase["text"]
            if kind == "card_number":
                number = _digits(text)
                if len(number) < 16:  # spoken and split across two customer phrases
                    number += _digits(phrases[index + 1]["text"])
                assert len(number) == 16 and luhn.is_valid(number)
            elif kind == "ssn":
                value = re.search(r"\d{3}[- ]\d{2}[- ]\d{4}", text).group()
                assert ssn.is_valid(value.replace(" ", "-"))
            elif kind == "email":
                assert "@" in text or " at " in text and " dot " in text
            elif kind == "phone":
                raw = text.split("call me on ", 1)[1]
                region = "GB" if raw.startswith("+44") else "US"
                assert phonenumbers.is_valid_number(phonenumbers.parse(raw, region))
            elif kind == "iban":
                assert iban.is_valid(text.split("is ", 1)[1].upper())
    assert kinds_seen == {"card_number", "ssn", "email", "phone", "iban"}


def test_it_keeps_pii_lookalikes_out_of_clean_transcripts(big):
    for conv in big.conversations:
        if not conv.transcript or conv.transcript.leaks or conv.transcript.kind != "normal":
            continue
        for phrase in _phrases(big, conv):
            assert not re.search(r"\d{4}", phrase["text"]), phrase["text"]
            assert "@" not in phrase["text"] and " dot " not in phrase["text"]
            assert len(re.findall(r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine)\b", phrase["text"])) < 3


def test_it_has_transcripts_without_any_markers(big):
    bare = [
        c for c in big.conversations if c.transcript and c.transcript.kind == "normal" and not c.transcript.mask_counts
    ]
    assert bare and all("[" not in p["text"] for c in bare for p in _phrases(big, c))


def test_it_corrupts_only_the_requested_documents(big):
    broken = {c.transcript.kind: c for c in big.conversations if c.transcript and c.transcript.kind != "normal"}
    with pytest.raises(ValueError):
        json.loads(b"".join(iter_document(big, broken["malformed"])))
    raw = b"".join(iter_document(big, broken["invalid_utf8"]))
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert document(big, broken["empty"])["transcripts"][0]["phrases"] == []


def test_it_adds_hostile_text_only_on_request(big, dataset):
    hostile = [c for c in big.conversations if c.transcript and c.transcript.hostile]
    assert len(hostile) == 1
    assert any(HOSTILE_TEXT in p["decoratedText"] for p in _phrases(big, hostile[0]))
    assert not any(c.transcript and c.transcript.hostile for c in dataset.conversations)


def test_it_sizes_large_documents_and_keeps_them_parseable(dataset):
    conv = next(c for c in dataset.conversations if c.transcript and c.transcript.kind == "large")
    raw = b"".join(iter_document(dataset, conv))
    assert 2_400_000 < len(raw) < 3_600_000
    assert len(json.loads(raw)["transcripts"][0]["phrases"]) == conv.transcript.phrase_count


def test_it_renders_a_real_wav_aligned_to_the_conversation(dataset):
    conv = dataset.conversations[0]
    with wave.open(io.BytesIO(conv.wav_bytes())) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 1, 8000)
        assert wav.getnframes() == conv.duration_ms * 8  # as long as the call, however long
    assert len(conv.wav_bytes()) == conv.wav_size()


def test_it_adds_live_traffic_after_the_window(dataset):
    live = generate_dataset(3, 100, START, END, live_until=END + timedelta(minutes=30))
    later = [c for c in live.conversations if c.end > END]
    assert 10 <= len(later) <= 30 and all(c.end <= END + timedelta(minutes=30) for c in later)
