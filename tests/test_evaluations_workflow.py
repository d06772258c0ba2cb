from __future__ import annotations

import pytest

from reviews.evaluations import workflow
from reviews.evaluations.auto import score_conversation_automatically
from reviews.models import AuditEvent, Evaluation, EvaluationError
from tests.test_evaluations_support import Rule, make_call, make_version, request_by, user_in

pytestmark = pytest.mark.django_db

TURNS = [("internal", 0, 4, "Thank you for calling."), ("external", 5, 9, "Hello.")]


@pytest.fixture
def version():
    return make_version(
        questions=[
            {"text": "Greeting", "auto_rule": Rule.PHRASE_SAID, "auto_terms": "thank you for calling", "weight": 1},
            {"text": "Empathy", "kind": "scale", "scale_max": 4, "weight": 2, "allow_na": True},
            {"text": "Identity checked", "critical": True, "allow_na": True},
        ],
        pass_score=75,
    )


@pytest.fixture
def call(version):
    conversation = make_call(turns=TURNS)
    score_conversation_automatically(conversation, versions=[version])
    return conversation


def _questions(version):
    return {question.text: question.pk for question in version.questions.all()}


def _steps(conversation):
    events = AuditEvent.objects.filter(action=AuditEvent.Action.REVIEW, object_id=conversation.genesys_id)
    return [event.detail for event in events.order_by("at", "pk")]


def test_it_starts_from_the_automatic_answers_and_audits_it(call, version):
    alice = user_in("alice", "Reviewer")

    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)

    answers = {a.question.text: a for a in evaluation.answers.select_related("question")}
    assert (answers["Greeting"].value, answers["Greeting"].auto_value, answers["Greeting"].moment_ms) == (
        "yes",
        "yes",
        0,
    )
    assert answers["Empathy"].value == ""
    assert (evaluation.kind, evaluation.status, evaluation.evaluator) == ("human", "draft", alice)
    assert _steps(call)[-1]["step"] == "start"
    assert workflow.start_evaluation(request=request_by(alice), conversation=call, version=version) == evaluation


def test_it_audits_an_override_of_an_automatic_answer(call, version):
    alice = user_in("alice", "Reviewer")
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)
    q = _questions(version)

    workflow.save_answers(
        request=request_by(alice), evaluation=evaluation, values={q["Greeting"]: "no"}, comments={}, submit=False
    )

    overrides = [step for step in _steps(call) if step["step"] == "override"]
    assert overrides == [
        {
            "evaluation": evaluation.pk,
            "step": "override",
            "form_version": version.pk,
            "question": q["Greeting"],
            "automatic": "yes",
            "to": "no",
        }
    ]
    assert evaluation.answers.get(question_id=q["Greeting"]).is_override


def test_it_does_not_call_accepting_the_automatic_answer_an_override(call, version):
    alice = user_in("alice", "Reviewer")
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)
    q = _questions(version)

    workflow.save_answers(
        request=request_by(alice), evaluation=evaluation, values={q["Greeting"]: "yes"}, comments={}, submit=False
    )

    assert not [step for step in _steps(call) if step["step"] == "override"]


def test_it_submits_with_the_computed_score_and_refuses_later_edits(call, version):
    alice = user_in("alice", "Reviewer")
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)
    q = _questions(version)
    values = {q["Greeting"]: "yes", q["Empathy"]: "2", q["Identity checked"]: "na"}

    workflow.save_answers(request=request_by(alice), evaluation=evaluation, values=values, comments={}, submit=True)

    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.score, evaluation.passed) == ("submitted", 66.7, False)  # (1 + 2*0.5) / 3
    assert (_steps(call)[-1]["step"], _steps(call)[-1]["score"]) == ("submit", 66.7)
    with pytest.raises(EvaluationError):
        workflow.save_answers(
            request=request_by(alice), evaluation=evaluation, values={q["Empathy"]: "4"}, comments={}, submit=True
        )


def test_it_fails_the_evaluation_on_a_failed_critical_question(call, version):
    alice = user_in("alice", "Reviewer")
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)
    q = _questions(version)
    values = {q["Greeting"]: "yes", q["Empathy"]: "4", q["Identity checked"]: "no"}

    workflow.save_answers(request=request_by(alice), evaluation=evaluation, values=values, comments={}, submit=True)

    evaluation.refresh_from_db()
    assert (evaluation.score, evaluation.critical_failed, evaluation.passed) == (0.0, True, False)


def test_it_refuses_to_submit_unanswered_questions_or_invalid_answers(call, version):
    alice = user_in("alice", "Reviewer")
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)
    q = _questions(version)

    with pytest.raises(EvaluationError):
        workflow.save_answers(request=request_by(alice), evaluation=evaluation, values={}, comments={}, submit=True)
    with pytest.raises(EvaluationError):
        workflow.save_answers(
            request=request_by(alice), evaluation=evaluation, values={q["Empathy"]: "9"}, comments={}, submit=False
        )
    evaluation.refresh_from_db()
    assert evaluation.status == "draft"


def test_it_lets_only_the_evaluator_change_a_draft(call, version):
    alice, bob = user_in("alice", "Reviewer"), user_in("bob", "Supervisor")
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)

    with pytest.raises(EvaluationError):
        workflow.save_answers(request=request_by(bob), evaluation=evaluation, values={}, comments={}, submit=False)


def _submitted(call, version, user, empathy="4"):
    evaluation = workflow.start_evaluation(request=request_by(user), conversation=call, version=version)
    q = _questions(version)
    values = {q["Greeting"]: "yes", q["Empathy"]: empathy, q["Identity checked"]: "yes"}
    workflow.save_answers(request=request_by(user), evaluation=evaluation, values=values, comments={}, submit=True)
    evaluation.refresh_from_db()
    return evaluation


def test_it_disputes_and_re_scores_with_both_scores_audited(call, version):
    alice, bob = user_in("alice", "Reviewer"), user_in("bob", "Supervisor")
    evaluation = _submitted(call, version, alice, empathy="0")
    assert evaluation.score == 50.0

    dispute = workflow.dispute(request=request_by(bob), evaluation=evaluation, reason="Empathy was fine")
    assert evaluation.status == Evaluation.Status.DISPUTED
    with pytest.raises(EvaluationError):
        workflow.save_answers(request=request_by(alice), evaluation=evaluation, values={}, comments={}, submit=True)
    q = _questions(version)
    workflow.save_answers(
        request=request_by(alice),
        evaluation=evaluation,
        values={q["Empathy"]: "4"},
        comments={},
        submit=True,
        note="Listened again",
    )

    dispute.refresh_from_db()
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.score) == ("submitted", 100.0)
    assert (dispute.score_before, dispute.score_after, dispute.resolved_by) == (50.0, 100.0, alice)
    steps = {step["step"]: step for step in _steps(call)}
    assert steps["dispute"]["score_before"] == 50.0
    assert (steps["rescore"]["score_before"], steps["rescore"]["score_after"]) == (50.0, 100.0)


def test_it_disputes_only_a_submitted_evaluation_with_a_reason(call, version):
    alice = user_in("alice", "Reviewer")
    draft = workflow.start_evaluation(request=request_by(alice), conversation=call, version=version)

    with pytest.raises(EvaluationError):
        workflow.dispute(request=request_by(alice), evaluation=draft, reason="why")
    submitted = _submitted(call, version, user_in("dora", "Reviewer"))
    with pytest.raises(EvaluationError):
        workflow.dispute(request=request_by(alice), evaluation=submitted, reason="  ")


def test_it_shows_the_spread_of_several_evaluators(call, version):
    _submitted(call, version, user_in("alice", "Reviewer"), empathy="4")
    _submitted(call, version, user_in("bob", "Supervisor"), empathy="2")
    _submitted(call, version, user_in("dora", "Reviewer"), empathy="4")

    result = workflow.calibration(call, version)

    assert sorted(result.scores) == [75.0, 100.0, 100.0]
    assert result.spread == 25.0
    assert result.deviation == 11.8
    assert [row["question"].text for row in result.disagreements] == ["Empathy"]
    assert result.disagreements[0]["answers"] == {"alice": "4", "bob": "2", "dora": "4"}


def test_it_has_no_spread_for_a_single_evaluator(call, version):
    _submitted(call, version, user_in("alice", "Reviewer"))

    assert workflow.calibration(call, version).spread is None


def test_it_scores_the_automatic_answers_first_when_the_call_was_not_scored_yet(version):
    conversation = make_call("conv-fresh", turns=TURNS)

    evaluation = workflow.start_evaluation(
        request=request_by(user_in("alice", "Reviewer")), conversation=conversation, version=version
    )

    assert evaluation.answers.get(question__text="Greeting").auto_value == "yes"
    assert Evaluation.objects.filter(conversation=conversation, kind=Evaluation.Kind.AUTOMATIC).count() == 1
