"""The vault's own language model: text spelled as the decoder's dictionary does, estimated, written atomically."""

from __future__ import annotations

import random

import pytest

from reviews.asr import language_model
from reviews.asr.engine import transcribe_wav
from reviews.asr.language_model import (
    LanguageModel,
    number_words,
    spoken_words,
    with_spoken_digits,
    write_language_model,
)
from tests.asr.conftest import SPOKEN_PHRASE, spoken_wav

UNRELATED = ["good morning thank you for calling", "how can i help you today", "is there anything else"]


def unigrams(path) -> set[str]:
    section = path.read_text().split("\\1-grams:")[1].split("\\2-grams:")[0]
    return {line.split()[1] for line in section.splitlines() if line.strip()}


@pytest.fixture
def archive_words_only(monkeypatch):
    """No general vocabulary: the model knows only what it is given."""
    monkeypatch.setattr(language_model, "general_words", lambda: ())


def test_it_spells_text_as_the_dictionary_does():
    assert (
        spoken_words("Your card [card number] ends 42, OK? It's 5-day.") == "your card ends forty two ok its five day"
    )


def test_it_drops_the_vault_s_own_mask_tokens_too():
    assert spoken_words("my number is [phone*] thanks") == "my number is thanks"


def test_it_reads_long_numbers_digit_by_digit_and_short_ones_as_words():
    assert number_words(4111) == "four one one one"
    assert number_words(115) == "one hundred and fifteen"
    assert number_words(90) == "ninety"


def test_it_writes_an_arpa_model_of_the_sentences_and_phrases(tmp_path):
    path = tmp_path / "asr" / "archive.lm"

    learned = write_language_model(UNRELATED, phrases=["Close my account"], path=path)

    text = path.read_text()
    assert learned == 4
    assert "\\data\\" in text and "\\3-grams:" in text
    assert " close my account" in text  # the phrase's trigram, spelled for the dictionary
    assert not list(path.parent.glob(".lm-*"))  # no staging file left behind


def test_it_says_masked_numbers_as_digits_and_drops_other_masks():
    said = with_spoken_digits("card [card number] for [name] on [phone*]", rng=random.Random(1))

    words = said.split()
    assert words[0] == "card" and words[-1] != "]"
    assert [w for w in words if w.isdigit()] == words[1:17] + words[19:]  # 16 card digits, then 11 phone digits
    assert len(words) == 1 + 16 + 2 + 11 and "name" not in words


def test_it_hears_the_digits_of_a_number_the_archive_only_holds_masked(tmp_path, archive_words_only):
    path = tmp_path / "archive.lm"

    write_language_model(["my card number is [card number]", "thanks"], phrases=[], path=path)

    digits = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    assert len(digits & unigrams(path)) >= 5  # the value's 16 digits, said as words


def test_it_adds_the_general_model_s_common_words_to_the_vocabulary(tmp_path):
    path = tmp_path / "archive.lm"

    write_language_model(UNRELATED, phrases=[], path=path)

    vocabulary = unigrams(path)
    assert {"somebody", "used", "payment"} <= vocabulary  # never in the sentences
    assert len(vocabulary) > language_model.GENERAL_WORDS


def test_it_makes_a_watch_phrase_hearable_that_the_sentences_never_say(tmp_path, archive_words_only):
    with_phrase = tmp_path / "with.lm"
    without = tmp_path / "without.lm"
    write_language_model(UNRELATED, phrases=[SPOKEN_PHRASE], path=with_phrase)
    write_language_model(UNRELATED, phrases=[], path=without)

    heard = transcribe_wav(spoken_wav(), language_model=LanguageModel(str(with_phrase), "test model"))
    unheard = transcribe_wav(spoken_wav(), language_model=LanguageModel(str(without), "test model"))

    assert " ".join(w.text for w in heard.words) == SPOKEN_PHRASE
    assert "hold" not in [w.text for w in unheard.words]  # outside the model's vocabulary
    assert heard.model.startswith("en-us + test model (pocketsphinx ")


def test_it_refuses_to_estimate_from_nothing_and_leaves_the_old_model(tmp_path):
    path = tmp_path / "archive.lm"
    path.write_text("previous model")

    with pytest.raises(ValueError, match="no sentences"):
        write_language_model(["[name]", "  ", "[email]"], phrases=[], path=path)

    assert path.read_text() == "previous model"
