"""Genesys mask tokens: the markers that replace redacted spans in transcript text.

Genesys writes a lower-case label in square brackets (`[card number]`, `[phone]`, ...). Other redaction
tools in the archive's history left `<REDACTED>` and `[REDACTED_PII]`, so those are counted too.
Matching is case-insensitive and tolerant of extra spaces inside the brackets because ASR text is not
guaranteed to be normalised.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

GENESYS_MASK_TOKENS: tuple[str, ...] = (
    "card number",
    "card expiry date",
    "phone",
    "email",
    "name",
    "postal code",
    "location",
    "national id",
    "user info",
    "personal info",
)
GENERIC_MASK_TOKENS: tuple[str, ...] = ("REDACTED", "REDACTED_PII")
MASK_TOKENS: tuple[str, ...] = GENESYS_MASK_TOKENS + GENERIC_MASK_TOKENS

# Longest labels first so "card expiry date" is never read as a shorter label.
_GENESYS_ALTERNATION = "|".join(
    label.replace(" ", r"\s+") for label in sorted(GENESYS_MASK_TOKENS, key=len, reverse=True)
)
MASK_PATTERN = re.compile(
    rf"\[\s*(?P<genesys>{_GENESYS_ALTERNATION})\s*\]"
    r"|(?P<redacted><\s*redacted\s*>)"
    r"|(?P<redacted_pii>\[\s*redacted_pii\s*\])",
    re.IGNORECASE,
)


def mask_key(match: re.Match[str]) -> str:
    """The `mask_counts` key for one MASK_PATTERN match."""
    genesys_label = match.group("genesys")
    if genesys_label is not None:
        return " ".join(genesys_label.lower().split())
    if match.group("redacted") is not None:
        return "REDACTED"
    return "REDACTED_PII"


def find_masks(text: str) -> Iterator[tuple[int, int, str]]:
    """Yields (start, end, key) for every mask token in `text`."""
    if "[" not in text and "<" not in text:  # fast path: most utterances carry no marker
        return
    for match in MASK_PATTERN.finditer(text):
        yield match.start(), match.end(), mask_key(match)


def count_mask_tokens(text: str) -> Counter[str]:
    """Mask tokens in `text` by key; keys with no occurrence are absent."""
    return Counter(key for _, _, key in find_masks(text))
