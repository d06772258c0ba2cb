"""How both search engines tell a mask token from the same words said on the call.

A mask token (`[card number]`, `[phone]`, `[card number*]`, `<REDACTED>`: reviews/redaction/masks.py) is indexed
with MASK_WORD_PREFIX glued to each of its words (`[qqmaskcard qqmasknumber]`), so the plain word "card" never
matches inside one and the query term `[card number]` (reviews/search/query.py) matches nothing else. The stored
text is never changed: only what the engine indexes and matches.

- SQLite: the FTS5 table stores and indexes the rewritten text (triggers, migration 0013). SQL's replace() has no
  regular expressions, so the rewrite covers each token as Genesys writes it, in lower case, UPPER CASE, Title Case
  and Capitalised (`sqlite_form_chunks`). Extra spaces inside the brackets (`[ card  number ]`), which masks.py
  also accepts, are left as words there. SQLite's parser takes about 20 nested calls in a trigger, so the forms
  come in chunks: the lower-case ones (how Genesys writes them) in one, the others in chunks applied only to text
  with a capital letter after a bracket (SQLITE_CAPITALS_GLOB).
- PostgreSQL: the index stays as it is (migration 0004); a match on an utterance that contains `[` or `<` is
  checked again on the rewritten text, which regexp_replace builds with masks.py's own rule: any case, any spacing
  (`postgres_rewrite_sql`).

Snippets are cut from the rewritten text and the prefix is taken out again (`strip_prefix`), so a reader sees
the transcript as stored.
"""

from __future__ import annotations

import re

from reviews.redaction.masks import GENERIC_MASK_TOKENS, GENESYS_MASK_TOKENS, VAULT_MARK, VAULT_MASK_LABELS

MASK_WORD_PREFIX = "qqmask"
_WORD = re.compile(r"[^\W_]+")
# The brackets masks.py puts around each generic token (its MASK_PATTERN): <REDACTED> and [REDACTED_PII].
_GENERIC_SHAPES = {"REDACTED": ("<", ">"), "REDACTED_PII": ("[", "]")}


def _labels() -> list[tuple[str, str, str, str]]:
    """(label, opening bracket, closing bracket, mark) of every mask token masks.py recognises."""
    labels = [(label, "[", "]", "") for label in GENESYS_MASK_TOKENS]
    labels += [(label, "[", "]", VAULT_MARK) for label in dict.fromkeys(VAULT_MASK_LABELS.values())]
    labels += [(token, *_GENERIC_SHAPES[token], "") for token in GENERIC_MASK_TOKENS]
    return labels


def prefixed(words) -> tuple[str, ...]:
    """The words of a mask term as the index holds them."""
    return tuple(MASK_WORD_PREFIX + word for word in words)


def _prefix_words(text: str) -> str:
    return _WORD.sub(lambda match: MASK_WORD_PREFIX + match.group(), text)


def sqlite_forms() -> list[tuple[str, str]]:
    """(token as written, token as indexed) for every mask token and case variant SQLite rewrites."""
    forms: dict[str, str] = {}
    for label, opening, closing, mark in _labels():
        variants = (label.lower(), label.upper(), label.title(), label.lower().capitalize())
        for variant in dict.fromkeys(variants):
            written = f"{opening}{variant}{mark}{closing}"
            forms[written] = f"{opening}{_prefix_words(variant)}{mark}{closing}"
    return list(forms.items())


SQLITE_CHUNK = 15
SQLITE_CAPITALS_GLOB = "*[[<][A-Z]*"  # a bracket followed by a capital: the text may hold a capitalised form


def sqlite_form_chunks() -> list[list[tuple[str, str]]]:
    """sqlite_forms in chunks small enough for one statement: the lower-case forms first, then the others."""
    forms = sqlite_forms()
    lower = [form for form in forms if form[0] == form[0].lower()]
    others = [form for form in forms if form[0] != form[0].lower()]
    return [lower] + [others[start : start + SQLITE_CHUNK] for start in range(0, len(others), SQLITE_CHUNK)]


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sqlite_replace_sql(column: str, forms: list[tuple[str, str]]) -> str:
    """SQL for `column` with `forms` rewritten; text without a bracket is left as it is."""
    expression = column
    for written, indexed in forms:
        expression = f"replace({expression}, {_sql_literal(written)}, {_sql_literal(indexed)})"
    return f"CASE WHEN instr({column}, '[') = 0 AND instr({column}, '<') = 0 THEN {column} ELSE {expression} END"


def postgres_patterns() -> list[tuple[str, str]]:
    """(regular expression, replacement) pairs for regexp_replace(..., 'gi'): masks.py's rule, any case and spacing.

    Each word of the label and each gap is a group, so the replacement keeps the text as written and only adds
    the prefix in front of each word.
    """
    pairs = []
    for label, opening, closing, mark in _labels():
        words = _WORD.findall(label.lower())
        separators = re.findall(r"[\W_]+", label)  # " " between words (any spacing) or "_" (REDACTED_PII)
        pattern = re.escape(opening) + r"(\s*)"
        replacement = opening + r"\1"
        group = 1
        for position, word in enumerate(words):
            group += 1
            pattern += f"({re.escape(word)})"
            replacement += MASK_WORD_PREFIX + f"\\{group}"
            if position < len(separators):
                group += 1
                pattern += r"(\s+)" if separators[position].isspace() else f"({re.escape(separators[position])})"
                replacement += f"\\{group}"
        group += 1
        pattern += r"(\s*" + (re.escape(mark) + r"\s*" if mark else "") + ")" + re.escape(closing)
        replacement += f"\\{group}" + closing
        pairs.append((pattern, replacement))
    return pairs


def postgres_rewrite_sql(column: str) -> tuple[str, list[str]]:
    """SQL for `column` with every mask token rewritten, and its parameters (the patterns are bound, not inlined)."""
    expression, params = column, []
    for pattern, replacement in postgres_patterns():
        expression = f"regexp_replace({expression}, %s, %s, 'gi')"
        # regexp_replace(regexp_replace(col, p1, r1), p2, r2) reads p1, r1, p2, r2: the order they are added.
        params += [pattern, replacement]
    return expression, params


def strip_prefix(text: str) -> str:
    """Indexed text (or a snippet of it) back as stored."""
    return text.replace(MASK_WORD_PREFIX, "")
