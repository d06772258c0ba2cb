from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from reviews.models import Conversation, ReconciliationRun
from reviews.pipeline import discover
from reviews.pipeline.schedule import now_of
from tests.pipeline.support import WINDOW_END, WINDOW_START, running_world


def reconcile_command(*extra: str) -> dict:
    out = io.StringIO()
    call_command(
        "genesys_reconcile",
        "--since",
        WINDOW_START.isoformat(),
        "--until",
        WINDOW_END.isoformat(),
        "--json",
        *extra,
        stdout=out,
    )
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_it_requeues_missing_and_failed_conversations(monkeypatch):
    with running_world(conversations=12, large=0, malformed=0) as world:
        monkeypatch.setattr("reviews.management.commands.genesys_reconcile.build_client", lambda **_: world.client)
        discover(client=world.client, start=WINDOW_START, end=WINDOW_END, now=now_of(world.clock))
        missing, failed = list(Conversation.objects.order_by("genesys_id")[:2])
        missing.delete()
        Conversation.objects.filter(pk=failed.pk).update(state="failed", last_error="[error 8/8] ServerError")

        result = reconcile_command()

        assert (result["detected"], result["recovered"], result["failed"]) == (2, 2, 0)
        assert Conversation.objects.count() == 12
        failed.refresh_from_db()
        assert (failed.state, failed.attempts, failed.last_error) == ("awaiting_transcript", 0, "")
        run = ReconciliationRun.objects.get()
        assert run.finished_at is not None and run.detected == 2

        assert reconcile_command()["detected"] == 0  # nothing left to recover


def test_it_rejects_bad_input():
    with pytest.raises(CommandError, match="--since must be an ISO 8601"):
        call_command("genesys_reconcile", "--since", "last week", "--until", "2026-05-04")
