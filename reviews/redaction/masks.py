"""Mask tokens: the markers that replace redacted spans in transcript text.

Genesys writes a lower-case label in square brackets (`[card number]`, `[phone]`, ...). Other redaction
tools in the archive's history left `<REDACTED>` and `[REDACTED_PII]`, so those are counted too.
Matching is case-insensitive and tolerant of extra spaces inside the brackets because ASR text is not
guaranteed to be normalised.

The vault masks what Genesys missed with the same form plus a mark (`[card number*]`), so a reader (and
a re-scan) knows who masked it. Vault masks are mask tokens to the scanner (never read as leaks), but
`mask_counts` stays about Genesys' own masking: they are not counted.
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

# Finding kind -> the label of the vault's mask token: Genesys' own label where it has one.
VAULT_MASK_LABELS: dict[str, str] = {
    "card_number": "card number",
    "ssn": "national id",
    "iban": "bank account",
    "email": "email",
    "phone": "phone",
}
VAULT_MARK = "*"


def _alternation(labels) -> str:
    # Longest labels first so "card expiry date" is never read as a shorter label.
    return "|".join(label.replace(" ", r"\s+") for label in sorted(set(labels), key=len, reverse=True))


MASK_PATTERN = re.compile(
    rf"\[\s*(?P<genesys>{_alternation(GENESYS_MASK_TOKENS)})\s*\]"
    rf"|\[\s*(?P<vault>{_alternation(VAULT_MASK_LABELS.values())})\s*\{VAULT_MARK}\s*\]"
    r"|(?P<redacted><\s*redacted\s*>)"
    r"|(?P<redacted_pii>\[\s*redacted_pii\s*\])",
    re.IGNORECASE,
)


def vault_mask_token(kind: str) -> str:
    """The token the vault writes in place of a leaked value of `kind` (one of FINDING_KINDS)."""
    return f"[{VAULT_MASK_LABELS[kind]}{VAULT_MARK}]"


def is_vault_key(key: str) -> bool:
    """True for the key of a vault mask ("card number*"), False for Genesys' and generic ones."""
    return key.endswith(VAULT_MARK)


def mask_label(key: str) -> str:
    """The human label of a mask key: "card number" for both "card number" and "card number*"."""
    return key.removesuffix(VAULT_MARK)


def mask_key(match: re.Match[str]) -> str:
    """The key of one MASK_PATTERN match: the Genesys label, the vault label plus VAULT_MARK, or a generic key."""
    genesys_label = match.group("genesys")
    if genesys_label is not None:
        return " ".join(genesys_label.lower().split())
    vault_label = match.group("vault")
    if vault_label is not None:
        return " ".join(vault_label.lower().split()) + VAULT_MARK
    if match.group("redacted") is not None:
        return "REDACTED"
    return "REDACTED_PII"


def find_masks(text: str) -> Iterator[tuple[int, int, str]]:
    """Yields (start, end, key) for every mask token in `text`, the vault's included."""
    if "[" not in text and "<" not in text:  # fast path: most utterances carry no marker
        return
    for match in MASK_PATTERN.finditer(text):
        yield match.start(), match.end(), mask_key(match)


def full_mask_key(text: str) -> str | None:
    """The key when the whole of `text` is one mask token (a word entry), else None."""
    match = MASK_PATTERN.fullmatch(text.strip())
    return mask_key(match) if match is not None else None


def vault_mask_kinds(text: str) -> list[str]:
    """The finding kinds of the vault masks in `text`, once each, in order of appearance."""
    kind_of = {label + VAULT_MARK: kind for kind, label in VAULT_MASK_LABELS.items()}
    return list(dict.fromkeys(kind_of[key] for _, _, key in find_masks(text) if is_vault_key(key)))


def count_mask_tokens(text: str) -> Counter[str]:
    """Genesys' (and generic) mask tokens in `text` by key; keys with no occurrence are absent.

    Vault masks are left out: the counts say how well Genesys masked, not what the vault did after.
    """
    return Counter(key for _, _, key in find_masks(text) if not is_vault_key(key))
