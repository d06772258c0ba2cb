"""Spoken and typed number normalisation.

ASR writes the same card number as "4111 1111 ...", "4111-1111-...", "four one one one ...",
"forty one eleven ...", or "four double one one ...", and splits it across words and phrases.
`PieceChain` turns a stream of such tokens into *pieces* (digit groups, or letters for IBANs) so the
detectors can validate candidates that line up with piece boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DIGIT_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "nil": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
TEEN_WORDS: dict[str, str] = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
TENS_WORDS: dict[str, str] = {
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
}
REPEAT_WORDS: dict[str, int] = {"double": 2, "triple": 3}
PLUS_WORDS = frozenset({"plus"})
# Hesitations inside a dictated number must not split it.
FILLER_WORDS = frozenset({"uh", "um", "er", "erm", "ah", "hmm", "mm"})

NUMBER_WORDS = frozenset(DIGIT_WORDS) | frozenset(TEEN_WORDS) | frozenset(TENS_WORDS) | frozenset(REPEAT_WORDS)

_TYPED_DIGITS = re.compile(r"(?P<plus>\+?)(?P<body>\d+(?:[-.]\d+)*)")
_GROUP_SPLIT = re.compile(r"([-.])")
# Dates and decimal amounts look like separated digit groups but are never identifiers.
_DATE_LIKE = re.compile(r"\d{4}[-.]\d{1,2}[-.]\d{1,2}|\d{1,2}[-.]\d{1,2}[-.](?:\d{2}|\d{4})")
_DECIMAL_AMOUNT = re.compile(r"\d+\.\d{1,2}")


@dataclass(frozen=True, slots=True)
class TypedDigits:
    """A token such as "+44", "4111-1111" or "212-34-5678", split at its separators."""

    groups: tuple[str, ...]
    separators: tuple[str, ...]  # separators[i] joins groups[i] to groups[i + 1]
    plus: bool


def typed_digits(token: str) -> TypedDigits | None:
    """Parses a typed digit token; None for words, dates, times, amounts and anything else."""
    match = _TYPED_DIGITS.fullmatch(token)
    if match is None:
        return None
    body = match.group("body")
    if _DATE_LIKE.fullmatch(body) or _DECIMAL_AMOUNT.fullmatch(body):
        return None
    parts = _GROUP_SPLIT.split(body)
    return TypedDigits(groups=tuple(parts[0::2]), separators=tuple(parts[1::2]), plus=bool(match.group("plus")))


@dataclass(slots=True)
class Piece:
    """One digit group or letter group of a chain, with the token it came from."""

    chars: str  # digits, or lower-case letters/alphanumerics
    is_digits: bool
    ref: object  # the caller's token, used for timing and excerpts
    spoken: bool
    separator: str  # joins it to the previous piece: "" first, " " between tokens, "-"/"." inside a token
    plus: bool = False  # an international "+" (typed or spoken) starts here
    open_tens: bool = False  # "twenty" still waiting to see whether "five" follows


class PieceChain:
    """Accumulates consecutive number-ish tokens of one speaker.

    The scanner owns the decision of when a chain ends (a plain word, a mask token, a long pause);
    this class only knows how words become pieces.
    """

    def __init__(self) -> None:
        self.pieces: list[Piece] = []
        self._repeat = 1
        self._repeat_ref: object | None = None
        self._plus_pending = False

    @property
    def modifier_pending(self) -> bool:
        """A "double", "triple" or "plus" is waiting for its digit."""
        return self._repeat > 1 or self._plus_pending

    def __len__(self) -> int:
        return len(self.pieces)

    def earliest_ref(self) -> object | None:
        """The first token the chain still holds: its first piece's, or a "double" waiting for its digit."""
        if self.pieces:
            return self.pieces[0].ref
        return self._repeat_ref

    def clear(self) -> None:
        self.pieces = []
        self._repeat = 1
        self._repeat_ref = None
        self._plus_pending = False

    def add_number_word(self, word: str, ref: object) -> bool:
        """Adds a spoken number word; False when `word` is not one (the chain is unchanged)."""
        if word in PLUS_WORDS:
            self._plus_pending = True
            return True
        if word in REPEAT_WORDS:
            self._repeat = REPEAT_WORDS[word]
            self._repeat_ref = ref
            return True
        digit = DIGIT_WORDS.get(word)
        if digit is not None:
            self._add_spoken_digit(digit, ref)
            return True
        teen = TEEN_WORDS.get(word) or TENS_WORDS.get(word)
        if teen is None:
            return False
        self._close_tens()
        self._append(teen, True, ref, spoken=True, open_tens=word in TENS_WORDS)
        return True

    def add_typed_digits(self, typed: TypedDigits, ref: object) -> None:
        self._close_tens()
        self._plus_pending = self._plus_pending or typed.plus
        for position, group in enumerate(typed.groups):
            separator = " " if position == 0 else typed.separators[position - 1]
            self._append(group, True, ref, spoken=False, separator=separator)

    def add_letters(self, chars: str, ref: object, *, spoken: bool) -> None:
        self._close_tens()
        self._repeat = 1
        self._append(chars, False, ref, spoken=spoken)

    def close(self) -> None:
        """Settles pending state at the end of a chain ("twenty" alone means 20)."""
        self._close_tens()
        self._repeat = 1
        self._plus_pending = False

    def ends_with_iban_prefix(self) -> bool:
        """True right after "gb29"-like input: the next 4-letter token may be a bank code."""
        tail = "".join(piece.chars for piece in self.pieces[-4:])
        return len(tail) >= 4 and tail[-4:-2].isalpha() and tail[-2:].isdigit()

    def _add_spoken_digit(self, digit: str, ref: object) -> None:
        last = self.pieces[-1] if self.pieces else None
        if self._repeat > 1:
            self._close_tens()
            self._append(
                digit * self._repeat, True, self._repeat_ref if self._repeat_ref is not None else ref, spoken=True
            )
            self._repeat = 1
            self._repeat_ref = None
        elif last is not None and last.open_tens and digit != "0":
            last.chars = last.chars[0] + digit  # "forty" + "one" -> "41"
            last.open_tens = False
        else:
            self._close_tens()
            self._append(digit, True, ref, spoken=True)

    def _close_tens(self) -> None:
        if self.pieces and self.pieces[-1].open_tens:
            self.pieces[-1].open_tens = False

    def _append(
        self, chars: str, is_digits: bool, ref: object, *, spoken: bool, separator: str = " ", open_tens: bool = False
    ) -> None:
        plus = self._plus_pending and is_digits
        if plus:
            self._plus_pending = False
        self.pieces.append(
            Piece(
                chars=chars,
                is_digits=is_digits,
                ref=ref,
                spoken=spoken,
                separator="" if not self.pieces else separator,
                plus=plus,
                open_tens=open_tens,
            )
        )


def spoken_to_digits(words: Iterable[str]) -> str | None:
    """Digits for a phrase made only of number words and fillers ("double five oh" -> "550"), else None."""
    chain = PieceChain()
    for word in words:
        normalised = word.lower().strip(".,")
        if normalised in FILLER_WORDS:
            continue
        typed = typed_digits(normalised)
        if typed is not None:
            chain.add_typed_digits(typed, None)
        elif not all(chain.add_number_word(part, None) for part in split_hyphenated(normalised)):
            return None
    chain.close()
    digits = "".join(piece.chars for piece in chain.pieces)
    return digits or None


def split_hyphenated(word: str) -> list[str]:
    """ "twenty-five" -> ["twenty", "five"] when every part is a number word; otherwise [word]."""
    parts = word.split("-")
    if len(parts) > 1 and all(part in NUMBER_WORDS for part in parts):
        return parts
    return [word]
