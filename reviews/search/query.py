"""The user query language, parsed by a real tokenizer (never handed raw to MATCH or to_tsquery).

    refund manager            both words (AND)
    "late delivery"           exact phrase
    -voicemail  -"call back"  exclusions
    refund OR chargeback      either term; OR binds tighter than AND, so
                              `refund OR chargeback manager` = (refund OR chargeback) AND manager
    [card number]  -[phone]   a mask token (reviews/redaction/masks.py): only a label in square brackets
                              finds one; a plain word never matches inside a mask token
    NEAR(refund manager, 5)   NEAR, NEAR/n and the distance are read as AND: both words in one utterance

Everything else (*, :, ^, parentheses, backslashes, unbalanced quotes, emoji, ...) is plain
text: words are the runs of letters and digits, exactly what the FTS5 unicode61 tokenizer and
the PostgreSQL parser index, and the rest is ignored. A word with inner punctuation (e-mail,
don't, 10:30) becomes a phrase of its parts, as the index stores it. Square brackets around
anything but a mask label are punctuation too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reviews.redaction.masks import MASK_TOKENS, VAULT_MASK_LABELS

# Bounds keep hostile input (10k characters, thousands of terms) cheap for both engines.
MAX_QUERY_CHARS = 1000
MAX_TERMS = 16
MAX_WORDS_PER_TERM = 16
MAX_WORD_CHARS = 64

_WORD = re.compile(r"[^\W_]+")
_OR_KEYWORDS = frozenset({"OR", "or", "Or", "oR", "|"})
# FTS5 and FTS3 spell their proximity operators in capitals; lower-case "near" is an ordinary word.
_NEAR_KEYWORD = re.compile(r"NEAR(?:/\d+)?")
_NEAR_GROUP = re.compile(r"NEAR(?:/\d+)?\(([^()]*?)(?:,\s*\d+\s*)?\)")
_MASK_CLOSE_WITHIN = 40  # the longest label is "card expiry date"; a far-away "]" is not a mask token's


def _words_of(text: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORD.findall(text))


# The labels a query can ask for in brackets: every Genesys, vault and generic mask token (reviews/redaction/masks.py).
MASK_LABEL_WORDS: frozenset[tuple[str, ...]] = frozenset(
    _words_of(label) for label in (*MASK_TOKENS, *VAULT_MASK_LABELS.values())
)


@dataclass(frozen=True)
class Term:
    """One search unit: a word or a phrase (several words that must appear in order)."""

    words: tuple[str, ...]
    mask: bool = False  # a mask token ("[card number]"), never the same words said on the call

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1

    def __str__(self) -> str:
        text = " ".join(self.words)
        if self.mask:
            return f"[{text}]"
        return f'"{text}"' if self.is_phrase else text


@dataclass(frozen=True)
class ParsedQuery:
    """Conjunctive form: every clause must match (a clause is one or more OR-ed terms); no exclusion may."""

    clauses: tuple[tuple[Term, ...], ...] = ()
    exclusions: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.clauses and not self.exclusions

    @property
    def has_positive_terms(self) -> bool:
        return bool(self.clauses)

    @property
    def has_masks(self) -> bool:
        return any(term.mask for clause in self.clauses for term in clause) or any(t.mask for t in self.exclusions)

    @property
    def terms(self) -> list[str]:
        """Every term as the user would type it again; for audit records and 'you searched for'."""
        positive = [str(term) for clause in self.clauses for term in clause]
        return positive + [f"-{term}" for term in self.exclusions]

    def __str__(self) -> str:
        """A sanitized re-serialisation in the same language (stable, safe to show or log)."""
        parts = [" OR ".join(str(term) for term in clause) for clause in self.clauses]
        parts += [f"-{term}" for term in self.exclusions]
        return " ".join(parts)


@dataclass(frozen=True)
class _Token:
    kind: str  # "term" or "or"
    term: Term | None = None
    negated: bool = False


def parse_query(text: str | None) -> ParsedQuery:
    """Parse user input; never raises, whatever the input."""
    if not isinstance(text, str):
        return ParsedQuery()
    # NEAR(a b, 5) keeps its words and drops the operator and the distance (module docstring).
    tokens = _tokenize(_NEAR_GROUP.sub(r" \1 ", text[:MAX_QUERY_CHARS]))
    return _assemble(tokens)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        negated = char == "-" and position + 1 < length and not text[position + 1].isspace()
        if negated:
            position += 1
        if text[position] == "[":
            mask, after = _mask_at(text, position)
            if mask is not None:
                _append_term(tokens, list(mask), negated=negated, mask=True)
                position = after
                continue
        if text[position] == '"':
            closing = text.find('"', position + 1)
            if closing == -1:
                # An unbalanced quote is plain text: drop it and read the rest as words.
                position += 1
                continue
            raw, position = text[position + 1 : closing], closing + 1
            _append_term(tokens, _WORD.findall(raw), negated=negated)
            continue
        end = position
        while end < length and not text[end].isspace() and text[end] != '"':
            end += 1
        raw, position = text[position:end], end
        if not negated and raw in _OR_KEYWORDS:
            tokens.append(_Token(kind="or"))
            continue
        if _NEAR_KEYWORD.fullmatch(raw):
            continue  # `a NEAR b`: AND, like two words side by side
        _append_term(tokens, _WORD.findall(raw), negated=negated)
    return tokens


def _mask_at(text: str, position: int) -> tuple[tuple[str, ...] | None, int]:
    """The mask label bracketed at text[position] ("[card number]", "[card number*]") and the position after it."""
    closing = text.find("]", position + 1, position + 2 + _MASK_CLOSE_WITHIN)
    if closing == -1:
        return None, position
    words = _words_of(text[position + 1 : closing])
    return (words, closing + 1) if words in MASK_LABEL_WORDS else (None, position)


def _append_term(tokens: list[_Token], words: list[str], *, negated: bool, mask: bool = False) -> None:
    cleaned = tuple(word.lower()[:MAX_WORD_CHARS] for word in words[:MAX_WORDS_PER_TERM])
    if cleaned:
        tokens.append(_Token(kind="term", term=Term(words=cleaned, mask=mask), negated=negated))


def _assemble(tokens: list[_Token]) -> ParsedQuery:
    clauses: list[list[Term]] = []
    exclusions: list[Term] = []
    pending_or = False
    previous_was_positive = False
    for token in tokens:
        if len(exclusions) + sum(len(clause) for clause in clauses) >= MAX_TERMS:
            break
        if token.kind == "or":
            # OR only joins two positive terms; at the start, at the end or beside an exclusion it means nothing.
            pending_or = previous_was_positive
            continue
        assert token.term is not None
        if token.negated:
            if token.term not in exclusions:
                exclusions.append(token.term)
            pending_or = previous_was_positive = False
            continue
        if pending_or and clauses:
            if token.term not in clauses[-1]:
                clauses[-1].append(token.term)
        elif [token.term] not in clauses:
            clauses.append([token.term])
        pending_or = False
        previous_was_positive = True
    return ParsedQuery(clauses=tuple(tuple(clause) for clause in clauses), exclusions=tuple(exclusions))
