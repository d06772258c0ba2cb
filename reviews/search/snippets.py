"""Safe highlighted snippets.

FTS5 snippet() and PostgreSQL ts_headline() return the raw transcript text around our
markers and never escape it. So the engines mark hits with private control characters,
we HTML-escape the whole string as the last step, and only then swap the sentinels for
<mark> tags (OWASP ASVS 1.2.1 / 1.1.2). Transcript text can never inject markup. A mask token the
engine cut in half at a snippet's edge is completed first, so a snippet shows "[card number*]" whole.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from reviews.redaction.masks import find_masks

START = "\x01"
STOP = "\x02"
ELLIPSIS = "…"


def render_snippet(marked_text: str | None, *, fallback_text: str = "", fallback_chars: int = 200) -> SafeString:
    """Turn engine output with START/STOP sentinels into escaped HTML with balanced <mark> tags."""
    text = marked_text or ""
    if not text.strip(START + STOP + " "):
        text = _shorten(fallback_text, fallback_chars)
    return mark_safe(_swap_sentinels(str(escape(text))))


def complete_mask_tokens(marked: str, text: str, *, delimiter: str) -> str:
    """Both engines cut a snippet at a word, so a mask token at its edge loses a bracket ("[card number*]" shows
    as "[card number"); this puts back, from the utterance text, the part of a mask token a fragment cuts through.

    `marked` is the engine's output (fragments joined by `delimiter`, hits between START and STOP).
    """
    spans = [(start, end) for start, end, _ in find_masks(text)]
    if not spans:
        return marked
    fragments = []
    for fragment in marked.split(delimiter):
        plain = fragment.replace(START, "").replace(STOP, "")
        at = text.find(plain) if plain.strip() else -1
        if at >= 0:
            end = at + len(plain)
            before = next((text[start:at] for start, stop in spans if start < at < stop), "")
            after = next((text[end:stop] for start, stop in spans if start < end < stop), "")
            fragment = before + fragment + after
        fragments.append(fragment)
    return delimiter.join(fragments)


def _swap_sentinels(escaped: str) -> str:
    # A transcript may itself contain \x01 or \x02; tracking state keeps the tags balanced regardless.
    parts: list[str] = []
    open_mark = False
    for char in escaped:
        if char == START:
            if not open_mark:
                parts.append("<mark>")
                open_mark = True
        elif char == STOP:
            if open_mark:
                parts.append("</mark>")
                open_mark = False
        else:
            parts.append(char)
    if open_mark:
        parts.append("</mark>")
    return "".join(parts)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + ELLIPSIS
