from __future__ import annotations

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# AuditEvent.action's choices as of this migration (0010 adds "escalation").
ACTION_CHOICES = [
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
    ("escalation", "Escalation step"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0009_retention_holds"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Escalation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("escalated_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("reason", models.TextField(blank=True)),
                (
                    "status",
                    models.CharField(
                        choices=[("open", "Open"), ("resolved", "Resolved")],
                        db_index=True,
                        default="open",
                        max_length=16,
                    ),
                ),
                (
                    "outcome",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("no_issue", "No issue"),
                            ("coaching", "Coaching"),
                            ("breach_reported", "Breach reported"),
                        ],
                        max_length=32,
                    ),
                ),
                ("resolution", models.TextField(blank=True)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="assigned_escalations",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="escalations",
                        to="reviews.conversation",
                    ),
                ),
                (
                    "escalated_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "resolved_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-escalated_at", "-pk"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status", "open")),
                        fields=("conversation",),
                        name="one_open_escalation_per_conversation",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="EscalationEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("escalated", "Escalated"),
                            ("comment", "Comment"),
                            ("assigned", "Assigned"),
                            ("resolved", "Resolved"),
                        ],
                        max_length=16,
                    ),
                ),
                ("body", models.TextField(blank=True)),
                (
                    "outcome",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("no_issue", "No issue"),
                            ("coaching", "Coaching"),
                            ("breach_reported", "Breach reported"),
                        ],
                        max_length=32,
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "actor",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "escalation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="events", to="reviews.escalation"
                    ),
                ),
            ],
            options={"ordering": ["at", "pk"]},
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(choices=ACTION_CHOICES, db_index=True, max_length=32),
        ),
    ]
