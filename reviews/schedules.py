"""The django-q2 schedules, declared in code and upserted by name (setup_schedules and post_migrate).

Upserting only changes the definition (function, interval); an existing row keeps its next_run, so
running this twice, or on every migrate, neither duplicates a schedule nor fires it early.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    minutes: int
    kwargs: str | None = None  # django-q's Schedule.kwargs (e.g. q_options for a task's own timeout)


def schedule_specs() -> list[ScheduleSpec]:
    from reviews.pipeline.audio_cache import SWEEP_INTERVAL_MINUTES

    return [
        ScheduleSpec("transcript-vault: discover", "reviews.tasks.discover_task", settings.DISCOVERY_INTERVAL_MINUTES),
        ScheduleSpec("transcript-vault: advance", "reviews.tasks.advance_task", 1),
        ScheduleSpec("transcript-vault: relay outbox", "reviews.tasks.relay_outbox_task", 1),
        ScheduleSpec(
            "transcript-vault: reconcile", "reviews.tasks.reconcile_task", settings.RECONCILE_INTERVAL_MINUTES
        ),
        ScheduleSpec(
            "transcript-vault: audit verify", "reviews.tasks.audit_verify_task", settings.AUDIT_VERIFY_INTERVAL_MINUTES
        ),
        ScheduleSpec(
            "transcript-vault: retention purge",
            "reviews.tasks.retention_purge_task",
            settings.RETENTION_PURGE_INTERVAL_MINUTES,
        ),
        ScheduleSpec(
            "transcript-vault: audio cache sweep", "reviews.tasks.audio_cache_sweep_task", SWEEP_INTERVAL_MINUTES
        ),
        # Local speech-to-text (issue 15): a call can take longer than Q_CLUSTER's timeout, so the task has its own.
        ScheduleSpec(
            "transcript-vault: speech to text",
            "reviews.tasks.speech_to_text_task",
            1,
            kwargs=f"q_options={{'timeout': {speech_to_text_timeout_seconds()}}}",
        ),
        ScheduleSpec("transcript-vault: late transcripts", "reviews.tasks.late_transcripts_task", 5),
        # Work queues (issue 13 §3): sampling is idempotent per rule and week, so a daily run only tops queues up.
        ScheduleSpec("transcript-vault: sample reviews", "reviews.sampling.sample_reviews_task", 24 * 60),
        # Evaluations (issue 13 §2): automatic answers for calls stored without them yet (the ingest path scores
        # each call as it is stored; this catches up the rest, e.g. after a new form version is published).
        ScheduleSpec("transcript-vault: auto evaluate", "reviews.evaluations.auto.auto_evaluate_task", 5),
    ]


def speech_to_text_timeout_seconds() -> int:
    """The task's budget for starting calls, plus one call at its longest, plus the child's start-up margin."""
    from reviews.tasks import TASK_BUDGET_SHARE

    budget = settings.Q_CLUSTER["timeout"] * TASK_BUDGET_SHARE
    return int(budget + settings.ASR_TIMEOUT_SECONDS + 60)


def setup_schedules(*, using: str = "default") -> dict[str, str]:
    """Create or update every schedule; returns {name: "created" | "updated" | "unchanged"}."""
    from django_q.models import Schedule

    outcome = {}
    with transaction.atomic(using=using):
        for spec in schedule_specs():
            wanted = {
                "func": spec.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": spec.minutes,
                "repeats": -1,
                "kwargs": spec.kwargs,
            }
            existing = Schedule.objects.using(using).filter(name=spec.name).first()
            if existing is None:
                Schedule.objects.using(using).create(name=spec.name, next_run=timezone.now(), **wanted)
                outcome[spec.name] = "created"
            elif any(getattr(existing, field) != value for field, value in wanted.items()):
                Schedule.objects.using(using).filter(pk=existing.pk).update(**wanted)
                outcome[spec.name] = "updated"
            else:
                outcome[spec.name] = "unchanged"
    return outcome
