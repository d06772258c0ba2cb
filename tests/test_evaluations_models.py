from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from reviews.models import Evaluation, EvaluationError, EvaluationQuestion, EvaluationSection
from tests.test_evaluations_support import Rule, make_call, make_version

pytestmark = pytest.mark.django_db


def _version(**kwargs):
    return make_version(questions=[{"text": "Greets the caller", "weight": 2}, {"text": "Offers help"}], **kwargs)


def test_it_refuses_to_change_a_published_version_or_its_questions_and_sections():
    version = _version()
    question = version.questions.first()

    question.text = "Something else"
    with pytest.raises(EvaluationError):
        question.save()
    with pytest.raises(EvaluationError):
        question.delete()
    with pytest.raises(EvaluationError):
        EvaluationQuestion.objects.create(version=version, section=version.sections.first(), text="Added later")
    with pytest.raises(EvaluationError):
        EvaluationSection.objects.create(version=version, title="Another")
    version.pass_score = 10
    with pytest.raises(EvaluationError):
        version.save()
    with pytest.raises(EvaluationError):
        version.delete()
    assert version.questions.get(pk=question.pk).text == "Greets the caller"


def test_it_refuses_moving_a_draft_question_into_a_published_version():
    published = _version()
    draft = published.new_draft()
    question = draft.questions.first()
    question.version = published

    with pytest.raises(EvaluationError):
        question.save()


def test_it_edits_by_a_new_draft_that_copies_the_published_version():
    version = _version()

    draft = version.new_draft()
    question = draft.questions.get(text="Greets the caller")
    question.text = "Greets the caller by name"
    question.save()

    assert (draft.number, draft.is_published) == (2, False)
    assert question.section.version_id == draft.pk
    assert list(version.questions.values_list("text", flat=True)) == ["Greets the caller", "Offers help"]
    assert version.form.current_version() == version  # the draft is not used until published
    draft.publish(at=timezone.now())
    assert version.form.current_version() == draft


def test_it_keeps_an_old_evaluation_on_the_version_it_was_scored_with():
    version = _version()
    evaluation = Evaluation.objects.create(
        conversation=make_call(turns=[]), form_version=version, kind=Evaluation.Kind.AUTOMATIC
    )
    version.new_draft().publish(at=timezone.now())

    evaluation.refresh_from_db()
    assert evaluation.form_version == version
    with pytest.raises((ProtectedError, EvaluationError)):
        version.delete()


def test_it_publishes_once_and_only_with_questions():
    version = _version(publish=False)
    version.publish(at=timezone.now())
    with pytest.raises(EvaluationError):
        version.publish(at=timezone.now())
    empty = make_version("Empty", questions=[], publish=False)
    with pytest.raises(EvaluationError):
        empty.publish(at=timezone.now())


def test_it_accepts_automatic_rules_only_where_they_can_decide():
    version = _version(publish=False)
    section = version.sections.first()

    def question(**fields):
        return EvaluationQuestion(version=version, section=section, text="q", **fields)

    with pytest.raises(ValidationError):
        question(kind=EvaluationQuestion.Kind.SCALE, auto_rule=Rule.PHRASE_SAID, auto_terms="hello").clean()
    with pytest.raises(ValidationError):
        question(auto_rule=Rule.PHRASE_SAID, auto_terms="  \n ").clean()
    with pytest.raises(ValidationError):
        question(auto_rule=Rule.SILENCE_SHARE, auto_threshold=1.5).clean()
    question(auto_rule=Rule.SILENCE_SHARE, auto_threshold=0.3).clean()
    question(auto_rule=Rule.TOPIC_PRESENT, auto_terms="Refund").clean()


def test_it_lists_the_answers_a_question_accepts():
    scale = EvaluationQuestion(kind=EvaluationQuestion.Kind.SCALE, scale_max=3, allow_na=True)
    yes_no = EvaluationQuestion(kind=EvaluationQuestion.Kind.YES_NO)

    assert scale.values() == ["0", "1", "2", "3", "na"]
    assert yes_no.values() == ["yes", "no"]
