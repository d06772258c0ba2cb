"""The vault's own language model for speech-to-text: what this contact centre's calls say, plus its watch phrases.

pocketsphinx's bundled en-us language model is general English; on the emulator's telephone calls it measured
67-72 % word errors. A contact centre's calls repeat a narrow vocabulary (greetings, disclosures, the products it
sells), and the vault already holds thousands of them as Genesys transcripts: a trigram model estimated from
those transcripts' (masked) text measured 24-28 % (docs/benchmarks.md, asr_accuracy). The watch phrases (the
evaluation forms' phrase rules and ASR_PHRASES: "complaint", "close my account", ...) are added as sentences of
their own, weighted, so a compliance search can find them in audio Genesys never transcribed.

The trade-off, stated in docs/pipeline.md: the vocabulary is the archive's, the watch phrases and the general
model's GENERAL_WORDS commonest words; any other word cannot be recognised at all.

Pure Python, no Django: the model is estimated by pocketsphinx's own ARPA builder (pocketsphinx.lm.ArpaBoLM,
Katz-style back-off with a fixed discount) and written as an ARPA text file the decoder loads.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reviews.redaction.masks import MASK_PATTERN, mask_key, mask_label
from reviews.redaction.numbers import DIGIT_WORDS, TEEN_WORDS, TENS_WORDS

# A watch phrase counts as this many sentences, so the model expects it wherever the sound allows (on 20 calls of
# another seed than the bench's: 15 of 20 planted phrases found at 50 and at 200 alike, 13 without the digits).
PHRASE_WEIGHT = 50
# ArpaBoLM's default discount mass: the share of each history's probability kept for unseen continuations.
DISCOUNT_MASS = 0.5
# The general model's most frequent words join the vocabulary (count 1 each, a few percent of the probability), so
# a word the archive never says can still be heard where the sound is clear ("somebody used my card").
GENERAL_WORDS = 10_000
# What a masked value was said as, in digits: the archive hides card and phone numbers, the audio still says them,
# and the leak detector can only find a number the recogniser wrote down. Each mask becomes this many digit words
# (seeded, so a rebuild of the same archive gives the same model).
SPOKEN_DIGITS = {"card number": 16, "phone": 11, "national id": 9, "card expiry date": 4}

# Numbers are spelled with the words the leak detector reads back as digits (one table for both directions): the
# first word of each value ("zero", not "nought").
_SPOKEN_NUMBERS = {int(value): word for word, value in reversed([*DIGIT_WORDS.items(), *TEEN_WORDS.items()])}
_SPOKEN_NUMBERS |= {int(value): word for word, value in reversed(TENS_WORDS.items())}


@dataclass(frozen=True)
class LanguageModel:
    """An ARPA file the decoder loads, and how the transcripts it produced name it."""

    path: str
    label: str


def spoken_words(text: str) -> str:
    """Text as the decoder's dictionary spells it: lower case, numbers as words, no punctuation or mask tokens.

    A mask token stands for a value nobody may read (and that the recording may still say); it is not a word.
    """
    text = MASK_PATTERN.sub(" ", text)
    text = re.sub(r"\d+", lambda match: number_words(int(match.group())), text.lower().replace("-", " "))
    return " ".join(re.sub(r"[^a-z' ]+", " ", text).replace("'", "").split())


def number_words(value: int) -> str:
    """A number as it is read: up to 999 in words ("forty two"), longer ones digit by digit (card numbers)."""
    if value < 20:
        return _SPOKEN_NUMBERS[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _SPOKEN_NUMBERS[tens * 10] + ("" if ones == 0 else " " + _SPOKEN_NUMBERS[ones])
    if value < 1000:
        rest = value % 100
        return _SPOKEN_NUMBERS[value // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    return " ".join(_SPOKEN_NUMBERS[int(digit)] for digit in str(value))


def with_spoken_digits(text: str, *, rng: random.Random) -> str:
    """`text` with every numeric mask ([card number], [phone], ...) replaced by digits, as a caller says them."""

    def said(match: re.Match[str]) -> str:
        digits = SPOKEN_DIGITS.get(mask_label(mask_key(match)))
        return " ".join(str(rng.randrange(10)) for _ in range(digits)) if digits else " "

    return MASK_PATTERN.sub(said, text)


@cache
def general_words() -> tuple[str, ...]:
    """The GENERAL_WORDS words of the decoder's dictionary that pocketsphinx's general model finds likeliest."""
    from pocketsphinx import NGramModel, get_model_path

    general = NGramModel.readfile(get_model_path("en-us/en-us.lm.bin"))
    with open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as dictionary:
        words = {line.split(" ", 1)[0].split("(", 1)[0] for line in dictionary if line.strip()}
    ranked = sorted((word for word in words if word.isalpha()), key=lambda word: (-general.prob([word]), word))
    return tuple(ranked[:GENERAL_WORDS])


def write_language_model(sentences: Iterable[str], *, phrases: Iterable[str], path: Path) -> int:
    """Estimate a trigram model from `sentences` and the weighted `phrases`, written atomically to `path`.

    Returns how many sentences (watch phrases included, once each) went in. Raises ValueError when there is
    nothing to learn from.
    """
    from pocketsphinx.lm import ArpaBoLM

    rng = random.Random(0)
    corpus = [words for words in (spoken_words(with_spoken_digits(text, rng=rng)) for text in sentences) if words]
    watched = sorted({words for words in map(spoken_words, phrases) if words})
    if not corpus and not watched:
        raise ValueError("no sentences to estimate a language model from")
    model = ArpaBoLM(add_start=True, discount_mass=DISCOUNT_MASS)
    model.read_corpus(corpus + watched * PHRASE_WEIGHT)  # any iterable of lines
    path.parent.mkdir(parents=True, exist_ok=True)
    _add_general_words(model, directory=path.parent)
    model.compute()
    descriptor, staging = tempfile.mkstemp(dir=path.parent, prefix=".lm-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            model.write(stream)
        os.replace(staging, path)  # a decoder in another process never reads a half-written model
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return len(corpus) + len(watched)


def _add_general_words(model, *, directory: Path) -> None:
    # ArpaBoLM takes extra words from a file (one per line), each with count 1 unless the corpus has it already.
    descriptor, word_file = tempfile.mkstemp(dir=directory, prefix=".words-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write("\n".join(general_words()))
        model.read_word_file(word_file, count=1)
    finally:
        Path(word_file).unlink(missing_ok=True)
