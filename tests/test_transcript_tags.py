"""reviews/templatetags/transcript_tags.py: a turn shown as Genesys wrote it for people (decoratedText), with its
low-confidence words marked where the lexical words line up, mask tokens marked by the one rule
(reviews/redaction/masks.py), and absolute times as <time> elements in UTC for the page to localise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

from reviews.templatetags.transcript_tags import local_time, side_label, speaker_label, utc_time, utterance_html

XSS = '<script>alert("x")</script>'


def _turn(text: str, words: list | None = None) -> SimpleNamespace:
    return SimpleNamespace(text=text, words=words or [])


def _low(word: str, percent: int) -> str:
    return f'<span class="low-confidence" title="Low ASR confidence: {percent}%">{word}</span>'


GENESYS_CARD = '<mark class="mask" title="Redacted by Genesys: card number">'


def test_it_shows_the_decorated_text_with_the_lexical_words_marks():
    words = [["hello", 0.9], ["how", 0.9], ["can", 0.3], ["i", 0.9], ["help", 0.95]]
    html = utterance_html(_turn("Hello, how can I help?", words), 0.6)
    assert html == f"Hello, how {_low('can', 30)} I help?"


def test_it_marks_a_word_whose_case_and_punctuation_differ_from_the_lexical_one():
    html = utterance_html(
        _turn("Don't worry, Mrs. Baker.", [["don't", 0.2], ["worry", 0.9], ["mrs", 0.1], ["baker", 0.4]]), 0.6
    )
    assert html == f"{_low('Don&#x27;t', 20)} worry, {_low('Mrs', 10)}. {_low('Baker', 40)}."


def test_it_shows_rewritten_words_without_marks_rather_than_the_lexical_words():
    # "twenty five dollars" became "$25": no word lines up with it, so it is shown as written, unmarked.
    words = [["that", 0.9], ["is", 0.9], ["twenty", 0.1], ["five", 0.1], ["dollars", 0.1], ["thanks", 0.2]]
    html = utterance_html(_turn("That is $25, thanks.", words), 0.6)
    assert html == f"That is $25, {_low('thanks', 20)}."
    assert "twenty" not in html and "dollars" not in html


def test_it_marks_genesys_mask_tokens_as_genesys_writes_them_in_the_decorated_text():
    words = [["my", 0.9], ["card", 0.2], ["is", 0.9], ["[card", 0.9], ["number]", 0.9]]
    html = utterance_html(_turn("My card is [Card Number].", words), 0.6)
    assert html == f"My {_low('card', 20)} is {GENESYS_CARD}[Card Number]</mark>."


def test_it_marks_a_mask_token_with_punctuation_stuck_to_it_in_the_words():
    # A turn without text is rendered from its words; "[card number]." and a split "[card", "number]," are masks.
    assert utterance_html(_turn("", [["[Card", 0.9], ["Number].", 0.9]]), 0.6) == (
        f"{GENESYS_CARD}[Card Number]</mark>."
    )
    html = utterance_html(_turn("", [["[card", 0.9], ["number],", 0.9], ["ok", 0.2]]), 0.6)
    assert html == f"{GENESYS_CARD}[card number]</mark>, {_low('ok', 20)}"


def test_it_never_calls_inaudible_a_redaction():
    # "[inaudible]" is the engine's note, not a mask token (masks.py): text, not "Redacted by Genesys".
    for turn in (
        _turn("Sorry, [inaudible] again?", [["sorry", 0.9], ["[inaudible]", 0.3], ["again", 0.9]]),
        _turn("", [["sorry", 0.9], ["[inaudible]", 0.3], ["again", 0.9]]),
        _turn("[inaudible]"),
    ):
        html = utterance_html(turn, 0.6)
        assert "Redacted" not in html and "<mark" not in html, html
        assert "inaudible" in html
    # Where the words line up it keeps its low-confidence mark like any word.
    assert utterance_html(
        _turn("Sorry, [inaudible] again?", [["sorry", 0.9], ["[inaudible]", 0.3], ["again", 0.9]]), 0.6
    ) == (f"Sorry, [{_low('inaudible', 30)}] again?")


def test_it_marks_vault_masks_apart_from_genesys_masks_in_the_text():
    words = [["iban", 0.9], ["[bank", 0.9], ["account*]", 0.9], ["and", 0.2], ["[phone]", 0.9]]
    html = utterance_html(_turn("IBAN [bank account*] and [Phone].", words), 0.6)
    assert '<mark class="mask mask-vault" title="Masked by the vault: bank account">[bank account*]</mark>' in html
    assert '<mark class="mask" title="Redacted by Genesys: phone">[Phone]</mark>.' in html
    assert _low("and", 20) in html


def test_it_escapes_the_text_and_every_word():
    html = utterance_html(_turn(f"Hi {XSS} there", [["hi", 0.1], ["script", 0.1], ["there", 0.1]]), 0.6)
    assert XSS not in html and "&lt;script&gt;" in html and _low("Hi", 10) in html
    from_words = utterance_html(_turn("", [[XSS, 0.1]]), 0.6)
    assert XSS not in from_words and "&lt;script&gt;" in from_words


def test_it_shows_a_text_without_words_as_it_is():
    assert utterance_html(_turn("Thank you. Goodbye!"), 0.6) == "Thank you. Goodbye!"


def test_it_writes_absolute_times_in_utc_for_the_page_to_localise():
    moment = datetime(2026, 12, 2, 14, 3, 5, tzinfo=timezone(timedelta(hours=1)))  # 13:03:05 UTC
    assert local_time(moment, "datetime") == (
        '<time datetime="2026-12-02T13:03:05Z" data-local="datetime">Wed 2 Dec 2026, 13:03:05 UTC</time>'
    )
    assert local_time(moment, "time") == '<time datetime="2026-12-02T13:03:05Z" data-local="time">13:03:05 UTC</time>'
    assert local_time(moment, "junk").count('data-local="datetime"') == 1
    assert local_time(None) == "–"
    assert utc_time(datetime(2026, 12, 2, 23, 30, tzinfo=UTC) + timedelta(hours=1)) == "3 Dec 2026 00:30"


def test_it_names_no_speaker_when_nobody_was_identified():
    assert speaker_label(SimpleNamespace(speaker="", participant_purpose="")) == "Speaker unknown"
    assert speaker_label(SimpleNamespace(speaker="internal", participant_purpose="agent")) == "Agent"
    assert speaker_label(SimpleNamespace(speaker="external", participant_purpose="")) == "Customer"
    assert side_label("") == "Speaker unknown"
    assert side_label("internal") == "Agent / IVR"
