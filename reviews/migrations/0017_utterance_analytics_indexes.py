"""Indexes for the call-level analytics the search filters and the quality dashboard compute over utterances.

The topics index is partial on "has any topic", the exact text reviews/search/filters._topic_sql tests first, so
a topic filter or the dashboard's topic counts read only the phrases that carry one. Its condition is written per
database (jsonb on PostgreSQL, JSON text on SQLite), hence raw SQL rather than a model index.
"""

from django.db import migrations, models


def create_topics_index(apps, schema_editor):
    empty = "'[]'::jsonb" if schema_editor.connection.vendor == "postgresql" else "'[]'"
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS utt_conv_topics_idx ON reviews_utterance (conversation_id) WHERE topics <> {empty}"
    )


def drop_topics_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS utt_conv_topics_idx")


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0016_note_moments"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="utterance",
            index=models.Index(
                condition=models.Q(("sentiment__isnull", False)),
                fields=["conversation", "sentiment"],
                name="utt_conv_sentiment_idx",
            ),
        ),
        migrations.RunPython(create_topics_index, drop_topics_index),
    ]
