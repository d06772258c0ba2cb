from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User
from django.http import Http404

from reviews.access import (
    can_review,
    can_see_finding_details,
    conversations_for,
    get_conversation_for_user,
    visible_agents,
    visible_queues,
)
from reviews.models import AccessScope, Agent, Conversation, Division, Queue

pytestmark = pytest.mark.django_db
START = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def world():
    """Division d1 owns queue q1; q2 has no division; one conversation carries division d2 directly."""
    d1, d2 = Division.objects.create(genesys_id="d1"), Division.objects.create(genesys_id="d2")
    q1 = Queue.objects.create(genesys_id="q1", division=d1)
    q2 = Queue.objects.create(genesys_id="q2")
    make = Conversation.objects.create
    return {
        "in_q1": make(genesys_id="conv-q1", started_at=START, queue=q1),
        "in_q2": make(genesys_id="conv-q2", started_at=START, queue=q2),
        "in_d2": make(genesys_id="conv-d2", started_at=START, queue=q2, division=d2),
        "orphan": make(genesys_id="conv-none", started_at=START),
    }


def user_with(*, groups=(), queues=(), divisions=(), staff=False, superuser=False, scope=True, name="u"):
    user = User.objects.create_user(name, is_staff=staff, is_superuser=superuser)
    for group in groups:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    if scope:
        access_scope = AccessScope.objects.create(user=user)
        access_scope.queues.set(Queue.objects.filter(genesys_id__in=queues))
        access_scope.divisions.set(Division.objects.filter(genesys_id__in=divisions))
    return user


def visible(user) -> set[str]:
    return set(conversations_for(user).values_list("genesys_id", flat=True))


ALL = {"conv-q1", "conv-q2", "conv-d2", "conv-none"}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"staff": True}, set()),  # least privilege: the admin flags grant no transcript access
        ({"superuser": True}, set()),
        ({"staff": True, "superuser": True, "groups": ["Reviewer"], "queues": ["q1"]}, {"conv-q1"}),
        ({"groups": ["Compliance"], "scope": False}, ALL),
        ({"groups": ["Reviewer"], "queues": ["q1"]}, {"conv-q1"}),
        ({"groups": ["Reviewer"], "queues": ["q2"]}, {"conv-q2", "conv-d2"}),
        ({"groups": ["Supervisor"], "divisions": ["d1"]}, {"conv-q1"}),
        ({"groups": ["Supervisor"], "divisions": ["d2"]}, {"conv-d2"}),
        (
            {"groups": ["Supervisor", "Reviewer"], "divisions": ["d1"], "queues": ["q2"]},
            {"conv-q1", "conv-q2", "conv-d2"},
        ),
        ({"groups": ["Reviewer"], "divisions": ["d1"]}, set()),  # a reviewer's divisions mean nothing
        ({"groups": ["Reviewer"], "scope": False}, set()),
        ({"queues": ["q1"], "divisions": ["d1"]}, set()),  # scope but no group
    ],
)
def test_it_applies_the_scope_matrix(world, kwargs, expected):
    assert visible(user_with(**kwargs)) == expected


def test_it_shows_nothing_to_anonymous_or_inactive_users(world):
    assert visible(AnonymousUser()) == set()
    inactive = user_with(groups=["Compliance"])
    inactive.is_active = False
    assert visible(inactive) == set()


def test_it_offers_only_the_queues_and_agents_of_visible_conversations(world):
    zoe, adam, quinn = (
        Agent.objects.create(genesys_id=g, name=n) for g, n in (("a1", "Zoe"), ("a2", "Adam"), ("a3", "Q"))
    )
    Conversation.objects.filter(genesys_id="conv-q2").update(agent=zoe)
    Conversation.objects.filter(genesys_id="conv-d2").update(agent=adam)
    Conversation.objects.filter(genesys_id="conv-q1").update(agent=quinn)
    reviewer = user_with(groups=["Reviewer"], queues=["q2"])
    supervisor = user_with(groups=["Supervisor"], divisions=["d2"], name="s")

    assert [q.genesys_id for q in visible_queues(reviewer)] == ["q2"]
    assert [a.name for a in visible_agents(reviewer)] == ["Adam", "Zoe"]  # by name, each once
    assert [q.genesys_id for q in visible_queues(supervisor)] == ["q2"]  # through conv-d2's own division
    assert [a.name for a in visible_agents(supervisor)] == ["Adam"]
    assert list(visible_queues(AnonymousUser())) == []


def test_it_raises_the_same_404_outside_scope_and_for_unknown_ids(world):
    reviewer = user_with(groups=["Reviewer"], queues=["q1"])
    assert get_conversation_for_user(reviewer, "conv-q1") == world["in_q1"]
    messages = set()
    for conversation_id in ("conv-q2", "does-not-exist", "", "x" * 65):
        with pytest.raises(Http404) as raised:
            get_conversation_for_user(reviewer, conversation_id)
        messages.add(str(raised.value))
    assert messages == {"conversation not found"}


@pytest.mark.parametrize(
    ("kwargs", "review", "findings"),
    [
        ({"staff": True}, False, False),
        ({"superuser": True}, False, False),
        ({"groups": ["Compliance"]}, False, True),
        ({"groups": ["Supervisor"]}, True, False),
        ({"groups": ["Reviewer"]}, True, False),
        ({"groups": ["Reviewer", "Compliance"]}, True, True),
        ({}, False, False),
    ],
)
def test_it_answers_capability_questions(kwargs, review, findings):
    user = user_with(**kwargs)
    assert (can_review(user), can_see_finding_details(user)) == (review, findings)
    assert not can_review(AnonymousUser()) and not can_see_finding_details(AnonymousUser())
