"""Rendering helpers for transcripts: timestamps, speaker labels, marked-up utterance text.

Transcript text is untrusted (it is whatever a caller said, after ASR). Every helper
here escapes it through format_html/escape and only ever marks our own markup safe.
"""

from __future__ import annotations

import difflib
import html
import re
from datetime import UTC, datetime

from django import template
from django.conf import settings
from django.utils import dateformat
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from reviews import access
from reviews.redaction.masks import find_masks, full_mask_key, is_vault_key, mask_label

register = template.Library()

IVR_PURPOSES = {"ivr", "acd", "workflow", "bot", "voicemail"}
SENTIMENT_MARK = 0.3  # Genesys sentiment is -1..1; weaker scores are noise for a reviewer


@register.filter
def mmss(value) -> str:
    """Milliseconds as m:ss (h:mm:ss past an hour); blank for None or junk."""
    try:
        total_seconds = max(int(value), 0) // 1000
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(total_seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


@register.filter
def speaker_label(utterance) -> str:
    if utterance.speaker == "external":
        return "Customer"
    if (utterance.participant_purpose or "").lower() in IVR_PURPOSES:
        return "IVR"
    if not utterance.speaker and not utterance.participant_purpose:
        # Nobody identified who spoke (the vault's speech-to-text of a mixed recording): never guess "Agent".
        return "Speaker unknown"
    return "Agent"


@register.filter
def sentiment_class(value) -> str:
    if value is None:
        return ""
    if value >= SENTIMENT_MARK:
        return "positive"
    if value <= -SENTIMENT_MARK:
        return "negative"
    return ""


@register.filter
def topic_names(topics) -> list[str]:
    """Utterance.topics holds names or {"name": ...} dicts depending on the source."""
    names = []
    for topic in topics or []:
        name = topic.get("name") if isinstance(topic, dict) else topic
        if name:
            names.append(str(name))
    return names


@register.filter
def percent(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


def _mask_html(token: str, key: str) -> SafeString:
    """A mask token (reviews/redaction/masks.py), saying who masked it: Genesys, or the vault ("[card number*]")."""
    label = mask_label(key).replace("_", " ").lower()
    if is_vault_key(key):
        return format_html('<mark class="mask mask-vault" title="Masked by the vault: {}">{}</mark>', label, token)
    return format_html('<mark class="mask" title="Redacted by Genesys: {}">{}</mark>', label, token)


def mark_mask_tokens(text: str) -> SafeString:
    """Escape text and wrap every redaction marker in <mark class="mask">."""
    parts: list[str] = []
    position = 0
    for start, end, key in find_masks(text):
        parts.append(escape(text[position:start]))
        parts.append(_mask_html(text[start:end], key))
        position = end
    parts.append(escape(text[position:]))
    return mark_safe("".join(parts))  # every piece above is escaped or built by format_html


def _is_low(confidence, threshold: float) -> bool:
    return isinstance(confidence, int | float) and not isinstance(confidence, bool) and confidence < threshold


def _low_confidence_html(word: str, confidence, threshold: float) -> SafeString:
    if _is_low(confidence, threshold):
        return format_html(
            '<span class="low-confidence" title="Low ASR confidence: {}%">{}</span>',
            round(confidence * 100),
            word,
        )
    return format_html("{}", word)


def _word_html(word: str, confidence, threshold: float) -> SafeString:
    key = full_mask_key(word)
    if key is not None:
        return _mask_html(word, key)
    if next(find_masks(word), None) is not None:  # a marker with punctuation stuck to it: "[card number]."
        return mark_mask_tokens(word)
    return _low_confidence_html(word, confidence, threshold)


def _merge_split_masks(words: list) -> list[tuple[str, float | None]]:
    """Rejoin a marker the engine split across words ("[card", "number]") into one token."""
    merged: list[tuple[str, float | None]] = []
    pending: list[str] = []
    for entry in words:
        if not isinstance(entry, list | tuple) or not entry:
            continue
        word = str(entry[0])
        confidence = entry[1] if len(entry) > 1 else None
        if pending:
            pending.append(word)
            if "]" in word or len(pending) > 6:
                merged.append((" ".join(pending), None))
                pending = []
            continue
        if word.startswith("[") and "]" not in word:
            pending = [word]
            continue
        merged.append((word, confidence))
    if pending:
        merged.extend((word, None) for word in pending)
    return merged


# A token of the shown text: leading punctuation, the word itself, trailing punctuation ("(Yes," -> "(", "Yes", ",").
_TEXT_TOKEN = re.compile(r"(?P<lead>[^\w\s]*)(?P<core>\S*?)(?P<trail>[^\w\s]*)(?=\s|$)")
_NOT_ALNUM = re.compile(r"[\W_]+")


def _comparable(word: str) -> str:
    """What a lexical word and a word of the decorated text share: "Don't," and "don't" -> "dont"."""
    return _NOT_ALNUM.sub("", word).casefold()


def _lexical_confidences(words: list) -> list[tuple[str, float | None]]:
    """The words[] entries that are words (mask tokens left out: the text has its own), comparable form first."""
    return [
        (_comparable(word), confidence)
        for word, confidence in _merge_split_masks(words)
        if next(find_masks(word), None) is None
    ]


def _aligned_confidences(tokens: list[str], words: list) -> list[float | None]:
    """The confidence of each text token, from the lexical words it lines up with; None where none does.

    Genesys' decoratedText is the lexical text cased and punctuated, but it may also rewrite ("twenty five"
    -> "25", "dollars" -> "$"): tokens are matched in order (difflib), and a token no word matches exactly is
    shown without a mark rather than guessed.
    """
    lexical = _lexical_confidences(words)
    keys = [_comparable(token) for token in tokens]
    if keys == [word for word, _ in lexical]:  # the common case: one word per token
        return [confidence for _, confidence in lexical]
    confidences: list[float | None] = [None] * len(tokens)
    matcher = difflib.SequenceMatcher(None, keys, [word for word, _ in lexical], autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            if keys[block.a + i]:
                confidences[block.a + i] = lexical[block.b + i][1]
    return confidences


def _text_segments(text: str) -> list[tuple[str, str | None]]:
    """The text cut at its mask tokens (reviews/redaction/masks.py): (piece, mask key or None for plain text)."""
    segments: list[tuple[str, str | None]] = []
    position = 0
    for start, end, key in find_masks(text):
        segments.append((text[position:start], None))
        segments.append((text[start:end], key))
        position = end
    segments.append((text[position:], None))
    return segments


def decorated_html(text: str, words: list, threshold: float) -> SafeString:
    """The text as Genesys wrote it for people, mask tokens marked, low-confidence words marked where the
    lexical words line up with it.

    Runs for every turn of the page (500 a window): plain strings and html.escape (what format_html uses),
    one mark_safe at the end, and nothing wrapped but the words that need a mark."""
    segments = _text_segments(text)
    lows: dict[int, list[tuple[int, int, float]]] = {}
    if words:
        plain = [(match, index) for index, (piece, key) in enumerate(segments) if key is None
                 for match in _TEXT_TOKEN.finditer(piece) if match.group(0)]  # fmt: skip
        confidences = _aligned_confidences([match.group("core") for match, _ in plain], words)
        for (match, index), confidence in zip(plain, confidences, strict=True):
            if _is_low(confidence, threshold) and match.group("core"):
                lows.setdefault(index, []).append((match.start("core"), match.end("core"), confidence))
    parts: list[str] = []
    for index, (piece, key) in enumerate(segments):
        if key is not None:
            parts.append(_mask_html(piece, key))
            continue
        position = 0
        for start, end, confidence in lows.get(index, ()):
            parts.append(html.escape(piece[position:start]))
            parts.append(
                f'<span class="low-confidence" title="Low ASR confidence: {round(confidence * 100)}%">'
                f"{html.escape(piece[start:end])}</span>"
            )
            position = end
        parts.append(html.escape(piece[position:]))
    return mark_safe("".join(parts))  # every piece above is escaped or built by format_html


@register.simple_tag
def utterance_html(utterance, threshold: float | None = None) -> SafeString:
    """The utterance as Genesys wrote it for people (decoratedText: cased, punctuated), with low-confidence
    words and mask tokens marked up, all escaped. Only a turn without text is rendered from its words."""
    if threshold is None:
        threshold = settings.LOW_CONFIDENCE_THRESHOLD
    words = utterance.words if isinstance(utterance.words, list) else []
    if utterance.text:
        return decorated_html(utterance.text, words, threshold)
    merged = _merge_split_masks(words)
    return format_html_join(" ", "{}", ((_word_html(word, confidence, threshold),) for word, confidence in merged))


# Absolute times: the server writes UTC and says so; static/js/review.js rewrites each <time data-local> in the
# viewer's own time zone, named ("14:03 CET"). Without script the UTC text stays, still correct and labelled.
LOCAL_TIME_FORMATS = {"datetime": "D j M Y, H:i:s", "time": "H:i:s", "short": "j M H:i"}


@register.filter
def utc_time(value, fmt: str = "j M Y H:i") -> str:
    """A datetime in UTC (whatever the server's TIME_ZONE), formatted like the `date` filter."""
    if not isinstance(value, datetime):
        return ""
    return dateformat.format(value.astimezone(UTC), fmt)


@register.filter
def local_time(value, style: str = "datetime") -> SafeString | str:
    """<time datetime="…Z" data-local="style">… UTC</time>; style is one of LOCAL_TIME_FORMATS."""
    if not isinstance(value, datetime):
        return "–"
    style = style if style in LOCAL_TIME_FORMATS else "datetime"
    instant = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" data-local="{}">{} UTC</time>',
        instant.isoformat(timespec="seconds").replace("+00:00", "Z"),
        style,
        dateformat.format(instant, LOCAL_TIME_FORMATS[style]),
    )


@register.filter
def may_reveal(user) -> bool:
    """Whether to offer "Reveal" on a masked turn; reviews/views/reveal.py checks again on every request."""
    return access.can_reveal_masked_values(user)


@register.filter
def side_label(speaker: str) -> str:
    """Label for a bare speaker side (search hits carry no participant purpose)."""
    return {"external": "Customer", "internal": "Agent / IVR"}.get(speaker, speaker or "Speaker unknown")
