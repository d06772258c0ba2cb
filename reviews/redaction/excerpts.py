"""Masked excerpts: enough surrounding words for a reviewer to find the leak, none of the value.

Context tokens are rendered conservatively: anything with a digit, any number word and any fragment of
a detected e-mail address becomes "#", so an excerpt never repeats the value (or a neighbouring CVV).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

MAX_EXCERPT_CHARS = 120
CONTEXT_TOKENS_EACH_SIDE = 6
_MAX_TOKEN_CHARS = 24
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def render_context_token(display: str, *, sensitive: bool, is_mask: bool, fragments: Iterable[str] = ()) -> str:
    """How one context token appears in an excerpt."""
    if is_mask:
        return display
    if sensitive or "@" in display or any(char.isdigit() for char in display):
        return "#"
    fragment_set = set(fragments)
    if fragment_set and any(part in fragment_set for part in _NON_ALNUM.split(display.lower()) if part):
        return "#"
    if len(display) > _MAX_TOKEN_CHARS:
        return display[: _MAX_TOKEN_CHARS - 1] + "…"
    return display


def build_excerpt(kind: str, before: Sequence[str], after: Sequence[str]) -> str:
    """ "… words [kind] words …" within MAX_EXCERPT_CHARS, trimming the far ends first."""
    placeholder = f"[{kind}]"
    side_budget = (MAX_EXCERPT_CHARS - len(placeholder) - 2) // 2
    before_text = _fit(list(before), side_budget, from_start=True)
    after_text = _fit(list(after), side_budget, from_start=False)
    return " ".join(part for part in (before_text, placeholder, after_text) if part)


def _fit(tokens: list[str], budget: int, *, from_start: bool) -> str:
    """Joins tokens, dropping those farthest from the value until the text fits `budget`."""
    while tokens and len(" ".join(tokens)) > budget:
        if from_start:
            tokens.pop(0)
        else:
            tokens.pop()
    return " ".join(tokens)
