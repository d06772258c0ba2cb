from __future__ import annotations

import io
import json
import re
import wave
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from django.conf import settings
from stdnum import iban, luhn
from stdnum.us import ssn

from genesys.emulator import generate_dataset
from genesys.emulator.data import (
    DIGIT_WORDS,
    FILLER,
    HOSTILE_TEXT,
    MASK_TOKENS,
    POOR_LINE_QUEUE,
    WEAKER_AGENTS,
    locale_of,
)
from genesys.emulator.documents import iter_document
from reviews.evaluations.auto import answer_question
from reviews.evaluations.starter import STARTER_QUESTIONS
from reviews.models import EvaluationAnswer, EvaluationQuestion, Utterance
from reviews.redaction import RedactionScanner, UtteranceText
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


# ---------------------------------------------------------------------------------------------- lifelike (make demo)

DEMO_NOW = datetime(2026, 5, 29, 15, 0, tzinfo=UTC)
DEMO_START = DEMO_NOW - timedelta(days=30)
DEMO_LIVE_UNTIL = DEMO_NOW + timedelta(minutes=30)
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"


@pytest.fixture(scope="module")
def demo():
    """What `make demo` serves (bin/demo.py: seed 7, 300 calls, 30 days), without the slow large document."""
    return generate_dataset(7, 300, DEMO_START, DEMO_NOW, live_until=DEMO_LIVE_UNTIL, lifelike=True)


def _transcribed(dataset):
    return [c for c in dataset.conversations if c.transcript and c.transcript.kind == "normal"]


def test_it_builds_the_same_lifelike_calls_for_a_seed(demo):
    again = generate_dataset(7, 300, DEMO_START, DEMO_NOW, live_until=DEMO_LIVE_UNTIL, lifelike=True)
    assert [(c.conversation_id, c.start, c.end) for c in again.conversations] == [
        (c.conversation_id, c.start, c.end) for c in demo.conversations
    ]
    conv, twin = _transcribed(demo)[5], _transcribed(again)[5]
    assert b"".join(iter_document(demo, conv)) == b"".join(iter_document(again, twin))


def test_it_spreads_the_demo_calls_over_thirty_days_of_business_hours(demo):
    convs = demo.conversations
    assert all(c.start >= DEMO_START and c.end <= DEMO_LIVE_UNTIL for c in convs)
    assert 5 <= sum(c.end > DEMO_NOW for c in convs) <= 30  # a little live traffic, not a fifth of the month
    assert min(c.start for c in convs) < DEMO_START + timedelta(days=1)
    for week in range(4):  # every week of the month has its share, so weekly trends have points
        since = DEMO_START + timedelta(days=7 * week)
        assert sum(since <= c.start < since + timedelta(days=7) for c in convs) >= 45
    assert len({c.start.date() for c in convs}) >= 28
    in_hours, weekday_calls, weekend_calls = 0, 0, 0
    for conv in convs:
        local = conv.start + timedelta(hours=locale_of(demo.queue(conv.queue_id)).utc_offset_hours)
        in_hours += 8 <= local.hour < 20
        if local.weekday() < 5:
            weekday_calls += 1
        else:
            weekend_calls += 1
    assert in_hours / len(convs) >= 0.85
    assert weekday_calls / 22 > 2 * weekend_calls / 8  # per day: the month has 22 weekdays, 8 weekend days


def test_it_writes_hundreds_of_distinct_sentences_and_no_looped_dialogue(demo):
    sentences = set()
    for conv in _transcribed(demo):
        said = [p.decorated for p in conv.transcript.phrases]
        sentences.update(said)
        longer = [text for text in said if len(text.split()) >= 4]
        assert len(longer) == len(set(longer)), conv.conversation_id  # a call never repeats a sentence
    assert len(sentences) >= 300
    plain = generate_dataset(7, 300, DEMO_START, DEMO_NOW)
    plain_sentences = {p.decorated for c in _transcribed(plain) for p in c.transcript.phrases}
    assert len(sentences) > 3 * len(plain_sentences)  # what lifelike is for: the plain scripts loop a short dialogue


def _mean(values) -> float:
    return sum(values) / len(values)


def test_it_makes_the_weaker_agents_and_the_poor_line_queue_less_confident_and_sadder(demo):
    agent_words, customer_words, sentiment = {}, {}, {}
    for conv in _transcribed(demo):
        agent = demo.user(conv.user_id)["name"]
        queue = demo.queue(conv.queue_id)["name"].split(" - ", 1)[1]
        for phrase in _phrases(demo, conv):
            words = [w["confidence"] for w in phrase["words"]]
            after_ivr = phrase["offset"]["milliseconds"] >= conv.agent_join_ms
            if phrase["participantPurpose"] == "internal" and after_ivr:
                agent_words.setdefault(agent, []).extend(words)
            elif phrase["participantPurpose"] == "external":
                customer_words.setdefault(queue, []).extend(words)
        events = document(demo, conv)["transcripts"][0]["analytics"]["sentiment"]
        sentiment.setdefault(agent, []).extend(e["sentiment"] for e in events)
    by_agent = {name: _mean(values) for name, values in agent_words.items()}
    others = {name: mean for name, mean in by_agent.items() if name not in WEAKER_AGENTS}
    assert set(WEAKER_AGENTS) <= set(by_agent)
    assert all(by_agent[name] < min(others.values()) - 0.02 for name in WEAKER_AGENTS), by_agent
    by_queue = {name: _mean(values) for name, values in customer_words.items()}
    assert all(by_queue[POOR_LINE_QUEUE] < mean - 0.04 for name, mean in by_queue.items() if name != POOR_LINE_QUEUE)
    for name in WEAKER_AGENTS:  # more negative than the colleagues who take the same division's calls
        division = demo.user(next(u["id"] for u in demo.users if u["name"] == name))["division_id"]
        peers = [u["name"] for u in demo.users if u["division_id"] == division and u["name"] not in WEAKER_AGENTS]
        assert _mean(sentiment[name]) < min(_mean(sentiment[peer]) for peer in peers if peer in sentiment)


def test_it_lets_the_starter_scorecard_tell_the_weaker_agents_apart(demo):
    """The starter form's automatic questions (reviews/evaluations/starter.py), answered as the vault answers them."""
    questions = [EvaluationQuestion(**fields) for _, fields in STARTER_QUESTIONS if fields.get("auto_rule")]
    passed: dict[tuple[bool, str], list[bool]] = {}
    for conv in _transcribed(demo):
        weaker = demo.user(conv.user_id)["name"] in WEAKER_AGENTS
        origin = document(demo, conv)["conversationStartTime"]
        utterances = [
            Utterance(
                speaker=p["participantPurpose"],
                start_ms=p["startTimeMs"] - origin,
                end_ms=p["startTimeMs"] - origin + p["duration"]["milliseconds"],
                text=p["decoratedText"],
            )
            for p in _phrases(demo, conv)
        ]
        for question in questions:
            answer = answer_question(question, utterances, duration_ms=conv.duration_ms)
            passed.setdefault((weaker, question.text), []).append(answer.value == EvaluationAnswer.YES)
    gaps = []
    for question in questions:
        good, weak = _mean(passed[(False, question.text)]), _mean(passed[(True, question.text)])
        # Most calls pass (silence, the hardest, two in three), the weaker agents' calls pass less.
        floor = 0.6 if question.auto_rule == EvaluationQuestion.AutoRule.SILENCE_SHARE else 0.88
        assert good >= floor and weak < good, (question.text, good, weak)
        gaps.append(good - weak)
    assert _mean(gaps) >= 0.25, gaps
    assert _mean(passed[(True, "No prohibited wording from the agent")]) < 1.0  # now and then, never from the others
    assert _mean(passed[(False, "No prohibited wording from the agent")]) == 1.0


GB_ONLY = ("£", "postcode", "working days", "current account", "cash machine", "recognise")
US_ONLY = ("$", "zip code", "business days", "checking account", "ATM", "recognize")


def test_it_keeps_one_locale_per_call(demo):
    seen = set()
    for conv in demo.conversations:
        locale = locale_of(demo.queue(conv.queue_id))
        seen.add(locale.language)
        country = "+44" if locale.language == "en-GB" else "+1"
        assert conv.customer_ani.startswith(f"tel:{country}") and conv.dnis.startswith(f"tel:{country}")
        region = locale.language[-2:]
        assert phonenumbers.is_valid_number(phonenumbers.parse(conv.customer_ani[4:], region))
        if not conv.transcript or conv.transcript.kind != "normal":
            continue
        doc = document(demo, conv)
        assert doc["transcripts"][0]["language"] == locale.language
        text = " ".join(p["decoratedText"] for p in _phrases(demo, conv))
        foreign = US_ONLY if locale.language == "en-GB" else GB_ONLY
        assert not [word for word in foreign if word in text], (locale.language, text)
        if locale.language == "en-GB":
            assert not re.search(rf"\b(?:{MONTHS}) \d", text)  # 3rd December, never December 3rd
        else:
            assert not re.search(rf"\d(?:st|nd|rd|th) (?:{MONTHS})", text)
        for leak in conv.transcript.leaks:
            leaked = _phrases(demo, conv)[leak["phraseIndex"]]["text"]
            if leak["kind"] == "phone":
                raw = leaked.split("call me on ", 1)[1]
                assert phonenumbers.is_valid_number(phonenumbers.parse(raw, region)), raw
            assert leak["kind"] != "ssn" or locale.language == "en-US"
            assert leak["kind"] != "iban" or locale.language == "en-GB"
    assert seen == {"en-US", "en-GB"}
    assert any("$" in p["decoratedText"] for c in _transcribed(demo) for p in _phrases(demo, c))
    assert any("£" in p["decoratedText"] for c in _transcribed(demo) for p in _phrases(demo, c))


def _scan(dataset, conv):
    doc = document(dataset, conv)
    origin = doc["conversationStartTime"]
    scanner = RedactionScanner(phone_regions=settings.PII_PHONE_REGIONS)
    for index, p in enumerate(doc["transcripts"][0]["phrases"]):
        words = [(w["word"], w["startTimeMs"] - origin) for w in p["words"]]
        scanner.feed(
            UtteranceText(index, p["startTimeMs"] - origin, p["participantPurpose"], p["decoratedText"], words)
        )
    return scanner.finish()


def test_it_plants_only_the_leaks_the_vault_finds_and_masks_the_rest(demo):
    kinds = set()
    for conv in _transcribed(demo):
        report = _scan(demo, conv)
        planted = sorted(leak["kind"] for leak in conv.transcript.leaks)
        assert sorted({f.kind for f in report.findings}) == sorted(set(planted)), conv.conversation_id
        kinds.update(planted)
        words = [w["word"] for p in _phrases(demo, conv) for w in p["words"]]
        masks = [w[1:-1] for w in words if w.startswith("[")]
        assert all(m in MASK_TOKENS for m in masks) and len(masks) == sum(conv.transcript.mask_counts.values())
        if conv.transcript.has_markers:
            assert report.status in ("verified", "leaks_found")
        else:  # redaction off in this org's setup for the call: nothing masked anywhere in it
            assert "[" not in " ".join(p["text"] for p in _phrases(demo, conv))
    assert kinds == {"card_number", "ssn", "email", "phone", "iban"}
    assert any(not c.transcript.has_markers for c in _transcribed(demo))


def test_it_fills_a_lifelike_marathon_call_with_working_lines_not_the_plain_loop():
    marathon = generate_dataset(7, 12, START, END, large=1, large_mb=0.3, lifelike=True)
    conv = next(c for c in marathon.conversations if c.transcript and c.transcript.kind == "large")
    phrases = json.loads(b"".join(iter_document(marathon, conv)))["transcripts"][0]["phrases"]
    assert len(phrases) == conv.transcript.phrase_count > 200
    filler = [p["decoratedText"] for p in phrases[len(conv.transcript.phrases) :]]
    plain = {text for _, text, _ in FILLER}
    assert len(set(filler)) >= 40 and sum(text in plain for text in filler) < len(filler) / 4
    assert {p["participantPurpose"] for p in phrases[len(conv.transcript.phrases) :]} == {"internal", "external"}
