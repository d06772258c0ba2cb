"""The audit log page (reviews/views/audit_log.py): filters, one row opened, CSV export, scope, and self-audit."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from reviews import audit_chain
from reviews.audit import record_event
from reviews.models import AuditEvent
from reviews.views.audit_log import ACCOUNT_ACTIONS

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
URL = "/audit/"


def _event(action, *, user=None, object_type="", object_id="", at=None, **detail) -> AuditEvent:
    event = record_event(
        request=None, user=user, action=action, object_type=object_type, object_id=object_id, detail=detail
    )
    if at is not None:  # bypasses the chain on purpose: only the listing is under test here
        AuditEvent.objects.filter(pk=event.pk).update(at=at)
    return event


def _shown(response) -> list[int]:
    return [row["event"].pk for row in response.context["rows"]]


@pytest.fixture
def events(alice, bob, conversation, other_conversation):
    return {
        "view": _event(Action.VIEW_TRANSCRIPT, user=alice, object_type="conversation", object_id="conv-q1"),
        "denied": _event(
            Action.ACCESS_DENIED, user=alice, object_type="conversation", object_id="conv-q2", reason="scope"
        ),
        "search": _event(Action.SEARCH, user=bob, object_type="search", shown=["conv-q2", "conv-q1"]),
        "play": _event(Action.PLAY_AUDIO, user=bob, object_type="recording", object_id="rec-1", conversation="conv-q1"),
        "login": _event(Action.LOGIN, user=bob, object_type="auth.user", object_id=str(bob.pk)),
        "old": _event(Action.LOGIN, user=alice, at=datetime(2020, 5, 1, 12, tzinfo=UTC)),
    }


def test_it_lists_every_event_to_a_compliance_officer_newest_first(carol_client, events):
    response = carol_client.get(URL)
    assert response.status_code == 200
    shown = _shown(response)
    assert shown[-1] == events["old"].pk
    assert set(shown) >= {event.pk for event in events.values()}


def test_it_filters_by_user_action_outcome_and_time_range(carol_client, events):
    assert _shown(carol_client.get(URL, {"user": "alice", "action": "view_transcript"})) == [events["view"].pk]
    refused = _shown(carol_client.get(URL, {"outcome": "refused"}))
    assert refused == [events["denied"].pk]
    assert events["denied"].pk not in _shown(carol_client.get(URL, {"outcome": "allowed"}))
    assert _shown(carol_client.get(URL, {"since": "2020-05-01", "until": "2020-05-01"})) == [events["old"].pk]
    assert events["old"].pk not in _shown(carol_client.get(URL, {"since": "2020-05-02"}))


def test_it_filters_by_conversation_however_the_event_names_it(carol_client, events):
    shown = set(_shown(carol_client.get(URL, {"conversation": "conv-q1"})))
    assert shown == {events["view"].pk, events["search"].pk, events["play"].pk}
    assert set(_shown(carol_client.get(URL, {"conversation": "conv-q2"}))) == {events["denied"].pk, events["search"].pk}


def test_it_shows_errors_and_no_rows_for_bad_filters(carol_client, events):
    response = carol_client.get(URL, {"since": "yesterday", "action": "drop_table"})
    assert response.status_code == 400
    assert _shown(response) == []
    assert set(response.context["form"].errors) == {"since", "action"}
    response = carol_client.get(URL, {"since": "2024-02-02", "until": "2024-02-01"})
    assert response.status_code == 400 and b"must not be after" in response.content


def test_it_audits_every_view_of_the_log_with_its_filters(carol_client, carol, events):
    carol_client.get(URL, {"user": "alice"})
    viewed = AuditEvent.objects.filter(object_type="audit_log").get()
    assert (viewed.user, viewed.action) == (carol, Action.SEARCH)
    assert viewed.detail["filters"] == {"user": "alice"}
    assert sorted(viewed.detail["shown"]) == sorted([events["view"].pk, events["denied"].pk, events["old"].pk])


def test_it_opens_a_row_with_what_was_accessed_and_audits_it(carol_client, carol, events):
    response = carol_client.get(f"/audit/{events['play'].pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "rec-1" in body and "/conversations/conv-q1/" in body and events["play"].chain_hash in body
    opened = AuditEvent.objects.get(object_type="audit_event")
    assert (opened.user, opened.object_id) == (carol, str(events["play"].pk))


def test_it_exports_the_filtered_set_as_csv_and_audits_the_export(carol_client, carol, events):
    response = carol_client.get("/audit/export.csv", {"user": "bob"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(int(row["id"]) for row in rows) == sorted(
        [events["search"].pk, events["play"].pk, events["login"].pk]
    )
    assert {row["outcome"] for row in rows} == {"allowed"}
    exported = AuditEvent.objects.get(action=Action.EXPORT, object_type="audit_log")
    assert (exported.user, exported.detail["filters"], exported.detail["rows"]) == (carol, {"user": "bob"}, 3)


def test_it_keeps_spreadsheet_formulas_inert_in_the_export(carol_client):
    _event(Action.LOGIN_FAILED, object_type="login", object_id='=HYPERLINK("http://x")')
    response = carol_client.get("/audit/export.csv", {"action": "login_failed"})
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["object_id"].startswith("'=")


def test_it_refuses_a_bad_export_filter_without_exporting(carol_client, events):
    response = carol_client.get("/audit/export.csv", {"until": "soon"})
    assert response.status_code == 400 and b"until" in response.content
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_it_shows_an_administrator_only_account_and_security_events(admin_client_, events):
    shown = AuditEvent.objects.filter(pk__in=_shown(admin_client_.get(URL)))
    assert {events["login"].pk, events["old"].pk} <= {event.pk for event in shown}
    assert {event.action for event in shown} <= set(ACCOUNT_ACTIONS)
    assert admin_client_.get(f"/audit/{events['view'].pk}/").status_code == 404
    rows = b"".join(admin_client_.get("/audit/export.csv").streaming_content).decode()
    assert "conv-q1" not in rows and "view_transcript" not in rows


@pytest.mark.parametrize("persona", ["alice_client", "bob_client"])
def test_it_refuses_reviewers_and_supervisors_and_audits_it(request, persona, events):
    client = request.getfixturevalue(persona)
    for url in (URL, f"/audit/{events['view'].pk}/", "/audit/export.csv"):
        assert client.get(url).status_code == 403
    denials = AuditEvent.objects.filter(action=Action.ACCESS_DENIED, object_id="audit_log")
    assert denials.count() == 3


def test_it_answers_a_missing_row_with_an_audited_404(carol_client):
    assert carol_client.get("/audit/999999/").status_code == 404
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, object_type="audit_event").exists()


def test_it_shows_the_last_chain_check(carol_client):
    assert b"Chain never checked" in carol_client.get(URL).content
    audit_chain.check_and_record()
    assert b"Chain intact" in carol_client.get(URL).content
    first = AuditEvent.objects.order_by("pk").first()
    AuditEvent.objects.filter(pk=first.pk).update(object_id="changed")
    audit_chain.check_and_record()
    assert f"Chain broken</span> at event {first.pk}".encode() in carol_client.get(URL).content


def test_it_links_the_audit_log_in_the_nav_for_its_readers_only(carol_client, alice_client):
    assert b'href="/audit/"' in carol_client.get("/charts/").content
    assert b'href="/audit/"' not in alice_client.get("/charts/").content
