"""/queue/ ("My queue"): who sees which assignments, overdue marking, bulk assign, bulk mark reviewed, and refusals.

alice: Reviewer of Q1. bob: Supervisor of D1 (Q1's division). carol: Compliance, read-only. conv-q1 is in Q1/D1,
conv-q2 in Q2/D2 (outside alice's and bob's scope).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from genesys.clock import FakeClock
from reviews.models import AccessScope, AuditEvent, Conversation, Queue, ReviewAssignment, ReviewNote, SamplingRule
from reviews.views import work_queue
from tests.fixtures.accounts import sign_in

NOW = dt.datetime(2026, 3, 11, 12, 0, tzinfo=dt.UTC)
QUEUE_URL = reverse("work-queue")
ASSIGN_URL = reverse("work-queue-assign")
REVIEWED_URL = reverse("work-queue-reviewed")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(work_queue, "CLOCK", FakeClock(start=NOW.timestamp()))


def assign(conversation, user, *, due_at=NOW + dt.timedelta(days=2), rule=None, by=None) -> ReviewAssignment:
    return ReviewAssignment.objects.create(
        conversation=conversation, assignee=user, due_at=due_at, rule=rule, assigned_by=by, created_at=NOW
    )


def row_of(html: str, genesys_id: str) -> str:
    """The table row that links to the conversation (the first one on the page)."""
    before, after = html.split(f">{genesys_id}</a>", 1)
    return before.rsplit("<tr", 1)[1] + after.split("</tr>", 1)[0]


def denials(**filters):
    return AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED, **filters)


# The page


def test_it_shows_a_reviewer_their_open_assignments_with_rule_due_date_and_review_link(
    alice, alice_client, conversation
):
    leaks = SamplingRule.objects.create(name="Every leak", kind=SamplingRule.Kind.LEAK)
    assign(conversation, alice, rule=leaks)

    page = alice_client.get(QUEUE_URL)

    html = page.content.decode()
    assert page.status_code == 200
    assert "Rule: Every leak" in html
    assert reverse("conversation", args=["conv-q1"]) in html
    assert "13 Mar 2026 12:00" in html  # due two days after NOW, shown in TIME_ZONE (UTC)
    assert "overdue" not in row_of(html, "conv-q1").lower()


def test_it_marks_overdue_assignments(alice, alice_client, conversation, two_parts):
    assign(conversation, alice, due_at=NOW - dt.timedelta(hours=1))
    assign(two_parts.conversation, alice, due_at=NOW + dt.timedelta(hours=1))

    html = alice_client.get(QUEUE_URL).content.decode()

    overdue_row, on_time_row = row_of(html, "conv-q1"), row_of(html, "conv-parts")
    assert 'class="overdue"' in overdue_row and ">Overdue</span>" in overdue_row
    assert "overdue" not in on_time_row.lower()


def test_it_shows_a_reviewer_only_their_own_assignments(alice, alice_client, bob, conversation, two_parts):
    assign(conversation, alice)
    assign(two_parts.conversation, bob)
    cancelled = assign(conversation, bob)
    ReviewAssignment.objects.filter(pk=cancelled.pk).update(status=ReviewAssignment.Status.CANCELLED)

    html = alice_client.get(QUEUE_URL).content.decode()

    assert "conv-q1" in html
    assert "conv-parts" not in html
    assert "Team assignments" not in html and "Assign calls" not in html


def test_it_drops_an_assignment_once_its_call_is_reviewed_on_the_review_page(
    alice, alice_client, conversation, two_parts
):
    assign(conversation, alice)
    assign(two_parts.conversation, alice)
    Conversation.objects.filter(pk=conversation.pk).update(
        review_status=Conversation.ReviewStatus.REVIEWED, reviewed_at=NOW + dt.timedelta(minutes=5)
    )
    # Reviewed before this assignment was made (then reopened by the assignment): still to do.
    Conversation.objects.filter(pk=two_parts.conversation.pk).update(
        review_status=Conversation.ReviewStatus.REVIEWED, reviewed_at=NOW - dt.timedelta(days=1)
    )

    html = alice_client.get(QUEUE_URL).content.decode()

    assert ">conv-q1</a>" not in html
    assert ">conv-parts</a>" in html


def test_it_shows_a_supervisor_the_team_assignments_in_scope_only(
    alice, bob, bob_client, conversation, other_conversation, q2
):
    dave = User.objects.create_user("dave", password="pw")
    dave.groups.add(Group.objects.get_or_create(name="Reviewer")[0])
    AccessScope.objects.create(user=dave).queues.add(q2)
    assign(conversation, alice)
    assign(other_conversation, dave)

    html = bob_client.get(QUEUE_URL).content.decode()

    team = html.split('id="team-title"')[1].split("</form>")[0]
    assert "conv-q1" in team and "alice" in team
    assert "conv-q2" not in html and "dave" not in team


def test_it_shows_compliance_every_assignment_without_any_action(alice, carol_client, conversation):
    assign(conversation, alice)

    html = carol_client.get(QUEUE_URL).content.decode()

    assert "Everyone&#x27;s assignments" in html or "Everyone's assignments" in html
    assert "conv-q1" in html
    assert REVIEWED_URL not in html and ASSIGN_URL not in html
    assert 'type="checkbox"' not in html


def test_it_offers_a_supervisor_the_unassigned_calls_of_their_scope(
    alice, bob_client, conversation, two_parts, other_conversation
):
    assign(two_parts.conversation, alice)

    html = bob_client.get(QUEUE_URL).content.decode()

    offered = html.split('id="assign-title"')[1]
    assert 'value="conv-q1"' in offered
    assert 'value="conv-parts"' not in offered  # open for alice already
    assert "conv-q2" not in offered
    assert f'<option value="{alice.pk}">alice</option>' in offered


def test_it_escapes_rule_names(alice, alice_client, conversation, build):
    assign(conversation, alice, rule=SamplingRule.objects.create(name=build.xss, kind=SamplingRule.Kind.LEAK))

    html = alice_client.get(QUEUE_URL).content.decode()

    assert build.xss not in html
    assert "&lt;script&gt;" in html


def test_it_links_my_queue_in_the_top_bar_as_the_current_page(alice_client):
    html = alice_client.get(QUEUE_URL).content.decode()

    assert f'<a href="{QUEUE_URL}" aria-current="page">My queue</a>' in html


def test_it_requires_sign_in(db):
    page = Client().get(QUEUE_URL)

    assert page.status_code == 302 and reverse("login") in page["Location"]


def test_it_sends_reviewers_and_supervisors_to_their_queue_and_others_to_search(alice, bob, carol, admin_user):
    assert work_queue.landing_url_name(alice) == "work-queue"
    assert work_queue.landing_url_name(bob) == "work-queue"
    assert work_queue.landing_url_name(carol) == "search"
    assert work_queue.landing_url_name(admin_user) == "search"


# Bulk assign


def test_it_lets_a_supervisor_assign_chosen_calls_to_a_reviewer_by_a_due_date(
    alice, bob, bob_client, conversation, two_parts
):
    page = bob_client.post(
        ASSIGN_URL, {"conversation": ["conv-q1", "conv-parts"], "assignee": alice.pk, "due_date": "2026-03-20"}
    )

    assert page.status_code == 302
    rows = ReviewAssignment.objects.filter(assignee=alice).order_by("conversation__genesys_id")
    assert [row.conversation.genesys_id for row in rows] == ["conv-parts", "conv-q1"]
    assert {(row.assigned_by, row.rule, row.created_at) for row in rows} == {(bob, None, NOW)}
    assert {row.due_at for row in rows} == {dt.datetime(2026, 3, 20, 23, 59, tzinfo=dt.UTC)}
    events = AuditEvent.objects.filter(action=AuditEvent.Action.REVIEW, detail__step="assign")
    assert sorted(events.values_list("object_id", flat=True)) == ["conv-parts", "conv-q1"]
    assert "Assigned by bob" in sign_in(alice).get(QUEUE_URL).content.decode()


def test_it_skips_a_call_the_chosen_reviewer_may_not_see(alice, bob, bob_client, d1, build):
    q3 = Queue.objects.create(genesys_id="queue-3", name="Q3", division=d1)  # bob's division, not alice's queue
    build.conversation("conv-q3", queue=q3, division=d1)

    page = bob_client.post(
        ASSIGN_URL, {"conversation": ["conv-q3"], "assignee": alice.pk, "due_date": "2026-03-20"}, follow=True
    )

    assert not ReviewAssignment.objects.exists()
    assert "conv-q3: alice may not see this call" in page.content.decode()


def test_it_shows_the_soonest_due_team_assignments_first_and_the_rest_on_request(
    monkeypatch, alice, bob_client, conversation, two_parts
):
    monkeypatch.setattr(work_queue, "TEAM_SHOWN", 1)
    assign(conversation, alice, due_at=NOW + dt.timedelta(days=3))
    assign(two_parts.conversation, alice, due_at=NOW + dt.timedelta(days=1))

    team = bob_client.get(QUEUE_URL).content.decode().split('id="team-title"')[1].split("</form>")[0]
    whole = bob_client.get(QUEUE_URL, {"team": "all"}).content.decode().split('id="team-title"')[1].split("</form>")[0]

    assert "(1 soonest due of 2)" in team
    assert ">conv-parts</a>" in team and ">conv-q1</a>" not in team
    assert 'href="?team=all#team-title">Show all 2</a>' in team
    assert ">conv-parts</a>" in whole and ">conv-q1</a>" in whole
    assert "(2)" in whole and "?team=all" not in whole


def test_it_refuses_and_audits_a_reviewer_outside_the_supervisors_team(bob, bob_client, conversation, q2):
    dave = User.objects.create_user("dave", password="pw")
    dave.groups.add(Group.objects.get_or_create(name="Reviewer")[0])
    AccessScope.objects.create(user=dave).queues.add(q2)

    page = bob_client.post(ASSIGN_URL, {"conversation": ["conv-q1"], "assignee": dave.pk, "due_date": "2026-03-20"})

    assert page.status_code == 403
    assert not ReviewAssignment.objects.exists()
    assert denials(detail__reason="not team").count() == 1


def test_it_refuses_a_past_due_date(alice, bob_client, conversation):
    page = bob_client.post(
        ASSIGN_URL, {"conversation": ["conv-q1"], "assignee": alice.pk, "due_date": "2026-03-10"}, follow=True
    )

    assert not ReviewAssignment.objects.exists()
    assert "The due date is in the past." in page.content.decode()


def test_it_lets_only_supervisors_assign(alice, alice_client, conversation):
    page = alice_client.post(ASSIGN_URL, {"conversation": ["conv-q1"], "assignee": alice.pk, "due_date": "2026-03-20"})

    assert page.status_code == 403
    assert not ReviewAssignment.objects.exists()
    assert denials(detail__reason="not a supervisor").count() == 1


# Bulk mark reviewed


def test_it_marks_chosen_calls_reviewed_through_the_review_rules(alice, alice_client, conversation, two_parts):
    mine = assign(conversation, alice)
    Conversation.objects.filter(pk=two_parts.conversation.pk).update(review_status=Conversation.ReviewStatus.IN_REVIEW)

    page = alice_client.post(REVIEWED_URL, {"conversation": ["conv-q1", "conv-parts"]})

    assert page.status_code == 302
    for genesys_id, previous in (("conv-q1", "new"), ("conv-parts", "in_review")):
        row = Conversation.objects.get(genesys_id=genesys_id)
        assert (row.review_status, row.reviewer, row.reviewed_at) == ("reviewed", alice, NOW)
        note = ReviewNote.objects.get(conversation=row)
        assert (note.status_from, note.status_to, note.author) == (previous, "reviewed", alice)
        event = AuditEvent.objects.get(action=AuditEvent.Action.REVIEW, object_id=genesys_id)
        assert (event.detail["from"], event.detail["to"], event.detail["via"]) == (previous, "reviewed", "work_queue")
    mine.refresh_from_db()
    assert (mine.status, mine.done_at) == (ReviewAssignment.Status.DONE, NOW)


def test_it_leaves_an_escalated_call_for_a_person_to_decide(alice, alice_client, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(review_status=Conversation.ReviewStatus.ESCALATED)

    page = alice_client.post(REVIEWED_URL, {"conversation": ["conv-q1"]}, follow=True)

    assert Conversation.objects.get(pk=conversation.pk).review_status == "escalated"
    assert "conv-q1: escalated: open the call to decide" in page.content.decode()


def test_it_refuses_compliance_marking_reviewed_and_audits_it(carol_client, conversation):
    page = carol_client.post(REVIEWED_URL, {"conversation": ["conv-q1"]})

    assert page.status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).review_status == "new"
    assert denials(detail__reason="read-only role").count() == 1


# The out-of-scope attack


def test_it_refuses_a_posted_call_outside_the_reviewers_scope_and_changes_nothing(
    alice, alice_client, conversation, other_conversation
):
    page = alice_client.post(REVIEWED_URL, {"conversation": ["conv-q1", "conv-q2"]})

    assert page.status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).review_status == "new"
    assert Conversation.objects.get(pk=other_conversation.pk).review_status == "new"
    assert not ReviewNote.objects.exists()
    denial = denials(object_id="conv-q2").get()
    assert denial.detail["reason"] == "outside the user's scope"
    assert denial.detail["operation"] == "bulk_reviewed"


def test_it_refuses_assigning_a_call_outside_the_supervisors_scope(alice, bob_client, conversation, other_conversation):
    page = bob_client.post(
        ASSIGN_URL, {"conversation": ["conv-q1", "conv-q2"], "assignee": alice.pk, "due_date": "2026-03-20"}
    )

    assert page.status_code == 404
    assert not ReviewAssignment.objects.exists()
    assert denials(object_id="conv-q2", detail__operation="bulk_assign").count() == 1


def test_it_refuses_posts_without_a_csrf_token(alice, conversation):
    client = sign_in(alice, Client(enforce_csrf_checks=True))

    page = client.post(REVIEWED_URL, {"conversation": ["conv-q1"]})

    assert page.status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).review_status == "new"


def test_it_refuses_too_many_calls_at_once(alice_client, conversation):
    ids = [f"conv-{n}" for n in range(work_queue.MAX_BULK + 1)]

    page = alice_client.post(REVIEWED_URL, {"conversation": ids})

    assert page.status_code == 400


def test_it_renders_the_page_in_a_fixed_number_of_queries_however_many_rows(
    alice, bob, bob_client, q1, d1, build, django_assert_max_num_queries
):
    leaks = SamplingRule.objects.create(name="Every leak", kind=SamplingRule.Kind.LEAK)
    for n in range(30):
        conversation = build.conversation(f"conv-{n}", queue=q1, division=d1, agent_name=f"Agent {n % 5}")
        assign(conversation, alice if n % 2 else bob, rule=leaks if n % 3 else None, by=None if n % 3 else bob)
    for n in range(30):
        build.conversation(f"free-{n}", queue=q1, division=d1, agent_name=f"Agent {n % 5}")

    with django_assert_max_num_queries(20):
        page = bob_client.get(QUEUE_URL)

    assert page.content.decode().count(">Rule: Every leak<") + page.content.decode().count(">Assigned by bob<") == 30
