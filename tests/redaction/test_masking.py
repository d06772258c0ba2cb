from __future__ import annotations

import re

import pytest

from reviews.redaction import MaskSpan, RedactionScanner, UtteranceText, mask_phrase, mask_text
from reviews.redaction.masking import MIN_CHECKED_CHARS

CARD = "4111111111111111"
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def say(value: str) -> str:
    return " ".join(DIGIT_NAMES[int(char)] if char.isdigit() else char.lower() for char in value if char.isalnum())


def words_of(text: str, *, start_ms: int = 0, confidence: float = 0.9) -> list[list]:
    return [[word, confidence, start_ms + position * 300, 250] for position, word in enumerate(text.split())]


def masked_phrases(*phrases: tuple[str, str, list | None]) -> list:
    """Scans (speaker, text, words) phrases in order and masks each with every span found."""
    scanner = RedactionScanner()
    for index, (speaker, text, words) in enumerate(phrases):
        words = words_of(text, start_ms=index * 4_000) if words is None else words
        scanner.feed(UtteranceText(index, index * 4_000, speaker, text, words=[(w[0], w[2]) for w in words]))
    scanner.finish()
    spans = scanner.take_spans()
    results = []
    for index, (speaker, text, words) in enumerate(phrases):
        words = words_of(text, start_ms=index * 4_000) if words is None else words
        results.append(mask_phrase(index=index, speaker=speaker, text=text, words=words, spans=spans))
    return results


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


# --- mask_text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111", "[card number*]"),
        ("card 4111-1111-1111-1111.", "card [card number*]."),
        (f"my card is {say(CARD)} thanks", "my card is [card number*] thanks"),
        ("my ssn is 212-34-5678 ok", "my ssn is [national id*] ok"),
        ("mail jane.doe@example.com!", "mail [email*]!"),
        ("jane dot doe at example dot com", "[email*]"),
        ("call me on 415 555 2671 today", "call me on [phone*] today"),
        ("iban DE89 3704 0044 0532 0130 00, thanks", "iban [bank account*], thanks"),
        ("refund   for order\t482913", "refund   for order\t482913"),
        ("", ""),
    ],
)
def test_it_masks_each_flagged_value_in_free_text(text, expected):
    assert mask_text(text) == expected


def test_it_masks_only_the_value_not_the_numbers_beside_it():
    assert mask_text(f"card {CARD} cvv 123 order 482913") == "card [card number*] cvv 123 order 482913"


def test_it_uses_the_phone_regions_it_is_given():
    assert mask_text("my number is 020 7946 0958", phone_regions=["GB"]) == "my number is [phone*]"
    assert mask_text("my number is 020 7946 0958", phone_regions=["US"]) == "my number is 020 7946 0958"


# --- words and text -------------------------------------------------------------------------------


def test_it_merges_the_words_of_a_value_into_one_mask_entry():
    words = [["it's", 0.9, 0, 200]] + [
        [word, 0.8 - i * 0.01, 300 + i * 100, 80] for i, word in enumerate(say(CARD).split())
    ]
    words.append(["thanks", 0.95, 2_000, 300])
    (masked,) = masked_phrases(("external", "it's " + say(CARD) + " thanks", words))
    assert masked.words == [["it's", 0.9, 0, 200], ["[card number*]", pytest.approx(0.65), 300, 1_580], words[-1]]
    assert masked.text == "it's [card number*] thanks"
    assert masked.kinds == ("card_number",)


def test_it_masks_decorated_text_between_the_words_that_line_up():
    # decoratedText writes the spoken digits as digits: the words around the value still line up.
    spoken = "okay it's " + say(CARD) + " that's it"
    decorated = "Okay, it's 4111 1111 1111 1111, that's it."
    (masked,) = masked_phrases(("external", decorated, words_of(spoken)))
    assert masked.text == "Okay, it's [card number*], that's it."
    assert masked.words[2][0] == "[card number*]" and len(masked.words) == 5


def test_it_rebuilds_the_text_from_the_masked_words_when_it_cannot_line_them_up():
    spoken = "my card is " + say(CARD) + " okay"
    decorated = "Visa 4111111111111111, OK?"
    (masked,) = masked_phrases(("external", decorated, words_of(spoken)))
    assert masked.text == "my card is [card number*] okay"


def test_it_masks_all_text_between_the_nearest_words_that_line_up():
    # Only "card" lines up before the value and nothing after it: everything from there on is masked.
    spoken = "my card is " + say(CARD)
    (masked,) = masked_phrases(("external", "Card: 4111111111111111 (Visa)!", words_of(spoken)))
    assert masked.text == "Card: [card number*]!"


def test_it_keeps_an_empty_text_empty():
    (masked,) = masked_phrases(("external", "", words_of(f"my card is {CARD}")))
    assert masked.text == "" and masked.words[-1][0] == "[card number*]"


def test_it_masks_a_value_that_runs_over_two_phrases_in_both():
    first, second = say(CARD).split()[:8], say(CARD).split()[8:]
    masked = masked_phrases(
        ("external", "my card is " + " ".join(first), None),
        ("internal", "mm-hmm", None),
        ("external", " ".join(second) + " and that's it", None),
    )
    assert masked[0].text == "my card is [card number*]"
    assert masked[1] is None  # the other speaker's acknowledgement is not part of the value
    assert masked[2].text == "[card number*] and that's it"


def test_it_masks_several_values_in_one_phrase_and_nothing_else():
    text = f"card {CARD} and my phone is 415 555 2671 and email jane.doe@example.com ok"
    (masked,) = masked_phrases(("external", text, None))
    assert masked.text == "card [card number*] and my phone is [phone*] and email [email*] ok"
    assert masked.kinds == ("card_number", "phone", "email")


def test_it_masks_text_tokens_when_the_phrase_has_no_words():
    (masked,) = masked_phrases(("external", f"My card is {CARD}.", []))
    assert masked.text == "My card is [card number*]." and masked.words == []


def test_it_leaves_other_speakers_and_untouched_phrases_alone():
    assert masked_phrases(("external", "thanks for calling", None)) == [None]


# --- the check ------------------------------------------------------------------------------------


def test_it_masks_the_whole_phrase_when_the_value_would_still_show():
    # A span that (wrongly) names other words: the value's digits remain, so the check masks everything.
    span = MaskSpan(kind="card_number", speaker="external", first=(0, 0), last=(0, 0), value_parts=((0, CARD),))
    words = words_of(f"hello {CARD} bye")
    masked = mask_phrase(index=0, speaker="external", text=f"hello {CARD} bye", words=words, spans=[span])
    assert masked.text == "[card number*]"
    assert masked.words == [["[card number*]", 0.9, 0, 850]]


def test_it_masks_the_whole_text_when_the_value_would_still_show_in_it():
    span = MaskSpan(kind="phone", speaker="", first=(0, 0), last=(0, 0), value_parts=((0, "4155552671"),))
    masked = mask_phrase(index=0, speaker="", text="call 415-555-2671", words=[], spans=[span])
    assert masked.text == "[phone*]"


def test_it_finds_a_spoken_value_left_in_text_and_rebuilds_it():
    # The words are masked exactly, but the (misaligned) text would keep the digits read out one by one.
    span = MaskSpan(kind="card_number", speaker="external", first=(0, 1), last=(0, 16), value_parts=((0, CARD),))
    words = words_of("is " + say(CARD))
    text = "so " + say(CARD) + " is " + say(CARD)
    masked = mask_phrase(index=0, speaker="external", text=text, words=words, spans=[span])
    assert masked.text == "is [card number*]"


def test_it_does_not_check_short_remnants():
    assert MIN_CHECKED_CHARS >= 6
    span = MaskSpan(kind="card_number", speaker="", first=(0, 0), last=(0, 0), value_parts=((0, "1111"),))
    masked = mask_phrase(index=0, speaker="", text="1111 and 1111", words=[], spans=[span])
    assert masked.text == "[card number*] and 1111"


# --- no value survives ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [CARD, "4111 1111 1111 1111", "212-34-5678", "415 555 2671", "GB29 NWBK 6016 1331 9268 19"],
)
def test_it_leaves_none_of_the_digits_of_a_value(value):
    text = f"right so the number is {value} okay"
    masked = mask_text(text if "-" not in value else f"my social security number is {value} okay")
    assert digits(value) not in digits(masked)
    assert "*]" in masked
