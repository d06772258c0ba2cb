from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from reviews.evaluations import workflow
from reviews.evaluations.auto import score_conversation_automatically
from reviews.models import AuditEvent, Evaluation, EvaluationQuestion
from tests.fixtures.accounts import sign_in
from tests.test_evaluations_support import make_version, request_by

Rule = EvaluationQuestion.AutoRule
XSS = '<script>alert("x")</script>'


@pytest.fixture
def version(db):
    return make_version(
        "Billing QA",
        questions=[
            {"text": "Greets the caller", "auto_rule": Rule.PHRASE_SAID, "auto_terms": "welcome to billing"},
            {"text": f"Empathy {XSS}", "kind": "scale", "scale_max": 2, "weight": 2},
        ],
    )


@pytest.fixture
def scored(conversation, version):
    score_conversation_automatically(conversation, versions=[version])
    return conversation


def _url(name, conversation_id="conv-q1", *args):
    return reverse(name, args=[conversation_id, *args])


def _questions(version):
    return {question.text.split()[0]: question.pk for question in version.questions.all()}


def _last(action, object_id="conv-q1"):
    return AuditEvent.objects.filter(action=action, object_id=object_id).order_by("-at", "-pk").first()


def test_it_shows_the_automatic_answers_with_their_moment_and_audits_the_view(alice_client, scored, version):
    response = alice_client.get(_url("evaluate"))

    assert response.status_code == 200
    body = response.content.decode()
    greeting = Evaluation.objects.get(kind="automatic").answers.get()
    assert f"?t=0#u-{greeting.utterance_id}" in body
    assert "Evaluate with Billing QA" in body
    event = _last(AuditEvent.Action.VIEW_TRANSCRIPT)
    assert event.detail["evaluations"] == [greeting.evaluation_id]
    assert event.detail["via"] == "evaluation panel"


def test_it_shows_coverage_for_the_calls_agent_and_queue(alice_client, scored):
    body = alice_client.get(_url("evaluate")).content.decode()

    assert "Agent Dana Agent" in body and "Queue Q1 Billing" in body
    assert "1 (100%)" in body


def test_it_refuses_and_audits_a_conversation_outside_the_users_scope(alice_client, other_conversation, version):
    assert alice_client.get(_url("evaluate", "conv-q2")).status_code == 404
    assert _last(AuditEvent.Action.ACCESS_DENIED, "conv-q2").detail["operation"] == "view_evaluations"

    response = alice_client.post(_url("evaluation-start", "conv-q2"), {"form_version": version.pk})

    assert response.status_code == 404
    assert _last(AuditEvent.Action.ACCESS_DENIED, "conv-q2").detail["operation"] == "evaluate"
    assert not Evaluation.objects.filter(kind="human").exists()


def test_it_lets_compliance_read_but_not_evaluate(carol_client, scored, version):
    page = carol_client.get(_url("evaluate"))
    assert page.status_code == 200
    assert "Evaluate with" not in page.content.decode()

    response = carol_client.post(_url("evaluation-start"), {"form_version": version.pk})

    assert response.status_code == 403
    assert _last(AuditEvent.Action.ACCESS_DENIED).detail["reason"] == "read-only role"
    assert not Evaluation.objects.filter(kind="human").exists()


def test_it_sends_anonymous_visitors_to_sign_in(client, scored):
    response = client.get(_url("evaluate"))

    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_it_starts_overrides_and_submits_an_evaluation(alice_client, alice, scored, version):
    alice_client.post(_url("evaluation-start"), {"form_version": version.pk})
    evaluation = Evaluation.objects.get(kind="human", evaluator=alice)
    q = _questions(version)

    response = alice_client.post(
        _url("evaluation-save", "conv-q1", evaluation.pk),
        {
            f"q-{q['Greets']}": "no",
            f"q-{q['Empathy']}": "2",
            f"c-{q['Greets']}": "Said it too fast",
            "action": "submit",
        },
    )

    assert response.status_code == 302
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.score) == ("submitted", 66.7)
    assert evaluation.answers.get(question_id=q["Greets"]).comment == "Said it too fast"
    steps = [e.detail["step"] for e in AuditEvent.objects.filter(action=AuditEvent.Action.REVIEW).order_by("at", "pk")]
    assert steps == ["start", "override", "submit"]


def test_it_swaps_the_panel_in_place_for_htmx(alice_client, scored, version):
    response = alice_client.post(_url("evaluation-start"), {"form_version": version.pk}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="evaluation-panel"')
    assert "Evaluation started from the automatic answers." in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert XSS not in body and "Empathy &lt;script&gt;" in body


def test_it_shows_a_refused_step_without_saving(alice_client, alice, scored, version):
    alice_client.post(_url("evaluation-start"), {"form_version": version.pk})
    evaluation = Evaluation.objects.get(kind="human", evaluator=alice)

    response = alice_client.post(
        _url("evaluation-save", "conv-q1", evaluation.pk), {"action": "submit"}, HTTP_HX_REQUEST="true"
    )

    assert "Answer every question" in response.content.decode()
    evaluation.refresh_from_db()
    assert evaluation.status == "draft"


def test_it_refuses_a_post_without_the_csrf_token(alice, scored, version):
    client = sign_in(alice, Client(enforce_csrf_checks=True))

    response = client.post(_url("evaluation-start"), {"form_version": version.pk})

    assert response.status_code == 403
    assert not Evaluation.objects.filter(kind="human").exists()


def test_it_refuses_an_evaluation_of_another_conversation(alice_client, alice, scored, two_parts, version):
    evaluation = workflow.start_evaluation(request=request_by(alice), conversation=scored, version=version)

    response = alice_client.post(_url("evaluation-save", "conv-parts", evaluation.pk), {"action": "save"})

    assert response.status_code == 404


def _submit(user, conversation, version, empathy):
    evaluation = workflow.start_evaluation(request=request_by(user), conversation=conversation, version=version)
    q = _questions(version)
    workflow.save_answers(
        request=request_by(user), evaluation=evaluation, values={q["Empathy"]: empathy}, comments={}, submit=True
    )
    return evaluation


def test_it_disputes_and_re_scores_through_the_pages(alice_client, bob_client, alice, scored, version):
    evaluation = _submit(alice, scored, version, empathy="0")

    bob_client.post(_url("evaluation-dispute", "conv-q1", evaluation.pk), {"reason": "Empathy was shown"})
    evaluation.refresh_from_db()
    assert evaluation.status == "disputed"
    page = bob_client.get(_url("evaluate")).content.decode()
    assert "Disputed by bob: Empathy was shown" in page

    q = _questions(version)
    alice_client.post(
        _url("evaluation-save", "conv-q1", evaluation.pk),
        {f"q-{q['Empathy']}": "2", "note": "Agreed", "action": "submit"},
    )

    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.score) == ("submitted", 100.0)
    assert "re-scored 33.3 → 100.0 by alice: Agreed" in bob_client.get(_url("evaluate")).content.decode()
    rescore = AuditEvent.objects.get(action=AuditEvent.Action.REVIEW, detail__step="rescore")
    assert (rescore.username, rescore.detail["score_before"], rescore.detail["score_after"]) == ("alice", 33.3, 100.0)


def test_it_shows_the_calibration_spread(alice_client, alice, bob, scored, version):
    _submit(alice, scored, version, empathy="2")
    _submit(bob, scored, version, empathy="0")

    body = alice_client.get(_url("evaluate")).content.decode()

    assert "spread <strong>66.7</strong> points" in body
    assert "alice 2, bob 0" in body
