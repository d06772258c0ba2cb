"""Retention rules, legal holds and purge tombstones (issue 12 §3), written by hand."""

from __future__ import annotations

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# AuditEvent.Action up to and including this migration's three retention actions.
AUDIT_ACTIONS = [
    ("view_transcript", "Viewed transcript"),
    ("play_audio", "Played audio"),
    ("search", "Searched"),
    ("export", "Exported"),
    ("review", "Changed review"),
    ("admin_change", "Admin change"),
    ("api_access", "API access"),
    ("access_denied", "Access denied"),
    ("replay", "Replayed delivery"),
    ("retry", "Retried pipeline"),
    ("login", "Signed in"),
    ("login_failed", "Sign-in failed"),
    ("locked_out", "Locked out"),
    ("logout", "Signed out"),
    ("password_change", "Changed password"),
    ("mfa_change", "Changed second factor"),
    ("privilege_change", "Changed privileges"),
    ("token_issued", "Issued API token"),
    ("token_revoked", "Revoked API token"),
    ("reveal", "Revealed masked value"),
    ("retention_purge", "Purged by retention"),
    ("legal_hold", "Placed legal hold"),
    ("legal_hold_release", "Released legal hold"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0008_archive_versions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(choices=AUDIT_ACTIONS, db_index=True, max_length=32),
        ),
        migrations.CreateModel(
            name="RetentionRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("transcript_days", models.PositiveIntegerField(blank=True, null=True)),
                ("audio_days", models.PositiveIntegerField(blank=True, null=True)),
                ("note", models.CharField(blank=True, max_length=200)),
                (
                    "division",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="reviews.division",
                    ),
                ),
                (
                    "queue",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="reviews.queue",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("division", "queue"), name="retention_rule_once"),
                    models.CheckConstraint(
                        condition=models.Q(("division__isnull", False), ("queue__isnull", False), _connector="OR"),
                        name="retention_rule_has_target",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="LegalHold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("conversation", "Conversation"),
                            ("agent", "Agent"),
                            ("phone", "Phone number"),
                            ("date_range", "Date range"),
                        ],
                        max_length=16,
                    ),
                ),
                ("conversation_genesys_id", models.CharField(blank=True, db_index=True, max_length=64)),
                ("phone_digest", models.CharField(blank=True, db_index=True, max_length=64)),
                ("phone_hint", models.CharField(blank=True, max_length=16)),
                ("starts_at", models.DateTimeField(blank=True, null=True)),
                ("ends_at", models.DateTimeField(blank=True, null=True)),
                ("reason", models.CharField(max_length=500)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                ("release_reason", models.CharField(blank=True, max_length=500)),
                (
                    "agent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="legal_holds",
                        to="reviews.agent",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="legal_holds",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "released_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="released_holds",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created_at"]},
        ),
        migrations.CreateModel(
            name="PurgeTombstone",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "item",
                    models.CharField(
                        choices=[("transcript", "Transcript"), ("audio", "Audio recording")], max_length=16
                    ),
                ),
                ("item_id", models.CharField(max_length=64)),
                ("communication_id", models.CharField(blank=True, max_length=64)),
                ("sha256", models.CharField(max_length=64)),
                ("size_bytes", models.BigIntegerField(default=0)),
                ("utterance_count", models.PositiveIntegerField(default=0)),
                ("conversation_started_at", models.DateTimeField()),
                ("stored_at", models.DateTimeField(blank=True, null=True)),
                ("due_at", models.DateTimeField()),
                ("rule", models.CharField(max_length=200)),
                ("purged_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("run_id", models.CharField(db_index=True, max_length=32)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tombstones",
                        to="reviews.conversation",
                    ),
                ),
            ],
            options={"ordering": ["-purged_at", "id"]},
        ),
    ]
