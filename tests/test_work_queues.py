"""reviews/assignments.py and the ReviewAssignment / SamplingRule models: visibility, teams, the walk to Reviewed,
and the constraints the database keeps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from reviews import assignments
from reviews.models import AccessScope, Conversation, Division, Queue, ReviewAssignment, SamplingRule

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 11, 12, 0, tzinfo=dt.UTC)
Status = Conversation.ReviewStatus


@pytest.fixture
def world(db):
    d1, d2 = Division.objects.create(genesys_id="d1"), Division.objects.create(genesys_id="d2")
    q1 = Queue.objects.create(genesys_id="q1", division=d1)
    q2 = Queue.objects.create(genesys_id="q2", division=d2)
    return type("World", (), {"d1": d1, "d2": d2, "q1": q1, "q2": q2})


def person(username: str, group: str, *, queues=(), divisions=()) -> User:
    user = User.objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    scope = AccessScope.objects.create(user=user)
    scope.queues.add(*queues)
    scope.divisions.add(*divisions)
    return user


def call(genesys_id: str, queue) -> Conversation:
    return Conversation.objects.create(
        genesys_id=genesys_id, queue=queue, division=queue.division, started_at=NOW, state="stored"
    )


def test_it_allows_one_open_assignment_per_call_and_reviewer(world):
    alice = person("alice", "Reviewer", queues=[world.q1])
    conversation = call("c1", world.q1)
    ReviewAssignment.objects.create(conversation=conversation, assignee=alice, due_at=NOW)

    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewAssignment.objects.create(conversation=conversation, assignee=alice, due_at=NOW)

    ReviewAssignment.objects.filter(conversation=conversation).update(status="done", done_at=NOW)
    ReviewAssignment.objects.create(conversation=conversation, assignee=alice, due_at=NOW)  # a new round is fine
    assert ReviewAssignment.objects.count() == 2


def test_it_keeps_done_at_empty_while_an_assignment_is_open(world):
    alice = person("alice", "Reviewer", queues=[world.q1])

    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewAssignment.objects.create(conversation=call("c1", world.q1), assignee=alice, due_at=NOW, done_at=NOW)


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        (SamplingRule.Kind.RANDOM_PER_AGENT, "calls_per_agent"),
        (SamplingRule.Kind.TOPIC, "topic"),
        (SamplingRule.Kind.LONG_SILENCE, "silence_seconds"),
    ],
)
def test_it_requires_the_setting_each_rule_kind_needs(db, kind, missing):
    rule = SamplingRule(name="r", kind=kind)

    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert missing in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        rule.save()


def test_it_calls_an_open_assignment_past_its_due_time_overdue():
    row = ReviewAssignment(due_at=NOW, status=ReviewAssignment.Status.OPEN)

    assert row.is_overdue(now=NOW + dt.timedelta(seconds=1))
    assert not row.is_overdue(now=NOW)
    row.status = ReviewAssignment.Status.DONE
    assert not row.is_overdue(now=NOW + dt.timedelta(days=1))


def test_it_shows_reviewers_their_own_supervisors_their_scope_and_compliance_everything(world):
    alice = person("alice", "Reviewer", queues=[world.q1])
    olly = person("olly", "Reviewer", queues=[world.q2])
    bob = person("bob", "Supervisor", divisions=[world.d1])
    carol = User.objects.create_user("carol")
    carol.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    alices = ReviewAssignment.objects.create(conversation=call("c1", world.q1), assignee=alice, due_at=NOW)
    ollys = ReviewAssignment.objects.create(conversation=call("c2", world.q2), assignee=olly, due_at=NOW)
    bobs_in_q1 = ReviewAssignment.objects.create(conversation=call("c3", world.q1), assignee=bob, due_at=NOW)

    assert set(assignments.visible_assignments(alice)) == {alices}
    assert set(assignments.visible_assignments(bob)) == {alices, bobs_in_q1}
    assert set(assignments.visible_assignments(carol)) == {alices, ollys, bobs_in_q1}


def test_it_hides_an_assignment_once_its_call_leaves_the_reviewers_scope(world):
    alice = person("alice", "Reviewer", queues=[world.q1])
    ReviewAssignment.objects.create(conversation=call("c1", world.q1), assignee=alice, due_at=NOW)

    AccessScope.objects.get(user=alice).queues.set([world.q2])

    assert not assignments.visible_assignments(alice).exists()


def test_it_makes_a_supervisors_team_of_reviewers_whose_scope_meets_theirs(world):
    bob = person("bob", "Supervisor", divisions=[world.d1])
    alice = person("alice", "Reviewer", queues=[world.q1])
    person("olly", "Reviewer", queues=[world.q2])
    sue = person("sue", "Supervisor", divisions=[world.d1])
    person("inactive", "Reviewer", queues=[world.q1]).__class__.objects.filter(username="inactive").update(
        is_active=False
    )

    assert list(assignments.team_reviewers(bob)) == [alice, bob, sue]
    assert not assignments.team_reviewers(alice).exists()


def test_it_walks_the_review_transitions_to_reviewed():
    assert assignments.path_to_reviewed(Status.NEW) == [Status.IN_REVIEW, Status.REVIEWED]
    assert assignments.path_to_reviewed(Status.IN_REVIEW) == [Status.REVIEWED]
    assert assignments.path_to_reviewed(Status.REVIEWED) == []


def test_it_follows_the_review_page_when_its_transitions_change(monkeypatch):
    from reviews.views import review

    monkeypatch.setitem(review.REVIEW_TRANSITIONS, Status.NEW, (Status.IN_REVIEW, Status.REVIEWED))

    assert assignments.path_to_reviewed(Status.NEW) == [Status.REVIEWED]


def test_it_closes_every_open_assignment_of_a_finished_call(world):
    alice = person("alice", "Reviewer", queues=[world.q1])
    bob = person("bob", "Supervisor", divisions=[world.d1])
    conversation = call("c1", world.q1)
    for user in (alice, bob):
        ReviewAssignment.objects.create(conversation=conversation, assignee=user, due_at=NOW)
    other = ReviewAssignment.objects.create(conversation=call("c2", world.q1), assignee=alice, due_at=NOW)

    assert assignments.close_open_assignments(conversation, at=NOW) == 2

    assert set(conversation.assignments.values_list("status", "done_at")) == {("done", NOW)}
    other.refresh_from_db()
    assert other.status == "open"
