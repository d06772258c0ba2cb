"""PostgreSQL: index words inside angle brackets too.

The default text-search parser reads `<script>alert("x")</script>` as markup and indexes none of
it, so words a caller said (or an ASR engine wrote) between brackets were unsearchable. Angle
brackets become spaces before parsing; SQLite's unicode61 tokenizer already treats them so.
"""

from __future__ import annotations

from django.db import migrations

VECTOR = "to_tsvector('english'::regconfig, translate(left(coalesce(text, ''), 100000), '<>', '  '))"
OLD_VECTOR = "to_tsvector('english'::regconfig, left(coalesce(text, ''), 100000))"


def _rebuild(schema_editor, expression: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in (
        "DROP INDEX IF EXISTS reviews_utterance_search_gin",
        "ALTER TABLE reviews_utterance DROP COLUMN IF EXISTS search_vector",
        f"ALTER TABLE reviews_utterance ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({expression}) STORED",
        "CREATE INDEX reviews_utterance_search_gin ON reviews_utterance USING GIN (search_vector) WITH (fastupdate = off)",
    ):
        schema_editor.execute(statement)


def forward(apps, schema_editor):
    _rebuild(schema_editor, VECTOR)


def backward(apps, schema_editor):
    _rebuild(schema_editor, OLD_VECTOR)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0003_search_index")]
    operations = [migrations.RunPython(forward, backward)]
