"""Full-text index over reviews_utterance.text, per database vendor.

SQLite: external-content FTS5 table reviews_utterance_fts (rowid = utterance id) kept in sync
by triggers. PostgreSQL: STORED generated tsvector column search_vector with a GIN index; only
the first 100,000 characters of one utterance are indexed because a tsvector must stay < 1 MB.
The model does not declare either, so the migration state is unchanged (makemigrations stays clean).
The DDL is inlined on purpose: a migration must not change when application code does.
"""

from __future__ import annotations

from django.db import migrations

SQLITE_FORWARD = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS reviews_utterance_fts USING fts5(
        text, content='reviews_utterance', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER IF NOT EXISTS reviews_utterance_fts_ai AFTER INSERT ON reviews_utterance BEGIN
        INSERT INTO reviews_utterance_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS reviews_utterance_fts_ad AFTER DELETE ON reviews_utterance BEGIN
        INSERT INTO reviews_utterance_fts(reviews_utterance_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS reviews_utterance_fts_au AFTER UPDATE OF id, text ON reviews_utterance BEGIN
        INSERT INTO reviews_utterance_fts(reviews_utterance_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO reviews_utterance_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    # Index rows that existed before this migration.
    "INSERT INTO reviews_utterance_fts(reviews_utterance_fts) VALUES ('rebuild')",
)
SQLITE_REVERSE = (
    "DROP TRIGGER IF EXISTS reviews_utterance_fts_ai",
    "DROP TRIGGER IF EXISTS reviews_utterance_fts_ad",
    "DROP TRIGGER IF EXISTS reviews_utterance_fts_au",
    "DROP TABLE IF EXISTS reviews_utterance_fts",
)
POSTGRES_FORWARD = (
    """ALTER TABLE reviews_utterance ADD COLUMN IF NOT EXISTS search_vector tsvector
        GENERATED ALWAYS AS (to_tsvector('english'::regconfig, left(coalesce(text, ''), 100000))) STORED""",
    # fastupdate off: no pending list for searches to scan or for a user query to flush (perf doc §2);
    # ingest is bounded by the Genesys rate limit, so paying the GIN update at insert time is cheap.
    """CREATE INDEX IF NOT EXISTS reviews_utterance_search_gin ON reviews_utterance
        USING GIN (search_vector) WITH (fastupdate = off)""",
)
POSTGRES_REVERSE = (
    "DROP INDEX IF EXISTS reviews_utterance_search_gin",
    "ALTER TABLE reviews_utterance DROP COLUMN IF EXISTS search_vector",
)


def _run(schema_editor, statements_by_vendor: dict[str, tuple[str, ...]]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in statements_by_vendor:
        raise RuntimeError(f"Transcript Vault search supports SQLite and PostgreSQL, not {vendor}")
    for statement in statements_by_vendor[vendor]:
        schema_editor.execute(statement)


def create_search_index(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD})


def drop_search_index(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0002_groups")]
    operations = [migrations.RunPython(create_search_index, drop_search_index)]
