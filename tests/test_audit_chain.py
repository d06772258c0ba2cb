"""The audit trail's hash chain (reviews/audit_chain.py): every event linked to the one before it."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import RequestFactory

from reviews import audit_chain
from reviews.audit import record_event, record_folded
from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db


def _event(object_id: str = "conv-1", **detail) -> AuditEvent:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1")
    request.user = AnonymousUser()
    return record_event(
        request=request,
        action=AuditEvent.Action.VIEW_TRANSCRIPT,
        object_type="conversation",
        object_id=object_id,
        detail={"via": "web", **detail},
    )


def test_it_links_each_event_to_the_one_before_it():
    first, second, third = _event("a"), _event("b"), _event("c")
    assert first.previous_hash == audit_chain.GENESIS
    assert (second.previous_hash, third.previous_hash) == (first.chain_hash, second.chain_hash)
    assert len({first.chain_hash, second.chain_hash, third.chain_hash}) == 3
    assert audit_chain.verify().ok and audit_chain.verify().checked == 3


def test_it_hashes_what_the_database_gives_back():
    """The hash computed before the insert matches the one computed from the stored row (both engines)."""
    _event("a", nested={"z": 1, "a": [1, "two", None, True]}, text="naïve ü")
    AuditEvent.objects.create(at=AuditEvent.objects.get().at, action="search", ip="::ffff:10.0.0.1")  # unchained
    AuditEvent.objects.filter(action="search").delete()
    _event("b")
    assert audit_chain.verify().ok


def test_it_detects_a_changed_field_in_any_hashed_column():
    events = [_event(str(n)) for n in range(3)]
    AuditEvent.objects.filter(pk=events[1].pk).update(username="someone-else")
    verdict = audit_chain.verify()
    assert (verdict.ok, verdict.broken_id, verdict.checked) == (False, events[1].pk, 1)
    assert "changed" in verdict.reason


def test_it_detects_a_deleted_row_at_the_row_after_it():
    events = [_event(str(n)) for n in range(3)]
    events[1].delete()
    verdict = audit_chain.verify()
    assert (verdict.ok, verdict.broken_id) == (False, events[2].pk)
    assert "deleted" in verdict.reason


def test_it_keeps_the_chain_when_folding_a_flood_into_one_row():
    request = RequestFactory().get("/api/", REMOTE_ADDR="10.0.0.9")
    request.user = AnonymousUser()
    for _ in range(3):
        record_folded(
            request=request,
            action=AuditEvent.Action.ACCESS_DENIED,
            object_type="api_token",
            detail={"reason": "unknown token"},
        )
    _event("after")
    assert AuditEvent.objects.get(action="access_denied").count == 3
    assert audit_chain.verify().ok


def test_it_accepts_legacy_rows_only_before_the_first_chained_row():
    legacy = AuditEvent.objects.create(action="search", username="old")
    _event("a")
    verdict = audit_chain.verify()
    assert (verdict.ok, verdict.legacy, verdict.checked) == (True, 1, 1)
    later = AuditEvent.objects.create(action="search", username="forged")  # bypassing record_event
    verdict = audit_chain.verify()
    assert (verdict.ok, verdict.broken_id) == (False, later.pk)
    assert legacy.pk < later.pk


def test_it_seals_legacy_rows_into_the_chain():
    AuditEvent.objects.create(action="search", username="old-1")
    AuditEvent.objects.create(action="search", username="old-2")
    _event("a")
    verdict = audit_chain.seal_legacy()
    assert (verdict.ok, verdict.legacy, verdict.checked) == (True, 0, 3)
    AuditEvent.objects.filter(username="old-1").update(username="edited")
    assert audit_chain.verify().broken_id == AuditEvent.objects.get(username="edited").pk


def test_it_refuses_to_seal_a_broken_chain():
    AuditEvent.objects.create(action="search", username="old")
    tampered = _event("a")
    _event("b")
    AuditEvent.objects.filter(pk=tampered.pk).update(object_id="other")
    verdict = audit_chain.seal_legacy()
    assert (verdict.ok, verdict.broken_id) == (False, tampered.pk)
    assert AuditEvent.objects.get(username="old").chain_hash == ""


def test_it_detects_a_cut_off_end_against_the_last_recorded_check():
    events = [_event(str(n)) for n in range(3)]
    assert audit_chain.check_and_record().ok
    AuditEvent.objects.filter(pk=events[2].pk).delete()
    verdict = audit_chain.check_and_record()
    assert (verdict.ok, verdict.broken_id) == (False, events[2].pk)
    assert "cut off" in verdict.reason
    assert audit_chain.last_check()["ok"] is False


def test_it_detects_a_chain_rewritten_from_the_start():
    events = [_event(str(n)) for n in range(2)]
    audit_chain.check_and_record()
    AuditEvent.objects.filter(pk=events[0].pk).update(object_id="forged")
    previous = audit_chain.GENESIS
    for event in AuditEvent.objects.order_by("pk"):  # an attacker recomputing every hash
        values = {name: getattr(event, name) for name in ("at", "username", "action", "object_type", "object_id")}
        values |= {"detail": event.detail, "ip": event.ip}
        chain_hash = audit_chain.link_hash(previous, values)
        AuditEvent.objects.filter(pk=event.pk).update(previous_hash=previous, chain_hash=chain_hash)
        previous = chain_hash
    assert audit_chain.verify().ok  # self-consistent...
    verdict = audit_chain.check_and_record()  # ...but not the chain the last check saw
    assert (verdict.ok, verdict.broken_id) == (False, events[1].pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_chain_under_concurrent_writers():
    """PostgreSQL: the advisory lock. (SQLite serialises writers with IMMEDIATE transactions; its in-memory test
    database is a shared cache that refuses a second writer outright instead of waiting.)"""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the SQLite test database is one in-memory shared cache)")

    def write(n):
        try:
            for index in range(10):
                _event(f"{n}-{index}")
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    verdict = audit_chain.verify()
    assert (verdict.ok, verdict.checked) == (True, 40)


def test_it_runs_the_nightly_check_as_a_scheduled_task(settings):
    from reviews.schedules import schedule_specs
    from reviews.tasks import audit_verify_task

    (spec,) = [spec for spec in schedule_specs() if spec.func == "reviews.tasks.audit_verify_task"]
    assert spec.minutes == settings.AUDIT_VERIFY_INTERVAL_MINUTES == 1440
    events = [_event(str(n)) for n in range(2)]
    assert audit_verify_task() == "audit chain OK: 2 events, 0 unchained legacy events"
    AuditEvent.objects.filter(pk=events[0].pk).update(ip="10.9.9.9")
    assert audit_verify_task().startswith(f"audit chain BROKEN at event {events[0].pk}")
    assert audit_chain.last_check()["broken_id"] == events[0].pk
