"""Streaming redaction verification over one transcript.

`RedactionScanner.feed()` takes utterances in order and keeps only a bounded window per speaker:
the open number chain (≤ 48 pieces), the last few dozen tokens for excerpts and spoken e-mails,
and findings still waiting for their trailing context. Memory is flat in transcript length.

Values are never logged or stored: findings carry kind, rule, score, position and a masked excerpt.
For masking, every detection is also reported as a `MaskSpan` (`take_spans()`): the exact tokens that
form the value, by utterance index and word position. `settled_below()` says which utterances no later
detection can reach, so a caller can hold back only the phrases that may still change.
"""

from __future__ import annotations

import bisect
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from reviews.redaction.detectors import (
    CONTEXT_CATEGORIES,
    DEFAULT_PHONE_REGIONS,
    EMAIL_SEPARATORS,
    IBAN_COUNTRY_CODES,
    SPOKEN_EMAIL_TLDS,
    ChainContext,
    Detection,
    could_hold_a_value,
    detect_in_chain,
    email_fragments,
    parse_spoken_email,
    typed_email,
    word_set,
)
from reviews.redaction.excerpts import CONTEXT_TOKENS_EACH_SIDE, build_excerpt, render_context_token
from reviews.redaction.identifiers import letters_and_digits
from reviews.redaction.masks import count_mask_tokens, find_masks
from reviews.redaction.numbers import (
    DIGIT_WORDS,
    FILLER_WORDS,
    NUMBER_WORDS,
    PLUS_WORDS,
    Piece,
    PieceChain,
    split_hyphenated,
    typed_digits,
)
from reviews.redaction.records import Finding, MaskSpan, RedactionReport, UtteranceText

MAX_CHAIN_PIECES = 48  # longest legitimate value is a 34-character IBAN; beyond this, evaluate and restart
MAX_GAP_MS = 15_000  # a pause this long between two pieces ends a dictated number
HISTORY_TOKENS = 80  # per speaker: a full chain plus excerpt context
EMAIL_WINDOW_TOKENS = 24  # "firstname dot lastname dot nineteen ninety at mail dot example dot co dot uk" fits
CONTEXT_WINDOW_TOKENS = 40  # how far back "social security" / "phone" / "email" still counts
REFERENCE_WINDOW_TOKENS = 8  # "order number ..." only describes the number right after it
MAX_SPEAKERS = 8  # streams kept; a transcript has 2–4 speaker labels
_STRIP_CHARS = "\"'()[]{}<>,;:!?…“”‘’."
# Country codes that may start a spelled IBAN ("g b two nine ..."); those that are everyday words
# ("at", "it", "is", "no", ...) would keep ordinary sentences open as chains, so they are left out.
IBAN_LETTER_WORDS = IBAN_COUNTRY_CODES - word_set("at be by do is it me no")
# Short acknowledgements by the other party do not interrupt someone dictating a number.
BACKCHANNEL_WORDS = word_set(
    "yes yeah yep okay ok right sure alright go ahead mhm mm-hmm uh-huh got it continue perfect great thanks thank you"
)


@dataclass(slots=True)
class _Token:
    seq: int
    display: str
    norm: str
    utterance_index: int
    start_ms: int
    position: int  # index of the word (or, for a phrase without words, of the text token) it came from
    mask_key: str | None = None
    sensitive: bool = False


@dataclass(slots=True)
class _PendingFinding:
    """A detection waiting for the words after it, so its excerpt has trailing context."""

    detection: Detection
    first: _Token
    last_seq: int
    before: list[_Token]
    after: list[_Token]


@dataclass(slots=True)
class _SpeakerStream:
    speaker: str = ""
    history: deque[_Token] = field(default_factory=lambda: deque(maxlen=HISTORY_TOKENS))
    chain: PieceChain = field(default_factory=PieceChain)
    chain_first_seq: int = 0
    chain_mask_before: str | None = None
    last_piece_ms: int = 0
    previous_mask: str | None = None
    email_floor_seq: int = 0  # tokens up to here were consumed by an address already
    email_may_end: bool = False  # the last token was a top-level domain: an address may just have ended
    pending: list[_PendingFinding] = field(default_factory=list)


class RedactionScanner:
    """Counts mask tokens and finds PII the masking missed, one utterance at a time."""

    def __init__(self, phone_regions: Iterable[str] | None = None) -> None:
        self._regions = _normalise_regions(phone_regions)
        self._mask_counts: Counter[str] = Counter()
        self._findings: list[Finding] = []
        self._streams: OrderedDict[str, _SpeakerStream] = OrderedDict()
        self._context_seen: dict[str, int] = {}
        self._seq = 0
        self._spans: list[MaskSpan] = []
        self._next_index = 0

    def feed(self, utterance: UtteranceText) -> None:
        self._next_index = max(self._next_index, utterance.index + 1)
        text = utterance.text or " ".join(word for word, _ in utterance.words)
        if "[" in text or "<" in text:
            self._mask_counts.update(count_mask_tokens(text))
        tokens = self._tokens_of(utterance)
        if not tokens:
            return
        if not all(token.norm in BACKCHANNEL_WORDS or token.norm in FILLER_WORDS for token in tokens):
            self._interrupt_other_speakers(utterance.speaker)
        stream = self._stream_for(utterance.speaker)
        for token in tokens:
            self._consume(stream, token)

    def finish(self) -> RedactionReport:
        for stream in list(self._streams.values()):
            self._flush(stream)
        self._streams.clear()
        findings = sorted(self._findings, key=lambda finding: (finding.utterance_index, finding.start_ms))
        return RedactionReport(mask_counts=dict(self._mask_counts), findings=findings)

    # --- masking -----------------------------------------------------------------------------------

    def take_spans(self) -> list[MaskSpan]:
        """The spans of the values detected since the last call (after `finish()`: the rest)."""
        spans, self._spans = self._spans, []
        return spans

    def settled_below(self) -> int:
        """Utterances below this index are final: no detection made later can start in them.

        A later detection can only reach back to the first token of a speaker's open number chain (or a
        "double" still waiting for its digit), or into the last EMAIL_WINDOW_TOKENS of a speaker's words (a
        spoken address is parsed when its last word arrives); a real turn by someone else closes both. Pending
        findings only wait for excerpt context: their spans are already out. So what a caller must hold back
        is the current turn at most, bounded like the scanner is.
        """
        settled = self._next_index
        for stream in self._streams.values():
            earliest = cast(_Token | None, stream.chain.earliest_ref())
            if earliest is not None:
                settled = min(settled, earliest.utterance_index)
            oldest = _oldest_email_candidate(stream)
            if oldest is not None:
                settled = min(settled, oldest.utterance_index)
        return settled

    def settle(self) -> None:
        """Decides every open number and spoken-address window now, so `settled_below()` moves to the next
        utterance. Only for a caller whose held-back phrases would otherwise grow without bound (a number
        "dictated" across thousands of empty phrases): it may end such a chain early.
        """
        for stream in self._streams.values():
            self._end_chain(stream, mask_after=None)
            self._close_email_window(stream)

    # --- tokens ------------------------------------------------------------------------------------

    def _tokens_of(self, utterance: UtteranceText) -> list[_Token]:
        parts: Sequence[tuple[str, int]]
        if utterance.words:
            parts = [(word, utterance.start_ms if start is None else start) for word, start in utterance.words]
        else:
            # One part per text token, so a token's position says which text token to mask.
            parts = [(piece, utterance.start_ms) for piece in utterance.text.split()]
        if any("[" in part or "<" in part for part, _ in parts):
            raw = _split_tokens_with_masks(parts)
        else:
            raw = [
                (display, start_ms, None, position)
                for position, (part, start_ms) in enumerate(parts)
                for display in part.split()
            ]
        tokens = []
        seq, index = self._seq, utterance.index
        for display, start_ms, mask_key, position in raw:
            norm = "" if mask_key is not None else display.lower().strip(_STRIP_CHARS)
            if norm or mask_key is not None:  # stray punctuation is dropped
                seq += 1
                tokens.append(_Token(seq, display, norm, index, start_ms, position, mask_key))
        self._seq = seq
        return tokens

    # --- per token ---------------------------------------------------------------------------------

    def _consume(self, stream: _SpeakerStream, token: _Token) -> None:
        norm = token.norm
        category = CONTEXT_CATEGORIES.get(norm)
        if category is not None:
            self._context_seen[category] = token.seq
        if stream.email_may_end and not _continues_email(norm):
            self._check_spoken_email(stream)
        chain = stream.chain
        if _is_plain_word(token, chain_open=bool(chain.pieces)):
            # Fast path for the vast majority of tokens: an ordinary word ends any number being dictated.
            if chain.pieces:
                self._end_chain(stream, mask_after=None)
            elif chain.modifier_pending:
                chain.close()  # a dangling "double" / "plus" must not reach the next number
            stream.previous_mask = None
        else:
            self._consume_special(stream, token)
        stream.history.append(token)
        stream.email_may_end = norm in SPOKEN_EMAIL_TLDS or (
            "." in norm and norm.rsplit(".", 1)[1] in SPOKEN_EMAIL_TLDS
        )
        if stream.pending:
            self._add_trailing_context(stream, token)

    def _consume_special(self, stream: _SpeakerStream, token: _Token) -> None:
        """Mask tokens, number-ish tokens, typed addresses and fillers."""
        chain = stream.chain
        if chain.pieces and token.start_ms - stream.last_piece_ms > MAX_GAP_MS:
            self._end_chain(stream, mask_after=None)
        if token.mask_key is not None:
            self._consume_mask(stream, token)
            return
        if "@" in token.norm:
            self._consume_typed_email(stream, token)
        self._consume_for_numbers(stream, token)

    def _consume_mask(self, stream: _SpeakerStream, token: _Token) -> None:
        """A mask token is a redacted span: it ends any number or address, and is never scanned."""
        self._end_chain(stream, mask_after=token.mask_key)
        stream.previous_mask = token.mask_key

    def _consume_for_numbers(self, stream: _SpeakerStream, token: _Token) -> None:
        if token.norm in FILLER_WORDS:
            return  # hesitation: neither part of a number nor the end of one
        chain = stream.chain
        if len(chain.pieces) >= MAX_CHAIN_PIECES:
            self._end_chain(stream, mask_after=None)
        was_empty = not chain.pieces
        if self._add_to_chain(chain, token):
            if was_empty and chain.pieces:
                stream.chain_first_seq = token.seq
                stream.chain_mask_before = stream.previous_mask
            if chain.pieces:
                stream.last_piece_ms = token.start_ms
        else:
            self._end_chain(stream, mask_after=None)
        stream.previous_mask = None

    def _add_to_chain(self, chain: PieceChain, token: _Token) -> bool:
        """Adds a number-ish token to the chain; False for a plain word, which ends the chain."""
        norm = token.norm
        if norm.isalpha():
            if chain.add_number_word(norm, token):
                token.sensitive = True
                return True
            if len(norm) == 1 or norm in IBAN_LETTER_WORDS:
                chain.add_letters(norm, token, spoken=len(norm) == 1)
                return True
            if len(norm) == 4 and chain.pieces and chain.ends_with_iban_prefix():
                chain.add_letters(norm, token, spoken=False)  # a GB/IE bank code such as "nwbk"
                token.sensitive = True
                return True
            return False
        typed = typed_digits(norm)
        if typed is not None:
            chain.add_typed_digits(typed, token)
            token.sensitive = True
            return True
        number_words = split_hyphenated(norm)  # "twenty-five"
        if len(number_words) > 1:
            for part in number_words:
                chain.add_number_word(part, token)
            token.sensitive = True
            return True
        if norm.isascii() and norm.isalnum() and len(norm) <= 34:  # "gb29", "de89370400..."
            chain.add_letters(norm, token, spoken=False)
            token.sensitive = True
            return True
        return False

    def _end_chain(self, stream: _SpeakerStream, *, mask_after: str | None) -> None:
        chain = stream.chain
        chain.close()
        if could_hold_a_value(chain.pieces):
            context = ChainContext(
                has_context=lambda category, since=stream.chain_first_seq: self._has_context(category, since),
                mask_before=stream.chain_mask_before,
                mask_after=mask_after,
            )
            for detection in detect_in_chain(chain.pieces, context, self._regions):
                self._start_finding(stream, detection, _chain_value_parts(chain.pieces, detection))
        chain.clear()
        stream.chain_mask_before = None

    def _has_context(self, category: str, since_seq: int) -> bool:
        seen = self._context_seen.get(category)
        window = REFERENCE_WINDOW_TOKENS if category == "reference" else CONTEXT_WINDOW_TOKENS
        return seen is not None and seen >= since_seq - window

    # --- e-mail ------------------------------------------------------------------------------------

    def _consume_typed_email(self, stream: _SpeakerStream, token: _Token) -> None:
        if typed_email(token.norm) is None:
            return
        token.sensitive = True
        local, domain = token.norm.split("@", 1)
        fragments = email_fragments(local, domain)
        detection = Detection("email", "email.regex", 0.95, token, token, fragments)
        self._start_finding(stream, detection, ((token.utterance_index, letters_and_digits(token.norm)),))

    def _check_spoken_email(self, stream: _SpeakerStream) -> None:
        """Parses the speaker's last words, which end in a top-level domain, as a spoken address."""
        window = [token for token in list(stream.history)[-EMAIL_WINDOW_TOKENS:] if token.seq > stream.email_floor_seq]
        entries: list[tuple[str, _Token]] = []
        for token in window:
            entries.extend((entry, token) for entry in _email_entries(token))
        if len(entries) < 5:
            return
        words = [entry for entry, _ in entries]
        parsed = parse_spoken_email(words, has_email_context=self._has_context("email", window[0].seq))
        if parsed is None:
            return
        first, last = entries[parsed.start][1], entries[-1][1]
        fragments = email_fragments(parsed.local, parsed.domain)
        confidence = 0.9 if parsed.confident else 0.75
        detection = Detection("email", "email.spoken", confidence, first, last, fragments)
        self._start_finding(stream, detection, _value_parts(entries[parsed.start :]))
        stream.email_floor_seq = last.seq

    # --- findings and excerpts ---------------------------------------------------------------------

    def _start_finding(
        self, stream: _SpeakerStream, detection: Detection, value_parts: tuple[tuple[int, str], ...]
    ) -> None:
        first, last = cast(_Token, detection.first_ref), cast(_Token, detection.last_ref)
        self._spans.append(
            MaskSpan(
                kind=detection.kind,
                speaker=stream.speaker,
                first=(first.utterance_index, first.position),
                last=(last.utterance_index, last.position),
                value_parts=value_parts,
            )
        )
        before = [token for token in stream.history if token.seq < first.seq][-CONTEXT_TOKENS_EACH_SIDE:]
        after = [token for token in stream.history if token.seq > last.seq]
        for token in stream.history:
            if first.seq <= token.seq <= last.seq:
                token.sensitive = True  # other findings' excerpts must not show these words either
        pending = _PendingFinding(
            detection=detection,
            first=first,
            last_seq=last.seq,
            before=before,
            after=after,
        )
        stream.pending.append(pending)
        self._complete_ready(stream)

    def _add_trailing_context(self, stream: _SpeakerStream, token: _Token) -> None:
        for pending in stream.pending:
            if token.seq > pending.last_seq:
                pending.after.append(token)
        self._complete_ready(stream)

    def _complete_ready(self, stream: _SpeakerStream, *, force: bool = False) -> None:
        if not stream.pending:
            return
        waiting = []
        for pending in stream.pending:
            if force or len(pending.after) >= _TRAILING_TOKENS_BEFORE_RENDERING:
                self._findings.append(_finding_from(pending))
            else:
                waiting.append(pending)
        stream.pending = waiting

    # --- speakers ----------------------------------------------------------------------------------

    def _stream_for(self, speaker: str) -> _SpeakerStream:
        stream = self._streams.get(speaker)
        if stream is None:
            stream = self._streams[speaker] = _SpeakerStream(speaker=speaker)
            if len(self._streams) > MAX_SPEAKERS:
                _, evicted = self._streams.popitem(last=False)
                self._flush(evicted)
        else:
            self._streams.move_to_end(speaker)
        return stream

    def _interrupt_other_speakers(self, speaker: str) -> None:
        """A real turn by someone else ends numbers and addresses the others were dictating.

        Ending addresses too keeps what a later detection can reach (settled_below) within the current turn.
        """
        for other_speaker, stream in self._streams.items():
            if other_speaker == speaker:
                continue
            if stream.chain.pieces:
                self._end_chain(stream, mask_after=None)
            self._close_email_window(stream)

    def _close_email_window(self, stream: _SpeakerStream) -> None:
        """Decides an address that may just have ended; the words before can no longer start one."""
        if stream.email_may_end:
            self._check_spoken_email(stream)
            stream.email_may_end = False
        if stream.history:
            stream.email_floor_seq = max(stream.email_floor_seq, stream.history[-1].seq)

    def _flush(self, stream: _SpeakerStream) -> None:
        self._end_chain(stream, mask_after=None)
        if stream.email_may_end:
            self._check_spoken_email(stream)
        self._complete_ready(stream, force=True)


_CHAIN_WORDS = NUMBER_WORDS | PLUS_WORDS | IBAN_LETTER_WORDS | FILLER_WORDS


def _is_plain_word(token: _Token, *, chain_open: bool) -> bool:
    """An ordinary word: it cannot be part of a number or an IBAN, so it ends any open chain.

    Four-letter words are only ambiguous inside a chain (an IBAN bank code such as "nwbk").
    """
    norm = token.norm
    return (
        norm.isalpha()
        and len(norm) > 1
        and norm not in _CHAIN_WORDS
        and not (chain_open and len(norm) == 4)
        and token.mask_key is None
    )


# Trailing words are rendered only once any spoken address among them has had time to complete, so a
# later "jane dot doe at example dot com" is masked in this excerpt too.
_TRAILING_TOKENS_BEFORE_RENDERING = CONTEXT_TOKENS_EACH_SIDE + EMAIL_WINDOW_TOKENS + 1


def _finding_from(pending: _PendingFinding) -> Finding:
    detection = pending.detection
    before = [_render(token, detection.fragments) for token in pending.before]
    after = [_render(token, detection.fragments) for token in pending.after[:CONTEXT_TOKENS_EACH_SIDE]]
    return Finding(
        utterance_index=pending.first.utterance_index,
        start_ms=pending.first.start_ms,
        kind=detection.kind,
        rule=detection.rule,
        confidence=detection.confidence,
        masked_excerpt=build_excerpt(detection.kind, before, after),
    )


def _render(token: _Token, fragments: Sequence[str]) -> str:
    return render_context_token(
        token.display, sensitive=token.sensitive, is_mask=token.mask_key is not None, fragments=fragments
    )


def _oldest_email_candidate(stream: _SpeakerStream) -> _Token | None:
    """The oldest word a spoken address found later could still start at, or None."""
    history, floor = stream.history, stream.email_floor_seq
    if not history or history[-1].seq <= floor:
        return None
    position = max(len(history) - EMAIL_WINDOW_TOKENS, 0)
    while history[position].seq <= floor:  # only right after an address: the floor lies inside the window
        position += 1
    return history[position]


def _chain_value_parts(pieces: Sequence[Piece], detection: Detection) -> tuple[tuple[int, str], ...]:
    """The detected value's characters per utterance, from the chain pieces between its first and last token."""
    first, last = cast(_Token, detection.first_ref).seq, cast(_Token, detection.last_ref).seq
    return _value_parts(
        (piece.chars, cast(_Token, piece.ref)) for piece in pieces if first <= cast(_Token, piece.ref).seq <= last
    )


def _value_parts(entries: Iterable[tuple[str, _Token]]) -> tuple[tuple[int, str], ...]:
    """(utterance index, letters and digits of the value said there) in order; separators dropped."""
    parts: dict[int, str] = {}
    for chars, token in entries:
        parts[token.utterance_index] = parts.get(token.utterance_index, "") + letters_and_digits(chars)
    return tuple(parts.items())


def _continues_email(norm: str) -> bool:
    """The next word extends the domain ("dot co" -> "dot uk"), so the address is not complete yet."""
    return EMAIL_SEPARATORS.get(norm) == "." or norm.startswith(".")


def _email_entries(token: _Token) -> list[str]:
    """A token as spoken-e-mail entries: separators mapped, digit words as digits, "a.b" split."""
    norm = token.norm
    if token.mask_key is not None or not norm:
        return ["|"]  # a redacted span breaks any address being spelled
    separator = EMAIL_SEPARATORS.get(norm)
    if separator is not None:
        return [separator]
    digit = DIGIT_WORDS.get(norm) if len(norm) > 1 else None  # a lone "o" in a spelled name is the letter
    if digit is not None:
        return [digit]
    if norm.isascii() and norm.isalnum():
        return [norm]
    labels = norm.split(".")
    if len(labels) > 1 and all(label.isascii() and label.isalnum() for label in labels):
        entries = []
        for label in labels:
            entries.extend((label, "."))
        return entries[:-1]
    return ["|"]


def _split_tokens_with_masks(parts: Sequence[tuple[str, int]]) -> list[tuple[str, int, str | None, int]]:
    """Whitespace tokens with their start time and part position; mask tokens (which may span words) kept whole."""
    offsets, position = [], 0
    for text, _ in parts:
        offsets.append(position)
        position += len(text) + 1
    joined = " ".join(text for text, _ in parts)

    def part_at(offset: int) -> int:
        return bisect.bisect_right(offsets, offset) - 1

    tokens: list[tuple[str, int, str | None, int]] = []
    cursor = 0
    for start, end, key in [*find_masks(joined), (len(joined), len(joined), None)]:
        segment = joined[cursor:start]
        offset = cursor
        for piece in segment.split():
            offset = joined.index(piece, offset)
            part = part_at(offset)
            tokens.append((piece, parts[part][1], None, part))
            offset += len(piece)
        if key is not None:
            part = part_at(start)
            tokens.append((joined[start:end], parts[part][1], key, part))
        cursor = end
    return tokens


def _normalise_regions(regions: Iterable[str] | None) -> tuple[str, ...]:
    if regions is None:
        return DEFAULT_PHONE_REGIONS
    # "UK" is what people type; phonenumbers only knows the ISO code "GB".
    return tuple(dict.fromkeys("GB" if region.upper() == "UK" else region.upper() for region in regions))
