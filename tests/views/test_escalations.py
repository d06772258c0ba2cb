"""The escalation inbox (reviews/views/escalations.py) and the Escalation transitions (reviews/models.py).

bob (Supervisor of D1) escalates conv-q1 from the review page; carol (Compliance) handles it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction

from reviews import access
from reviews.models import AuditEvent, Conversation, Escalation, EscalationError, EscalationEvent
from tests.fixtures.accounts import sign_in


def _escalate(client, conversation, note="Agent promised a refund outside policy"):
    Conversation.objects.filter(pk=conversation.pk).update(review_status="in_review")
    response = client.post(f"/conversations/{conversation.genesys_id}/review", {"status": "escalated", "note": note})
    assert response.status_code == 302
    return Escalation.objects.get(conversation=conversation, status="open")


def _steps(escalation=None):
    rows = AuditEvent.objects.filter(action=AuditEvent.Action.ESCALATION).order_by("at", "pk")
    if escalation is not None:
        rows = rows.filter(object_id=str(escalation.pk))
    return [row.detail["step"] for row in rows]


@pytest.fixture
def escalated(bob_client, conversation):
    return _escalate(bob_client, conversation)


@pytest.fixture
def dora(db):
    """A second compliance officer, someone to assign cases to."""
    user = User.objects.create_user("dora", password="pw")
    user.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    return user


def test_it_opens_a_case_with_the_reason_when_a_supervisor_escalates(escalated, bob):
    assert escalated.reason == "Agent promised a refund outside policy"
    assert escalated.escalated_by == bob
    assert list(escalated.events.values_list("kind", flat=True)) == ["escalated"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.ESCALATION)
    assert event.username == "bob"
    assert event.detail == {"step": "escalate", "conversation": "conv-q1", "joined": False, "reason_given": True}


def test_it_joins_the_open_case_when_the_review_is_escalated_again(bob_client, conversation, escalated):
    _escalate(bob_client, conversation, note="It happened again on the callback")
    assert Escalation.objects.count() == 1
    assert escalated.events.filter(kind="escalated").count() == 2
    joined = (
        AuditEvent.objects.filter(action="escalation").order_by("at", "pk").values_list("detail__joined", flat=True)
    )
    assert list(joined) == [False, True]


def test_it_opens_no_case_for_other_review_changes(alice_client, conversation):
    alice_client.post("/conversations/conv-q1/review", {"status": "in_review", "note": ""})
    alice_client.post("/conversations/conv-q1/review", {"status": "reviewed", "note": ""})
    assert not Escalation.objects.exists()


def test_it_lists_open_escalations_with_their_reason_for_compliance(carol_client, escalated):
    response = carol_client.get("/escalations/")
    assert response.status_code == 200
    assert list(response.context["escalations"]) == [escalated]
    assert b"Agent promised a refund outside policy" in response.content
    event = AuditEvent.objects.filter(action="escalation", detail__step="inbox").get()
    assert event.detail["shown"] == [escalated.pk]


def test_it_filters_the_inbox_by_status_and_assignee(carol_client, carol, escalated):
    assert list(carol_client.get("/escalations/", {"status": "resolved"}).context["escalations"]) == []
    assert list(carol_client.get("/escalations/", {"mine": "1"}).context["escalations"]) == []
    escalated.assign(by=carol, to=carol)
    assert list(carol_client.get("/escalations/", {"mine": "1"}).context["escalations"]) == [escalated]
    escalated.resolve(by=carol, outcome="coaching")
    assert list(carol_client.get("/escalations/").context["escalations"]) == []
    assert list(carol_client.get("/escalations/", {"status": "all"}).context["escalations"]) == [escalated]


def test_it_shows_the_inbox_link_to_compliance_only(carol_client, bob_client):
    assert b'href="/escalations/"' in carol_client.get("/search/").content
    assert b'href="/escalations/"' not in bob_client.get("/search/").content


@pytest.mark.parametrize("persona", ["alice", "bob", "admin_user"])
def test_it_refuses_everyone_but_compliance_and_audits_it(request, persona, escalated):
    client = sign_in(request.getfixturevalue(persona))
    for method, path in [
        ("get", "/escalations/"),
        ("get", f"/escalations/{escalated.pk}/"),
        ("post", f"/escalations/{escalated.pk}/comment"),
        ("post", f"/escalations/{escalated.pk}/assign"),
        ("post", f"/escalations/{escalated.pk}/resolve"),
    ]:
        assert getattr(client, method)(path, {"body": "x", "outcome": "no_issue"}).status_code == 403
    denials = AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED, object_type="escalation")
    assert denials.count() == 5
    assert {row.detail["reason"] for row in denials} == {"not a compliance officer"}
    escalated.refresh_from_db()
    assert escalated.is_open and escalated.events.count() == 1


def test_it_answers_an_audited_404_for_a_wrong_id(carol_client):
    for method, path in [("get", "/escalations/999/"), ("post", "/escalations/999/resolve")]:
        assert getattr(carol_client, method)(path, {"outcome": "no_issue"}).status_code == 404
    denials = AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED, object_id="999")
    assert [row.detail["reason"] for row in denials] == ["no such escalation"] * 2


def test_it_answers_the_same_404_for_a_case_outside_the_viewers_scope(carol, escalated, monkeypatch):
    # Compliance sees everything today; the lookup still goes through the viewer's conversation scope.
    monkeypatch.setattr(access, "conversations_for", lambda user: Conversation.objects.none())
    response = sign_in(carol).get(f"/escalations/{escalated.pk}/")
    assert response.status_code == 404
    denial = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert denial.detail["reason"] == "outside the user's scope"


def test_it_audits_opening_a_case(carol_client, escalated):
    response = carol_client.get(f"/escalations/{escalated.pk}/")
    assert response.status_code == 200
    assert b"Agent promised a refund outside policy" in response.content
    assert _steps(escalated) == ["escalate", "view"]


def test_it_adds_a_comment_and_audits_it_without_the_text(carol_client, escalated):
    response = carol_client.post(f"/escalations/{escalated.pk}/comment", {"body": "Listening to the recording"})
    assert response.status_code == 302
    comment = escalated.events.get(kind="comment")
    assert comment.body == "Listening to the recording"
    event = AuditEvent.objects.get(action="escalation", detail__step="comment")
    assert event.detail == {"step": "comment", "conversation": "conv-q1", "length": 26}
    assert "Listening" not in str(event.detail)


def test_it_refuses_an_empty_comment_and_writes_nothing(carol_client, escalated):
    response = carol_client.post(f"/escalations/{escalated.pk}/comment", {"body": "   "})
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert not escalated.events.filter(kind="comment").exists()
    assert "comment" not in _steps()


def test_it_assigns_to_a_compliance_officer_and_audits_it(carol_client, escalated, dora):
    carol_client.post(f"/escalations/{escalated.pk}/assign", {"assignee": dora.pk})
    escalated.refresh_from_db()
    assert escalated.assignee == dora
    assert escalated.events.get(kind="assigned").assignee == dora
    event = AuditEvent.objects.get(action="escalation", detail__step="assign")
    assert event.detail == {"step": "assign", "conversation": "conv-q1", "previous": "", "assignee": "dora"}


def test_it_refuses_to_assign_anyone_outside_compliance(carol_client, escalated, bob):
    response = carol_client.post(f"/escalations/{escalated.pk}/assign", {"assignee": bob.pk})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    escalated.refresh_from_db()
    assert escalated.assignee is None
    assert not escalated.events.filter(kind="assigned").exists()


def test_it_resolves_with_an_outcome_and_audits_it(carol_client, carol, escalated):
    response = carol_client.post(
        f"/escalations/{escalated.pk}/resolve", {"outcome": "breach_reported", "note": "Reported to the DPO"}
    )
    assert response.status_code == 302
    escalated.refresh_from_db()
    assert (escalated.status, escalated.outcome, escalated.resolution) == (
        "resolved",
        "breach_reported",
        "Reported to the DPO",
    )
    assert escalated.resolved_by == carol and escalated.resolved_at is not None
    event = AuditEvent.objects.get(action="escalation", detail__step="resolve")
    assert event.detail == {"step": "resolve", "conversation": "conv-q1", "outcome": "breach_reported", "note": True}


def test_it_refuses_an_unknown_outcome_and_writes_nothing(carol_client, escalated):
    response = carol_client.post(f"/escalations/{escalated.pk}/resolve", {"outcome": "shrug"})
    assert response.status_code == 400
    escalated.refresh_from_db()
    assert escalated.is_open and escalated.outcome == ""
    assert "resolve" not in _steps()


def test_it_changes_nothing_once_resolved(carol_client, carol, escalated, dora):
    escalated.resolve(by=carol, outcome="no_issue")
    carol_client.post(f"/escalations/{escalated.pk}/resolve", {"outcome": "coaching"})
    carol_client.post(f"/escalations/{escalated.pk}/assign", {"assignee": dora.pk})
    escalated.refresh_from_db()
    assert (escalated.outcome, escalated.assignee) == ("no_issue", None)
    # The refused steps are audited as refused; nothing else was written.
    assert _steps(escalated) == ["escalate", "resolve", "assign"]
    refused = AuditEvent.objects.filter(action=AuditEvent.Action.ESCALATION, detail__refused__isnull=False)
    assert [event.detail["step"] for event in refused.order_by("at", "pk")] == ["resolve", "assign"]
    assert b"nothing more can change" in carol_client.get(f"/escalations/{escalated.pk}/").content


def test_it_lets_only_one_of_two_concurrent_resolutions_win(carol, escalated):
    stale = Escalation.objects.get(pk=escalated.pk)
    escalated.resolve(by=carol, outcome="coaching")
    with pytest.raises(EscalationError, match="meanwhile"):
        stale.resolve(by=carol, outcome="no_issue")
    assert Escalation.objects.get(pk=escalated.pk).outcome == "coaching"
    assert EscalationEvent.objects.filter(kind="resolved").count() == 1


def test_it_keeps_one_open_case_per_conversation_in_the_database(escalated, bob):
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.create(conversation=escalated.conversation, escalated_by=bob)


def test_it_shows_the_supervisor_the_outcome_on_the_review_page(bob_client, carol, escalated):
    page = bob_client.get("/conversations/conv-q1/").content.decode()
    assert "Escalation open" in page
    escalated.resolve(by=carol, outcome="coaching", note="Coach the agent on refunds")
    page = bob_client.get("/conversations/conv-q1/").content.decode()
    assert "Outcome: Coaching" in page
    assert "Coach the agent on refunds" in page
    assert f"/escalations/{escalated.pk}/" not in page  # the supervisor has no inbox to link to


def test_it_links_compliance_from_the_review_page_to_the_case(carol_client, escalated):
    assert f"/escalations/{escalated.pk}/" in carol_client.get("/conversations/conv-q1/").content.decode()


def test_it_escapes_reasons_and_comments(bob_client, carol_client, conversation, build):
    escalation = _escalate(bob_client, conversation, note=build.xss)
    carol_client.post(f"/escalations/{escalation.pk}/comment", {"body": build.xss})
    for page in (carol_client.get("/escalations/"), carol_client.get(f"/escalations/{escalation.pk}/")):
        assert build.xss.encode() not in page.content


def test_it_keeps_compliance_read_only_for_the_review_itself(carol_client, conversation):
    response = carol_client.post("/conversations/conv-q1/review", {"status": "in_review"})
    assert response.status_code == 403
    assert access.can_handle_escalations(User.objects.get(username="carol"))
    assert not access.can_review(User.objects.get(username="carol"))


def test_it_lists_escalations_in_the_admin_read_only_and_without_their_text(admin_client_, escalated):
    assert admin_client_.get("/admin/reviews/escalation/").status_code == 200
    page = admin_client_.get(f"/admin/reviews/escalation/{escalated.pk}/change/")
    assert page.status_code == 200
    assert b"Agent promised a refund outside policy" not in page.content
    assert admin_client_.post(f"/admin/reviews/escalation/{escalated.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Escalation.objects.filter(pk=escalated.pk).exists()
