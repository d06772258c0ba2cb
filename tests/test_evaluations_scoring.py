from __future__ import annotations

from types import SimpleNamespace

from reviews.evaluations.scoring import score_answers
from reviews.models import EvaluationQuestion

YES_NO, SCALE = EvaluationQuestion.Kind.YES_NO, EvaluationQuestion.Kind.SCALE


def _answer(value, *, weight=1, kind=YES_NO, critical=False, scale_max=5, allow_na=True):
    question = EvaluationQuestion(kind=kind, weight=weight, critical=critical, scale_max=scale_max, allow_na=allow_na)
    return SimpleNamespace(question=question, value=value)


def test_it_weights_each_answer():
    result = score_answers([_answer("yes", weight=3), _answer("no", weight=1)])

    assert result.score == 75.0
    assert not result.critical_failed


def test_it_scores_a_scale_as_its_share_of_the_maximum():
    result = score_answers([_answer("4", kind=SCALE, scale_max=5, weight=2), _answer("yes", weight=2)])

    assert result.score == 90.0  # (2 * 0.8 + 2 * 1) / 4


def test_it_leaves_na_and_unanswered_questions_out():
    result = score_answers([_answer("yes", weight=1), _answer("na", weight=5), _answer("", weight=5)])

    assert result.score == 100.0
    assert result.weight_counted == 1


def test_it_has_no_score_when_nothing_scoreable_was_answered():
    assert score_answers([_answer("na")]).score is None


def test_it_fails_the_whole_form_on_a_failed_critical_question():
    result = score_answers([_answer("yes", weight=10), _answer("no", critical=True)])

    assert (result.score, result.critical_failed) == (0.0, True)


def test_it_fails_a_critical_scale_answered_zero_but_not_a_passed_critical():
    assert score_answers([_answer("0", kind=SCALE, critical=True), _answer("yes")]).critical_failed
    passed = score_answers([_answer("yes", critical=True), _answer("no")])
    assert (passed.score, passed.critical_failed) == (50.0, False)


def test_it_ignores_a_critical_question_answered_na():
    result = score_answers([_answer("na", critical=True), _answer("yes")])

    assert (result.score, result.critical_failed) == (100.0, False)
