from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reviews.models import Evaluation, EvaluationAnswer
from tests.test_evaluations_support import Rule, make_call, make_version

pytestmark = pytest.mark.django_db

TURNS = [("internal", 0, 4, "Thank you for calling.")]


def _run(*args) -> str:
    out = StringIO()
    call_command("auto_evaluate", *args, stdout=out)
    return out.getvalue()


def _greeting_form():
    return make_version(
        "Greeting QA",
        questions=[{"text": "Greeting", "auto_rule": Rule.PHRASE_SAID, "auto_terms": "thank you for calling"}],
    )


def test_it_scores_the_calls_not_scored_yet():
    _greeting_form()
    make_call("c1", turns=TURNS)
    make_call("c2", turns=TURNS)

    assert "Scored 2 conversation(s) with Greeting QA v1." in _run()
    assert "Scored 0 conversation(s)" in _run()
    assert Evaluation.objects.filter(kind="automatic").count() == 2


def test_it_re_scores_every_call_with_all():
    _greeting_form()
    make_call("c1", turns=TURNS)
    _run()
    EvaluationAnswer.objects.update(value="no")

    assert "Scored 1 conversation(s)" in _run("--all")
    assert EvaluationAnswer.objects.get().value == "yes"


def test_it_stops_at_the_limit():
    _greeting_form()
    make_call("c1", turns=TURNS)
    make_call("c2", turns=TURNS)

    assert "Scored 1 conversation(s)" in _run("--limit", "1")


def test_it_says_when_no_form_has_automatic_questions():
    make_version(questions=[{"text": "Empathy"}])
    make_call("c1", turns=TURNS)

    assert "nothing to score" in _run()
    assert not Evaluation.objects.exists()


def test_it_refuses_a_limit_below_one():
    with pytest.raises(CommandError):
        _run("--limit", "0")


def test_it_installs_the_starter_form_once_and_scores_with_it():
    make_call(
        "c1",
        turns=[
            ("internal", 0, 4, "Welcome to Northwind Bank. Calls may be recorded for quality and training."),
            ("internal", 5, 8, "Before we start I need to verify your identity."),
            ("external", 9, 12, "Yes, it's [name]."),
        ],
        duration_s=14,
    )

    first = _run("--install-starter-form")
    second = _run("--install-starter-form")

    assert "Installed Call quality (starter) v1." in first
    assert "Kept the existing Call quality (starter) v1." in second
    evaluation = Evaluation.objects.get(kind="automatic")
    answers = {a.question.text: a.value for a in evaluation.answers.select_related("question")}
    assert answers["The call recording is disclosed in the first 60 seconds"] == "yes"
    assert answers["The agent checks the caller's identity"] == "yes"
    assert answers["No prohibited wording from the agent"] == "yes"
    assert answers["The agent offers further help before closing"] == "no"
    assert "The agent shows empathy" not in answers  # a person answers it
