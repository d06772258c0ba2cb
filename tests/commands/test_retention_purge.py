"""manage.py retention_purge [--dry-run] [--json]: the report, the purge, and clear errors on bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from reviews import retention
from reviews.models import PurgeTombstone, Transcript
from reviews.schedules import schedule_specs
from reviews.tasks import retention_purge_task
from tests.fixtures.retention_world import NOW, make_call

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _thirty_days(settings):
    settings.RETENTION_TRANSCRIPT_DAYS = 30
    settings.COMPLIANCE_SINKS = []


def run(*args) -> str:
    out = io.StringIO()
    call_command("retention_purge", "--now", NOW.isoformat(), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_lists_what_is_due_as_json_on_a_dry_run_and_changes_nothing():
    due = make_call(1, age_days=40)
    make_call(2, age_days=5)
    owner = User.objects.create_user("counsel")
    held = make_call(3, age_days=40)
    placed = retention.place_hold(
        kind="conversation",
        conversation_id=held.genesys_id,
        reason="subpoena 2026-044",
        owner=owner,
        created_by=owner,
        now=NOW,
    )

    report = json.loads(run("--dry-run", "--json"))

    assert report["dry_run"] is True and report["purged"] == []
    assert [(item["conversation"], item["item"]) for item in report["due"]] == [(due.genesys_id, "transcript")]
    assert report["due"][0]["due_at"] == (due.started_at + timedelta(days=30)).isoformat()
    assert report["held"] == {held.genesys_id: [placed.pk]}
    assert Transcript.objects.count() == 3 and not PurgeTombstone.objects.exists()


def test_it_purges_and_says_what_it_purged():
    call = make_call(1, age_days=40)
    transcript = call.transcripts.get()

    output = run()

    assert f"purged: {call.genesys_id} transcript {transcript.transcript_id} sha256={transcript.sha256}" in output
    assert "retention: purged 1 items" in output
    assert PurgeTombstone.objects.get().sha256 == transcript.sha256


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "--limit must be at least 1"),
        (["--limit", "many"], "--limit must be a whole number"),
        (["--now", "yesterday"], "--now must be an ISO 8601 time"),
        (["--now", "2026-01-01T00:00:00"], "--now must carry a time zone"),
    ],
)
def test_it_refuses_bad_input_with_a_clear_message(args, message):
    make_call(1, age_days=400)
    with pytest.raises(CommandError, match=message):
        call_command("retention_purge", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert Transcript.objects.count() == 1


def test_it_exits_non_zero_on_bad_input():
    completed = subprocess.run(
        [sys.executable, "manage.py", "retention_purge", "--dry-run", "--json", "--limit", "-3"],
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    assert completed.returncode != 0
    assert "--limit must be at least 1, got -3" in completed.stderr


def test_it_runs_daily_from_the_schedule_and_the_task_purges():
    (spec,) = [spec for spec in schedule_specs() if spec.func == "reviews.tasks.retention_purge_task"]
    assert spec.minutes == 1440
    shift = (timezone.now() - NOW).days  # make_call counts back from the fixtures' NOW
    make_call(1, age_days=40 - shift)

    assert retention_purge_task().startswith("retention: purged 1 items")
    assert not Transcript.objects.exists()
