"""Evaluations (scorecards), issue 13 §2: forms, immutable published versions, sections, questions with their
automatic rules, evaluations, answers linked to the moment that decided them, and disputes."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0013_search_work_list"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="EvaluationForm",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200, unique=True)),
                ("description", models.TextField(blank=True)),
                ("active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="EvaluationFormVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField(default=1)),
                ("pass_score", models.FloatField(default=80.0)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("published_at", models.DateTimeField(blank=True, null=True)),
                (
                    "form",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="reviews.evaluationform",
                    ),
                ),
            ],
            options={
                "ordering": ["form__name", "-number"],
            },
        ),
        migrations.CreateModel(
            name="Evaluation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("automatic", "Automatic"), ("human", "Human")], max_length=16)),
                (
                    "status",
                    models.CharField(
                        choices=[("draft", "Draft"), ("submitted", "Submitted"), ("disputed", "Disputed")],
                        db_index=True,
                        default="draft",
                        max_length=16,
                    ),
                ),
                ("score", models.FloatField(blank=True, null=True)),
                ("critical_failed", models.BooleanField(default=False)),
                ("passed", models.BooleanField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("submitted_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="evaluations",
                        to="reviews.conversation",
                    ),
                ),
                (
                    "evaluator",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="evaluations",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "form_version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="evaluations",
                        to="reviews.evaluationformversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="EvaluationQuestion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.CharField(max_length=500)),
                ("help_text", models.CharField(blank=True, max_length=500)),
                (
                    "kind",
                    models.CharField(
                        choices=[("yes_no", "Yes / no"), ("scale", "Scale (0 to maximum)")],
                        default="yes_no",
                        max_length=16,
                    ),
                ),
                ("scale_max", models.PositiveSmallIntegerField(default=5)),
                ("allow_na", models.BooleanField(default=False)),
                ("weight", models.PositiveIntegerField(default=1)),
                ("critical", models.BooleanField(default=False)),
                ("position", models.PositiveIntegerField(default=0)),
                (
                    "auto_rule",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "None (a person answers)"),
                            ("phrase_said", "A phrase is said (yes when found)"),
                            ("phrase_not_said", "A phrase is not said (no when found: prohibited wording)"),
                            ("silence_share", "Silence share at most the threshold"),
                            ("topic_present", "A Genesys topic is present"),
                        ],
                        default="",
                        max_length=32,
                    ),
                ),
                ("auto_terms", models.TextField(blank=True)),
                (
                    "auto_speaker",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "Anyone"),
                            ("internal", "Internal (agent / IVR)"),
                            ("external", "External (customer)"),
                        ],
                        default="",
                        max_length=16,
                    ),
                ),
                ("auto_within_seconds", models.PositiveIntegerField(blank=True, null=True)),
                ("auto_threshold", models.FloatField(blank=True, null=True)),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="questions",
                        to="reviews.evaluationformversion",
                    ),
                ),
            ],
            options={
                "ordering": ["section__position", "section_id", "position", "pk"],
            },
        ),
        migrations.CreateModel(
            name="EvaluationAnswer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.CharField(blank=True, max_length=8)),
                ("source", models.CharField(choices=[("automatic", "Automatic"), ("human", "Human")], max_length=16)),
                ("auto_value", models.CharField(blank=True, max_length=8)),
                ("moment_ms", models.BigIntegerField(blank=True, null=True)),
                ("evidence", models.CharField(blank=True, max_length=300)),
                ("comment", models.TextField(blank=True)),
                (
                    "evaluation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="answers", to="reviews.evaluation"
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
                (
                    "question",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="answers",
                        to="reviews.evaluationquestion",
                    ),
                ),
            ],
            options={
                "ordering": ["question__section__position", "question__position", "question_id"],
            },
        ),
        migrations.CreateModel(
            name="EvaluationSection",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=200)),
                ("position", models.PositiveIntegerField(default=0)),
                (
                    "version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sections",
                        to="reviews.evaluationformversion",
                    ),
                ),
            ],
            options={
                "ordering": ["position", "pk"],
            },
        ),
        migrations.AddField(
            model_name="evaluationquestion",
            name="section",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="questions", to="reviews.evaluationsection"
            ),
        ),
        migrations.CreateModel(
            name="EvaluationDispute",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("raised_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("reason", models.TextField()),
                ("score_before", models.FloatField(blank=True, null=True)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("resolution", models.TextField(blank=True)),
                ("score_after", models.FloatField(blank=True, null=True)),
                (
                    "evaluation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="disputes", to="reviews.evaluation"
                    ),
                ),
                (
                    "raised_by",
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
                "ordering": ["-raised_at", "-pk"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("resolved_at__isnull", True)),
                        fields=("evaluation",),
                        name="one_open_dispute",
                    )
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="evaluationformversion",
            constraint=models.UniqueConstraint(fields=("form", "number"), name="evaluation_form_version_once"),
        ),
        migrations.AddIndex(
            model_name="evaluation",
            index=models.Index(fields=["kind", "status"], name="evaluation_kind_status_idx"),
        ),
        migrations.AddConstraint(
            model_name="evaluation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "automatic")),
                fields=("conversation", "form_version"),
                name="one_automatic_evaluation_per_version",
            ),
        ),
        migrations.AddConstraint(
            model_name="evaluation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "human")),
                fields=("conversation", "form_version", "evaluator"),
                name="one_human_evaluation_per_evaluator",
            ),
        ),
        migrations.AddConstraint(
            model_name="evaluationanswer",
            constraint=models.UniqueConstraint(fields=("evaluation", "question"), name="one_answer_per_question"),
        ),
    ]
