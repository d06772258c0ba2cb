"""Rendering helpers for transcripts: timestamps, speaker labels, marked-up utterance text.

Transcript text is untrusted (it is whatever a caller said, after ASR). Every helper
here escapes it through format_html/escape and only ever marks our own markup safe.
"""

from __future__ import annotations

from django import template
from django.conf import settings
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


def _word_html(word: str, confidence, threshold: float) -> SafeString:
    key = full_mask_key(word)
    if key is not None:
        return _mask_html(word, key)
    if isinstance(confidence, int | float) and confidence < threshold:
        return format_html(
            '<span class="low-confidence" title="Low ASR confidence: {}%">{}</span>',
            round(confidence * 100),
            word,
        )
    return format_html("{}", word)


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
            if word.endswith("]") or len(pending) > 6:
                merged.append((" ".join(pending), None))
                pending = []
            continue
        if word.startswith("[") and not word.endswith("]"):
            pending = [word]
            continue
        merged.append((word, confidence))
    if pending:
        merged.extend((word, None) for word in pending)
    return merged


@register.simple_tag
def utterance_html(utterance, threshold: float | None = None) -> SafeString:
    """The utterance text with low-confidence words and mask tokens marked up, all escaped."""
    if threshold is None:
        threshold = settings.LOW_CONFIDENCE_THRESHOLD
    if not utterance.words:
        return mark_mask_tokens(utterance.text or "")
    words = _merge_split_masks(utterance.words)
    return format_html_join(" ", "{}", ((_word_html(word, confidence, threshold),) for word, confidence in words))


@register.filter
def may_reveal(user) -> bool:
    """Whether to offer "Reveal" on a masked turn; reviews/views/reveal.py checks again on every request."""
    return access.can_reveal_masked_values(user)


@register.filter
def side_label(speaker: str) -> str:
    """Label for a bare speaker side (search hits carry no participant purpose)."""
    return {"external": "Customer", "internal": "Agent / IVR"}.get(speaker, speaker or "")
