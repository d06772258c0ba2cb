"""manage.py sample_reviews: dry run, JSON report, an injected --now, idempotence, bad input; and its schedule."""

from __future__ import annotations

import datetime as dt
import json
from importlib import import_module
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from reviews.models import AccessScope, Conversation, Division, Queue, ReviewAssignment, SamplingRule, Transcript
from reviews.schedules import schedule_specs

pytestmark = pytest.mark.django_db
NOW = "2026-03-11T12:00:00Z"


@pytest.fixture
def leaky_call(db):
    queue = Queue.objects.create(genesys_id="queue-1", name="Q1", division=Division.objects.create(genesys_id="d"))
    alice = User.objects.create_user("alice", password="pw")
    alice.groups.add(Group.objects.get_or_create(name="Reviewer")[0])
    AccessScope.objects.create(user=alice).queues.add(queue)
    started = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
    conversation = Conversation.objects.create(
        genesys_id="conv-1", queue=queue, division=queue.division, started_at=started, state="stored"
    )
    Transcript.objects.create(
        conversation=conversation,
        communication_id="c",
        sha256="0" * 64,
        size_bytes=1,
        raw_path="x",
        redaction_status="leaks_found",
        leak_count=1,
    )
    SamplingRule.objects.create(name="Every leak", kind=SamplingRule.Kind.LEAK, due_days=2).reviewers.add(alice)
    return conversation


def run(*args) -> str:
    out = StringIO()
    call_command("sample_reviews", *args, stdout=out)
    return out.getvalue()


def test_it_lists_what_it_would_assign_in_a_dry_run_and_changes_nothing(leaky_call):
    out = run("--dry-run", "--now", NOW)

    assert "conv-1 -> alice (due 2026-03-13)" in out
    assert "1 calls would be assigned" in out
    assert not ReviewAssignment.objects.exists()


def test_it_assigns_once_however_often_it_runs(leaky_call):
    first = json.loads(run("--json", "--now", NOW))
    second = json.loads(run("--json", "--now", "2026-03-12T12:00:00Z"))

    assert first["created"] == 1 and second["created"] == 0
    assert first["rules"][0]["picks"] == [
        {"conversation": "conv-1", "assignee": "alice", "due_at": "2026-03-13T12:00:00+00:00"}
    ]
    row = ReviewAssignment.objects.get()
    assert row.created_at == dt.datetime(2026, 3, 11, 12, 0, tzinfo=dt.UTC)


def test_it_judges_the_window_at_the_given_now(leaky_call):
    # Three weeks later the call is outside every window.
    report = json.loads(run("--json", "--dry-run", "--now", "2026-04-01T12:00:00Z"))

    assert report["picked"] == 0
    assert report["rules"][0]["window"] == ["2026-03-23T00:00:00+00:00", "2026-04-01T12:00:00+00:00"]


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", ""])
def test_it_refuses_a_now_that_is_not_an_iso_time(db, bad):
    with pytest.raises(CommandError, match="--now must be an ISO 8601"):
        run("--now", bad)


def test_it_refuses_an_overlong_seed(db):
    with pytest.raises(CommandError, match="--seed"):
        run("--seed", "x" * 101)


def test_it_exits_non_zero_on_bad_input(db, capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "sample_reviews", "--now", "soon"]).execute()

    assert exit_info.value.code != 0
    assert "--now must be an ISO 8601" in capsys.readouterr().err


def test_it_is_scheduled_daily_at_an_existing_task():
    spec = next(spec for spec in schedule_specs() if spec.name == "transcript-vault: sample reviews")
    module, name = spec.func.rsplit(".", 1)

    assert spec.minutes == 24 * 60
    assert callable(getattr(import_module(module), name))
