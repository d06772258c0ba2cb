from __future__ import annotations

import pytest

from reviews.evaluations import workflow
from reviews.evaluations.auto import score_conversation_automatically
from reviews.evaluations.coverage import coverage
from reviews.models import Conversation, Division, Queue
from tests.test_evaluations_support import Rule, make_call, make_version, request_by, user_in

pytestmark = pytest.mark.django_db

TURNS = [("internal", 0, 4, "Thank you for calling.")]


def test_it_counts_automatic_and_human_coverage_per_agent_and_queue():
    version = make_version(
        questions=[{"text": "Greeting", "auto_rule": Rule.PHRASE_SAID, "auto_terms": "thank you for calling"}]
    )
    other_queue = Queue.objects.create(
        genesys_id="queue-x", name="QX", division=Division.objects.create(genesys_id="d-x")
    )
    dana_1 = make_call("c1", turns=TURNS)
    dana_2 = make_call("c2", turns=TURNS)
    make_call("c3", turns=TURNS, agent_name="Eli Agent", queue=other_queue)
    make_call("c-no-transcript", turns=[])
    for conversation in (dana_1, dana_2):
        score_conversation_automatically(conversation, versions=[version])
    alice = user_in("alice", "Reviewer")
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=dana_1, version=version)
    workflow.save_answers(request=request_by(alice), evaluation=evaluation, values={}, comments={}, submit=True)
    workflow.start_evaluation(request=request_by(alice), conversation=dana_2, version=version)  # a draft: not counted

    by_agent = {row.label: row for row in coverage(Conversation.objects.all(), by="agent")}
    by_queue = {row.label: row for row in coverage(Conversation.objects.all(), by="queue")}

    dana = by_agent["Dana Agent"]
    assert (dana.calls, dana.automatic, dana.human, dana.automatic_percent, dana.human_percent) == (2, 2, 1, 100, 50)
    assert (dana.automatic_mean, dana.human_mean) == (100.0, 100.0)
    eli = by_agent["Eli Agent"]
    assert (eli.calls, eli.automatic, eli.human, eli.automatic_mean) == (1, 0, 0, None)
    assert (by_queue["QE"].calls, by_queue["QX"].calls) == (2, 1)


def test_it_counts_only_the_conversations_it_is_given():
    make_call("c1", turns=TURNS)
    make_call("c2", turns=TURNS, agent_name="Eli Agent")

    rows = coverage(Conversation.objects.filter(genesys_id="c1"), by="agent")

    assert [(row.label, row.calls) for row in rows] == [("Dana Agent", 1)]
