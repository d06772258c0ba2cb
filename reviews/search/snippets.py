"""Safe highlighted snippets.

FTS5 snippet() and PostgreSQL ts_headline() return the raw transcript text around our
markers and never escape it. So the engines mark hits with private control characters,
we HTML-escape the whole string as the last step, and only then swap the sentinels for
<mark> tags (OWASP ASVS 1.2.1 / 1.1.2). Transcript text can never inject markup.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

START = "\x01"
STOP = "\x02"
ELLIPSIS = "…"


def render_snippet(marked_text: str | None, *, fallback_text: str = "", fallback_chars: int = 200) -> SafeString:
    """Turn engine output with START/STOP sentinels into escaped HTML with balanced <mark> tags."""
    text = marked_text or ""
    if not text.strip(START + STOP + " "):
        text = _shorten(fallback_text, fallback_chars)
    return mark_safe(_swap_sentinels(str(escape(text))))


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
