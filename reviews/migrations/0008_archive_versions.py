"""Archive completeness and versions (issue 12 §5): the outbox carries recordings of audio-only calls and
versions of a conversation's Genesys facts, not only transcript versions. Written by hand."""
from __future__ import annotations

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def backfill_conversation(apps, schema_editor):
    """Every existing row is a transcript version: its conversation is the transcript's."""
    OutboxMessage = apps.get_model("reviews", "OutboxMessage")
    Transcript = apps.get_model("reviews", "Transcript")
    conversation_of = dict(Transcript.objects.values_list("pk", "conversation_id"))
    for message in OutboxMessage.objects.filter(conversation__isnull=True).only("pk", "transcript_id").iterator():
        OutboxMessage.objects.filter(pk=message.pk).update(conversation_id=conversation_of.get(message.transcript_id))


class Migration(migrations.Migration):
    dependencies = [("reviews", "0007_audit_chain")]

    operations = [
        migrations.CreateModel(
            name="ConversationVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("facts", models.JSONField()),
                ("facts_sha256", models.CharField(max_length=64)),
                ("changed_fields", models.JSONField(blank=True, default=list)),
                ("recorded_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="reviews.conversation",
                    ),
                ),
            ],
            options={
                "ordering": ["conversation_id", "number"],
                "constraints": [
                    models.UniqueConstraint(fields=("conversation", "number"), name="conversation_version_number")
                ],
            },
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="kind",
            field=models.CharField(
                choices=[
                    ("transcript", "Transcript version"),
                    ("audio", "Recording (audio-only call)"),
                    ("version", "Conversation facts version"),
                ],
                default="transcript",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="transcript",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="outbox",
                to="reviews.transcript",
            ),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="recording",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="outbox",
                to="reviews.audiorecording",
            ),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="outbox",
                to="reviews.conversationversion",
            ),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="conversation",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="outbox_messages",
                to="reviews.conversation",
            ),
        ),
        migrations.RunPython(backfill_conversation, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="outboxmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("kind", "transcript"),
                        ("recording__isnull", True),
                        ("transcript__isnull", False),
                        ("version__isnull", True),
                    ),
                    models.Q(
                        ("kind", "audio"),
                        ("recording__isnull", False),
                        ("transcript__isnull", True),
                        ("version__isnull", True),
                    ),
                    models.Q(
                        ("kind", "version"),
                        ("recording__isnull", True),
                        ("transcript__isnull", True),
                        ("version__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="outbox_item_matches_kind",
            ),
        ),
    ]
