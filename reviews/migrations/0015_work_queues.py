# Issue 13 §3: work queues (sampling rules and review assignments). Written by hand next to 0014 (evaluations).
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0014_evaluations"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SamplingRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200, unique=True)),
                ("active", models.BooleanField(default=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("random_per_agent", "N random calls per agent per week"),
                            ("leak", "Every call with a leak finding"),
                            ("negative_sentiment", "Every call with negative sentiment"),
                            ("low_confidence", "Every call with low transcript confidence"),
                            ("long_silence", "Every call with a long silence"),
                            ("topic", "Every call with a chosen topic"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "calls_per_agent",
                    models.PositiveSmallIntegerField(
                        blank=True, help_text="Random calls per agent per week (random rule only).", null=True
                    ),
                ),
                (
                    "topic",
                    models.CharField(blank=True, help_text="Genesys topic name (topic rule only).", max_length=200),
                ),
                (
                    "silence_seconds",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Shortest gap between turns that counts as a long silence (silence rule only).",
                        null=True,
                    ),
                ),
                (
                    "strategy",
                    models.CharField(
                        choices=[
                            ("round_robin", "Round robin"),
                            ("least_loaded", "Least loaded (fewest open assignments)"),
                        ],
                        default="round_robin",
                        max_length=16,
                    ),
                ),
                ("due_days", models.PositiveSmallIntegerField(default=7)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("divisions", models.ManyToManyField(blank=True, related_name="+", to="reviews.division")),
                ("queues", models.ManyToManyField(blank=True, related_name="+", to="reviews.queue")),
                (
                    "reviewers",
                    models.ManyToManyField(blank=True, related_name="sampling_rules", to=settings.AUTH_USER_MODEL),
                ),
            ],
            options={
                "ordering": ["name"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "random_per_agent"), _negated=True),
                            models.Q(("calls_per_agent__gte", 1), ("calls_per_agent__isnull", False)),
                            _connector="OR",
                        ),
                        name="sampling_random_needs_count",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "topic"), _negated=True),
                            models.Q(("topic", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="sampling_topic_needs_name",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "long_silence"), _negated=True),
                            models.Q(("silence_seconds__gte", 1), ("silence_seconds__isnull", False)),
                            _connector="OR",
                        ),
                        name="sampling_silence_needs_seconds",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ReviewAssignment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("due_at", models.DateTimeField()),
                (
                    "status",
                    models.CharField(
                        choices=[("open", "Open"), ("done", "Done"), ("cancelled", "Cancelled")],
                        default="open",
                        max_length=16,
                    ),
                ),
                ("done_at", models.DateTimeField(blank=True, null=True)),
                (
                    "assigned_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "assignee",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="review_assignments",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="assignments",
                        to="reviews.conversation",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="assignments",
                        to="reviews.samplingrule",
                    ),
                ),
            ],
            options={
                "ordering": ["due_at", "pk"],
                "indexes": [models.Index(fields=["assignee", "status", "due_at"], name="assignment_queue_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status", "open")),
                        fields=("conversation", "assignee"),
                        name="one_open_assignment_per_reviewer",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("done_at__isnull", True), ("status", "open")),
                            models.Q(("status", "open"), _negated=True),
                            _connector="OR",
                        ),
                        name="open_assignment_not_done",
                    ),
                ],
            },
        ),
    ]
