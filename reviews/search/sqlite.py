"""SQLite FTS5 backend: external-content table reviews_utterance_fts (migration 0003).

Every user term becomes an FTS5 string literal, so FTS5 operators typed by a user
(NEAR, *, ^, :, parentheses) are never interpreted.
"""

from __future__ import annotations

from django.db import connection

from reviews.search.query import ParsedQuery, Term
from reviews.search.snippets import ELLIPSIS, START, STOP, complete_mask_tokens

TABLE = "reviews_utterance_fts"
SNIPPET_TOKENS = 32

# Recreating the triggers is idempotent; see ensure_triggers().
TRIGGERS_SQL = (
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_ai AFTER INSERT ON reviews_utterance BEGIN
        INSERT INTO {TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_ad AFTER DELETE ON reviews_utterance BEGIN
        INSERT INTO {TABLE}({TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_au AFTER UPDATE OF id, text ON reviews_utterance BEGIN
        INSERT INTO {TABLE}({TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO {TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
)


def fts_literal(term: Term) -> str:
    """A term as an FTS5 string: the tokenizer turns several words into a phrase."""
    return '"' + " ".join(term.words).replace('"', '""') + '"'


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
            return {
                pk: complete_mask_tokens(marked, text, delimiter=ELLIPSIS) for pk, marked, text in cursor.fetchall()
            }


def ensure_triggers() -> None:
    """Recreate missing sync triggers.

    Django rebuilds a SQLite table for many ALTERs (new table, copy, drop, rename) and the
    drop takes our triggers with it; the index content survives, so recreating them is enough.
    """
    with connection.cursor() as cursor:
        for statement in TRIGGERS_SQL:
            cursor.execute(statement)
