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
