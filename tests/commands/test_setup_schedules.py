from __future__ import annotations

import pytest
from django.core.management import call_command
from django_q.models import Schedule

NAMES = {
    "transcript-vault: discover": ("reviews.tasks.discover_task", 5),
    "transcript-vault: advance": ("reviews.tasks.advance_task", 1),
    "transcript-vault: relay outbox": ("reviews.tasks.relay_outbox_task", 1),
    "transcript-vault: reconcile": ("reviews.tasks.reconcile_task", 60),
    "transcript-vault: audit verify": ("reviews.tasks.audit_verify_task", 1440),
    "transcript-vault: retention purge": ("reviews.tasks.retention_purge_task", 1440),
    "transcript-vault: audio cache sweep": ("reviews.tasks.audio_cache_sweep_task", 15),
    "transcript-vault: speech to text": ("reviews.tasks.speech_to_text_task", 1),
    "transcript-vault: late transcripts": ("reviews.tasks.late_transcripts_task", 5),
    "transcript-vault: sample reviews": ("reviews.sampling.sample_reviews_task", 1440),
    "transcript-vault: auto evaluate": ("reviews.evaluations.auto.auto_evaluate_task", 5),
}


@pytest.mark.django_db
def test_it_creates_each_schedule_once_however_often_it_runs(settings):
    settings.DISCOVERY_INTERVAL_MINUTES = 5
    settings.RECONCILE_INTERVAL_MINUTES = 60
    Schedule.objects.all().delete()  # post_migrate already created them in the test database

    call_command("setup_schedules", stdout=None)
    call_command("setup_schedules", stdout=None)

    rows = {s.name: s for s in Schedule.objects.all()}
    assert set(rows) == set(NAMES)
    for name, (func, minutes) in NAMES.items():
        assert (rows[name].func, rows[name].schedule_type, rows[name].minutes) == (func, Schedule.MINUTES, minutes)
        assert rows[name].repeats == -1


@pytest.mark.django_db
def test_it_updates_an_interval_without_duplicating(settings):
    call_command("setup_schedules")
    settings.DISCOVERY_INTERVAL_MINUTES = 15

    call_command("setup_schedules")

    discover = Schedule.objects.filter(name="transcript-vault: discover")
    assert discover.count() == 1
    assert discover.get().minutes == 15


@pytest.mark.django_db
def test_it_points_every_schedule_at_an_existing_task():
    from importlib import import_module

    for func, _minutes in NAMES.values():
        module, name = func.rsplit(".", 1)
        assert callable(getattr(import_module(module), name))
