"""manage.py audit_verify [--json] [--seal-legacy]: names the first broken row of the audit chain, exit non-zero."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from reviews import audit_chain
from reviews.audit import record_event
from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db


def _events(count: int) -> list[AuditEvent]:
    return [
        record_event(request=None, action=AuditEvent.Action.SEARCH, object_type="search", detail={"n": n})
        for n in range(count)
    ]


def _run(*args) -> str:
    out = io.StringIO()
    call_command("audit_verify", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_passes_an_intact_chain_and_records_the_verdict():
    events = _events(3)
    out = _run()
    assert "chained events checked: 3" in out
    assert f"audit chain OK up to event {events[-1].pk}" in out
    assert audit_chain.last_check()["ok"] is True


def test_it_names_a_tampered_row_and_exits_non_zero():
    events = _events(3)
    AuditEvent.objects.filter(pk=events[1].pk).update(detail={"n": 99})
    with pytest.raises(CommandError, match=rf"broken at event {events[1].pk}: its content does not match"):
        _run()
    assert audit_chain.last_check()["broken_id"] == events[1].pk


def test_it_names_the_row_after_a_deleted_one():
    events = _events(3)
    AuditEvent.objects.filter(pk=events[1].pk).delete()
    with pytest.raises(CommandError, match=rf"broken at event {events[2].pk}: .*deleted or inserted"):
        _run()


def test_it_names_an_inserted_row():
    _events(2)
    forged = AuditEvent(action="search", username="forged", previous_hash=AuditEvent.objects.last().chain_hash)
    forged.chain_hash = "f" * 64
    forged.save()
    with pytest.raises(CommandError, match=rf"broken at event {forged.pk}"):
        _run()


def test_it_names_the_row_after_an_inserted_row_that_was_given_a_correct_hash():
    before, after = _events(2)
    AuditEvent.objects.filter(pk=after.pk).update(id=after.pk + 10)  # room for a row between them
    values = {"at": before.at, "username": "x", "action": "search", "object_type": "", "object_id": ""}
    values |= {"detail": {}, "ip": None}
    AuditEvent.objects.create(
        id=before.pk + 1,
        previous_hash=before.chain_hash,
        chain_hash=audit_chain.link_hash(before.chain_hash, values),
        **values,
    )
    with pytest.raises(CommandError, match=rf"broken at event {after.pk + 10}: .*deleted or inserted"):
        _run()


def test_it_prints_the_verdict_as_json():
    AuditEvent.objects.create(action="search", username="legacy")
    events = _events(2)
    verdict = json.loads(_run("--json"))
    assert verdict | {"head_hash": ""} == {
        "ok": True,
        "checked": 2,
        "legacy": 1,
        "head_id": events[-1].pk,
        "head_hash": "",
        "broken_id": None,
        "reason": "",
    }
    AuditEvent.objects.filter(pk=events[0].pk).update(action="login")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit_verify", "--json", stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue())["broken_id"] == events[0].pk


def test_it_warns_about_legacy_rows_and_seals_them_on_request():
    AuditEvent.objects.create(action="search", username="legacy")
    _events(1)
    assert "1 events written before the chain existed" in _run()
    out = _run("--seal-legacy")
    assert "chained events checked: 2" in out and "before the chain" not in out
    assert not AuditEvent.objects.filter(chain_hash="").exists()


def test_it_refuses_unknown_options_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "manage.py", "audit_verify", "--jsn"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --jsn" in result.stderr


def test_it_says_so_when_nothing_is_chained_yet():
    assert "audit chain OK: no chained event yet" in _run()
