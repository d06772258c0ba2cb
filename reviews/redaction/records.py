"""The value objects the scanner takes and returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

FINDING_KINDS: tuple[str, ...] = ("card_number", "ssn", "email", "phone", "iban")
STATUS_LEAKS_FOUND = "leaks_found"
STATUS_VERIFIED = "verified"
STATUS_NO_MARKERS = "no_markers"


@dataclass(frozen=True, slots=True)
class UtteranceText:
    """One phrase as the scanner sees it. `words` carry per-word start times when the transcript has them."""

    index: int
    start_ms: int
    speaker: str
    text: str
    words: Sequence[tuple[str, int]] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """A value the masking missed. `masked_excerpt` shows context only: never the value or its digits."""

    utterance_index: int  # the utterance where the value starts
    start_ms: int  # start of the value's first token
    kind: str  # one of FINDING_KINDS
    rule: str
    confidence: float
    masked_excerpt: str


@dataclass(frozen=True, slots=True)
class MaskSpan:
    """Where one detected value sits: its first and last token in one speaker's phrases.

    A position indexes the phrase's words, or for a phrase without words its whitespace-separated text
    tokens. A value can run over several phrases of the speaker: every token of that speaker from `first`
    to `last` is part of it. `value_parts` (utterance index -> the value's letters and digits said there)
    only lets the masker check its work; it never leaves memory (not in repr, never stored or logged).
    """

    kind: str
    speaker: str
    first: tuple[int, int]  # (utterance index, position)
    last: tuple[int, int]
    value_parts: tuple[tuple[int, str], ...] = field(default=(), repr=False, compare=False)

    def positions_in(self, utterance_index: int) -> tuple[int, int | None] | None:
        """(first, last) positions covered in that phrase of the speaker (last None: to its end), or None."""
        first_index, first_position = self.first
        last_index, last_position = self.last
        if not first_index <= utterance_index <= last_index:
            return None
        return (
            first_position if utterance_index == first_index else 0,
            last_position if utterance_index == last_index else None,
        )

    def value_in(self, utterance_index: int) -> str:
        return next((chars for index, chars in self.value_parts if index == utterance_index), "")


@dataclass(frozen=True, slots=True)
class RedactionReport:
    mask_counts: dict[str, int] = field(default_factory=dict)  # only keys seen at least once
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.findings:
            return STATUS_LEAKS_FOUND
        if any(self.mask_counts.values()):
            return STATUS_VERIFIED
        return STATUS_NO_MARKERS
