"""SQLite FTS5 backend: table reviews_utterance_fts (migrations 0003 and 0013).

The table keeps its own copy of each utterance's text with the mask tokens rewritten (reviews/search/mask_index.py),
filled by triggers on reviews_utterance, so a plain word never matches inside a mask token.
Every user term becomes an FTS5 string literal, so FTS5 operators typed by a user
(NEAR, *, ^, :, parentheses) are never interpreted.
"""

from __future__ import annotations

from django.db import connection

from reviews.search.mask_index import (
    SQLITE_CAPITALS_GLOB,
    prefixed,
    sqlite_form_chunks,
    sqlite_replace_sql,
    strip_prefix,
)
from reviews.search.query import ParsedQuery, Term
from reviews.search.snippets import ELLIPSIS, START, STOP, complete_mask_tokens

TABLE = "reviews_utterance_fts"
SNIPPET_TOKENS = 32


def _index_new_row() -> str:
    """Trigger statements that index new.text with its mask tokens rewritten (mask_index.sqlite_form_chunks)."""
    first, *rest = sqlite_form_chunks()
    statements = [f"INSERT INTO {TABLE}(rowid, text) VALUES (new.id, {sqlite_replace_sql('new.text', first)});"]
    statements += [
        f"UPDATE {TABLE} SET text = {sqlite_replace_sql('text', chunk)} "
        f"WHERE rowid = new.id AND new.text GLOB '{SQLITE_CAPITALS_GLOB}';"
        for chunk in rest
    ]
    return "\n        ".join(statements)


# The same statements as migration 0013 (tests/search/test_mask_index.py holds them equal); recreating them is
# idempotent, see ensure_triggers(). A new mask token in masks.py needs a migration that rewrites the index.
TRIGGERS_SQL = (
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_ai AFTER INSERT ON reviews_utterance BEGIN
        {_index_new_row()}
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_ad AFTER DELETE ON reviews_utterance BEGIN
        DELETE FROM {TABLE} WHERE rowid = old.id;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_au AFTER UPDATE OF id, text ON reviews_utterance BEGIN
        DELETE FROM {TABLE} WHERE rowid = old.id;
        {_index_new_row()}
    END""",
)


def fts_literal(term: Term) -> str:
    """A term as an FTS5 string: the tokenizer turns several words into a phrase; a mask term, its indexed form."""
    words = prefixed(term.words) if term.mask else term.words
    return '"' + " ".join(words).replace('"', '""') + '"'


class SqliteBackend:
    vendor = "sqlite"
    source_sql = f"{TABLE} JOIN reviews_utterance u ON u.id = {TABLE}.rowid"
    newest_first_sql = f"{TABLE}.rowid DESC"  # FTS5 walks its doclists in rowid order for free
    newest_first_is_free = True
    materialized = ""
    rowid_sql = f"{TABLE}.rowid"
    supports_rowid_buckets = True  # see service._Prepared._span_candidates_sql

    def compile(self, parsed: ParsedQuery) -> str | None:
        """The MATCH expression, or None when the query has nothing that can match."""
        if not parsed.has_positive_terms:
            return None
        clauses = [
            fts_literal(clause[0]) if len(clause) == 1 else "(" + " OR ".join(map(fts_literal, clause)) + ")"
            for clause in parsed.clauses
        ]
        expression = "(" + " AND ".join(clauses) + ")"
        for excluded in parsed.exclusions:
            expression += " NOT " + fts_literal(excluded)
        return expression

    def match(self, compiled: str) -> tuple[str, list]:
        return f"{TABLE} MATCH %s", [compiled]

    def score(self, compiled: str) -> tuple[str, list]:
        # bm25() is "lower is better"; negate so every engine reports "higher is better".
        return f"-bm25({TABLE})", []

    def snippets(self, compiled: str, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        placeholders = ", ".join(["%s"] * len(ids))
        sql = (
            f"SELECT {TABLE}.rowid, snippet({TABLE}, 0, %s, %s, %s, %s), u.text FROM {TABLE} "
            f"JOIN reviews_utterance u ON u.id = {TABLE}.rowid "
            f"WHERE {TABLE} MATCH %s AND {TABLE}.rowid IN ({placeholders})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [START, STOP, ELLIPSIS, SNIPPET_TOKENS, compiled, *ids])
            # The snippet is cut from the indexed copy: take the mask prefix out so it reads as stored.
            return {
                pk: complete_mask_tokens(strip_prefix(marked), text, delimiter=ELLIPSIS)
                for pk, marked, text in cursor.fetchall()
            }


def ensure_triggers() -> None:
    """Recreate missing sync triggers.

    Django rebuilds a SQLite table for many ALTERs (new table, copy, drop, rename) and the
    drop takes our triggers with it; the index content survives, so recreating them is enough.
    """
    with connection.cursor() as cursor:
        for statement in TRIGGERS_SQL:
            cursor.execute(statement)
