# Data-subject requests (issue 12 §4): identifier mentions, subject requests, statutory minimum retention.
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0011_audio_cache"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="retentionrule",
            name="minimum_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
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
                    ("subject_request", "Data-subject request step"),
                ],
                db_index=True,
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="IdentifierMention",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=16)),
                ("digest", models.CharField(db_index=True, max_length=64)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identifier_mentions",
                        to="reviews.conversation",
                    ),
                ),
                (
                    "transcript",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identifier_mentions",
                        to="reviews.transcript",
                    ),
                ),
                (
                    "utterance",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="reviews.utterance",
                    ),
                ),
            ],
            options={
                "ordering": ["transcript_id", "utterance_id"],
            },
        ),
        migrations.CreateModel(
            name="SubjectRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "identifier_kind",
                    models.CharField(choices=[("phone", "Phone number"), ("email", "E-mail address")], max_length=16),
                ),
                ("identifier_digest", models.CharField(db_index=True, max_length=64)),
                ("identifier_hint", models.CharField(max_length=80)),
                ("reference", models.CharField(max_length=200)),
                ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("exported_at", models.DateTimeField(blank=True, null=True)),
                ("export_sha256", models.CharField(blank=True, max_length=64)),
                ("erased_at", models.DateTimeField(blank=True, null=True)),
                ("erasure", models.JSONField(blank=True, default=dict)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "erased_by",
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
                "ordering": ["-created_at", "-pk"],
            },
        ),
    ]
