"""Masking what the scanner found: the tokens of a detected value become the vault's mask token.

Works on a phrase as the vault stores it: `text` (decoratedText when Genesys sent it: cased, punctuated,
numbers possibly written as digits) and `words` (`[[word, confidence, start_ms, duration_ms], ...]`, what
the scanner read). The scanner's spans name word positions, so the words are masked exactly; the text is
masked where its tokens line up with the words (case and punctuation aside) and otherwise rebuilt from
the masked words. A last check looks for the value's letters and digits in what is left and, should they
still be there, masks more: a value is never left in clear for the sake of keeping the decorated text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reviews.redaction.detectors import EMAIL_SEPARATORS
from reviews.redaction.masks import vault_mask_token
from reviews.redaction.numbers import DIGIT_WORDS
from reviews.redaction.records import MaskSpan, UtteranceText
from reviews.redaction.scanner import RedactionScanner

# Shorter remnants of a value (the last digits of a card read over two phrases) are too common to check for.
MIN_CHECKED_CHARS = 6
_TEXT_TOKEN = re.compile(r"\S+")
# Quotes and sentence punctuation around a value stay; brackets go with it (half a pair would remain).
_OPENERS = "\"'“‘"
_CLOSERS = ".,;:!?…\"'”’"
_SPOKEN_SEPARATORS = frozenset(word for word in EMAIL_SEPARATORS if word.isalpha())


@dataclass(frozen=True)
class MaskedPhrase:
    text: str
    words: list
    kinds: tuple[str, ...]  # finding kinds masked in this phrase, in order of appearance


@dataclass(frozen=True)
class _Range:
    kind: str
    first: int
    last: int  # inclusive


def mask_text(text: str, *, phone_regions: Iterable[str] | None = None) -> str:
    """Free text (a search query, a note) with every value the leak detector flags replaced by its mask."""
    if not text or not text.strip():
        return text
    scanner = RedactionScanner(phone_regions=phone_regions)
    scanner.feed(UtteranceText(index=0, start_ms=0, speaker="", text=text))
    scanner.finish()
    masked = mask_phrase(index=0, speaker="", text=text, words=[], spans=scanner.take_spans())
    return text if masked is None else masked.text


def mask_phrase(
    *, index: int, speaker: str, text: str, words: Sequence, spans: Iterable[MaskSpan]
) -> MaskedPhrase | None:
    """The phrase with the spans that reach it masked, or None when none does."""
    text_tokens = list(_TEXT_TOKEN.finditer(text or ""))
    count = len(words) if words else len(text_tokens)
    reaching = [span for span in spans if span.speaker == speaker and span.positions_in(index) is not None]
    ranges = _ranges(index, reaching, count)
    if not ranges:
        return None
    kinds = tuple(dict.fromkeys(part.kind for part in ranges))
    values = [span.value_in(index) for span in reaching]
    if not words:
        masked_text = _replace_text_tokens(text, text_tokens, [(part, part.first, part.last) for part in ranges])
        if _leaves_a_value(masked_text, values):
            masked_text = _whole_phrase_mask(kinds)
        return MaskedPhrase(text=masked_text, words=[], kinds=kinds)
    masked_words = _mask_words(words, ranges)
    if _leaves_a_value(_joined_words(masked_words), values):
        masked_words = [_mask_entry(list(words), _whole_phrase_mask(kinds))]
    masked_text = _mask_aligned_text(text, text_tokens, words, ranges) if text_tokens else text
    if masked_text is None or _leaves_a_value(masked_text, values):
        masked_text = _joined_words(masked_words)
    return MaskedPhrase(text=masked_text, words=masked_words, kinds=kinds)


def _ranges(index: int, spans: Iterable[MaskSpan], count: int) -> list[_Range]:
    """The spans' inclusive position ranges in this phrase, sorted; overlapping ones merged (first kind wins)."""
    found: list[_Range] = []
    for span in spans:
        positions = span.positions_in(index)
        if positions is None or count == 0:
            continue
        first, last = positions
        last = count - 1 if last is None else min(last, count - 1)
        if first <= last:
            found.append(_Range(span.kind, first, last))
    found.sort(key=lambda part: (part.first, part.last))
    merged: list[_Range] = []
    for part in found:
        if merged and part.first <= merged[-1].last:
            previous = merged[-1]
            merged[-1] = _Range(previous.kind, previous.first, max(previous.last, part.last))
        else:
            merged.append(part)
    return merged


# --- words ----------------------------------------------------------------------------------------


def _mask_words(words: Sequence, ranges: Sequence[_Range]) -> list:
    masked: list = []
    position = 0
    for part in ranges:
        masked.extend(
            list(entry) if isinstance(entry, list | tuple) else entry for entry in words[position : part.first]
        )
        masked.append(_mask_entry(list(words[part.first : part.last + 1]), vault_mask_token(part.kind)))
        position = part.last + 1
    masked.extend(list(entry) if isinstance(entry, list | tuple) else entry for entry in words[position:])
    return masked


def _mask_entry(entries: list, token: str) -> list:
    """One word entry for the masked words: first word's start to last word's end, the lowest confidence."""
    confidences = [value for value in (_number(entry, 1) for entry in entries) if value is not None]
    start = _number(entries[0], 2) or 0
    last_start = _number(entries[-1], 2)
    end = (start if last_start is None else last_start) + (_number(entries[-1], 3) or 0)
    return [token, min(confidences) if confidences else None, start, max(end - start, 0)]


def _field(entry, position: int):
    if isinstance(entry, list | tuple) and len(entry) > position:
        return entry[position]
    return None


def _number(entry, position: int) -> int | float | None:
    value = _field(entry, position)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _word_text(entry) -> str:
    value = _field(entry, 0)
    return "" if value is None else str(value)


def _joined_words(words: Sequence) -> str:
    return " ".join(text for text in (_word_text(entry) for entry in words) if text)


# --- text -----------------------------------------------------------------------------------------


def _mask_aligned_text(text: str, text_tokens: list[re.Match], words: Sequence, ranges: Sequence[_Range]) -> str | None:
    """The text with each range's tokens masked, where the words line up with the text; None where they do not.

    A range's text tokens are those strictly between the text tokens of the nearest matched words around it
    (or the text's start/end when the range starts/ends the phrase). So "four one one one ..." in the words
    finds "4111 1111 ..." in decoratedText between the words that surround it.
    """
    word_norms = [_bare(_word_text(entry)) or f"\x00w{position}" for position, entry in enumerate(words)]
    text_norms = [_bare(token.group()) or f"\x00t{position}" for position, token in enumerate(text_tokens)]
    matcher = difflib.SequenceMatcher(None, word_norms, text_norms, autojunk=False)
    mapping: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            mapping[block.a + offset] = block.b + offset
    matched = sorted(mapping)
    replacements: list[tuple[_Range, int, int]] = []
    for part in ranges:
        before = [position for position in matched if position < part.first]
        after = [position for position in matched if position > part.last]
        if before:
            low = mapping[before[-1]] + 1
        elif part.first == 0:
            low = 0
        else:
            return None
        if after:
            high = mapping[after[0]] - 1
        elif part.last == len(words) - 1:
            high = len(text_tokens) - 1
        else:
            return None
        if low > high or (replacements and low <= replacements[-1][2]):
            return None
        replacements.append((part, low, high))
    return _replace_text_tokens(text, text_tokens, replacements)


def _replace_text_tokens(
    text: str, text_tokens: list[re.Match], replacements: Sequence[tuple[_Range, int, int]]
) -> str:
    """Text tokens low..high of each replacement become the mask, keeping quotes and end punctuation around it."""
    pieces: list[str] = []
    cursor = 0
    for part, low, high in replacements:
        start, end = text_tokens[low].start(), text_tokens[high].end()
        covered = text[start:end]
        lead = len(covered) - len(covered.lstrip(_OPENERS))
        trail = len(covered) - len(covered.rstrip(_CLOSERS))
        if lead + trail >= len(covered):
            lead = trail = 0
        pieces.append(text[cursor:start])
        pieces.append(covered[:lead] + vault_mask_token(part.kind) + covered[len(covered) - trail :])
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _bare(token: str) -> str:
    return "".join(char for char in token.lower() if char.isalnum())


# --- the check ------------------------------------------------------------------------------------


def _leaves_a_value(text: str, values: Sequence[str]) -> bool:
    """True when a value's letters and digits still appear, typed or read out digit by digit."""
    checked = [value for value in values if len(value) >= MIN_CHECKED_CHARS]
    if not checked:
        return False
    form = _check_form(text)
    return any(value in form for value in checked)


def _check_form(text: str) -> str:
    """Letters and digits only, single digit words as digits, spoken e-mail separators dropped."""
    parts = []
    for token in text.lower().split():
        bare = _bare(token)
        if bare in _SPOKEN_SEPARATORS:
            continue
        parts.append(DIGIT_WORDS.get(bare, bare) if len(bare) > 1 else bare)  # a lone "o" may be a spelled letter
    return "".join(parts)


def _whole_phrase_mask(kinds: Sequence[str]) -> str:
    return " ".join(vault_mask_token(kind) for kind in kinds)
