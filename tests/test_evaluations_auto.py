from __future__ import annotations

import pytest

from reviews.evaluations.auto import normalise, score_conversation_automatically, score_pending
from reviews.models import Evaluation, EvaluationForm, Utterance
from tests.test_evaluations_support import Rule, make_call, make_version

pytestmark = pytest.mark.django_db

TURNS = [
    ("internal", 0, 4, "Thank you for calling, Acme billing. This call is recorded."),
    ("external", 5, 9, "Hi, my card number is [card number] and my name is [name].", ["Payment"]),
    ("internal", 10, 14, "Can you confirm your date of birth?"),
    ("internal", 70, 74, "That's a stupid question, honestly.", ["Refund"]),
]


def _answers(conversation, *questions):
    version = make_version(questions=list(questions))
    (evaluation,) = score_conversation_automatically(conversation, versions=[version])
    return {a.question.text: a for a in evaluation.answers.select_related("question")}


def _phrase(text, terms, *, rule=Rule.PHRASE_SAID, **extra):
    return {"text": text, "auto_rule": rule, "auto_terms": "\n".join(terms), **extra}


def test_it_answers_yes_when_a_phrase_variant_is_said_and_links_the_moment():
    conversation = make_call(turns=TURNS)
    answers = _answers(conversation, _phrase("Greeting", ["good morning", "thank you for calling"]))

    greeting = answers["Greeting"]
    first = Utterance.objects.get(conversation=conversation, index=0)
    assert (greeting.value, greeting.utterance_id, greeting.moment_ms) == ("yes", first.pk, 0)
    assert "thank you for calling" in greeting.evidence


def test_it_answers_no_when_no_variant_is_said():
    answers = _answers(make_call(turns=TURNS), _phrase("Greeting", ["good morning"]))

    assert (answers["Greeting"].value, answers["Greeting"].utterance_id) == ("no", None)


def test_it_ignores_case_and_punctuation_but_matches_whole_words_only():
    conversation = make_call(turns=[("internal", 0, 3, "THIS CALL... is Recorded!")])
    answers = _answers(
        conversation,
        _phrase("Disclosure", ["this call is recorded"]),
        _phrase("Partial word", ["record"]),
    )

    assert answers["Disclosure"].value == "yes"
    assert answers["Partial word"].value == "no"


def test_it_never_matches_inside_a_mask_token():
    conversation = make_call(turns=[("external", 0, 3, "it is [card number] and [name]"), ("internal", 4, 5, "ok")])
    answers = _answers(
        conversation,
        _phrase("Card mentioned", ["card number"]),
        _phrase("Name mentioned", ["name"]),
        _phrase("Across a mask", ["is and"]),
    )

    assert {text: answer.value for text, answer in answers.items()} == {
        "Card mentioned": "no",
        "Name mentioned": "no",
        "Across a mask": "no",
    }


def test_it_still_matches_the_same_words_said_outside_the_mask():
    answers = _answers(make_call(turns=TURNS), _phrase("Card mentioned", ["card number"]))

    assert answers["Card mentioned"].value == "yes"
    assert answers["Card mentioned"].moment_ms == 5_000


def test_it_matches_the_stored_masked_text_only():
    turns = [("external", 0, 3, "my email is [email]")]
    conversation = make_call(turns=turns)
    Utterance.objects.filter(conversation=conversation).update(sealed_original="sealed: my email is a@b.c")

    assert _answers(conversation, _phrase("Email said", ["a b c", "sealed"]))["Email said"].value == "no"


def test_it_limits_a_phrase_to_one_speaker():
    conversation = make_call(turns=TURNS)
    answers = _answers(
        conversation,
        _phrase("Agent asks date of birth", ["date of birth"], auto_speaker="internal"),
        _phrase("Customer says date of birth", ["date of birth"], auto_speaker="external"),
    )

    assert answers["Agent asks date of birth"].value == "yes"
    assert answers["Customer says date of birth"].value == "no"


def test_it_limits_a_phrase_to_the_first_seconds():
    conversation = make_call(turns=TURNS)
    answers = _answers(
        conversation,
        _phrase("Early identity check", ["date of birth"], auto_within_seconds=5),
        _phrase("Identity check in time", ["date of birth"], auto_within_seconds=11),
    )

    assert answers["Early identity check"].value == "no"
    assert answers["Identity check in time"].value == "yes"


def test_it_answers_no_at_the_moment_prohibited_wording_is_said():
    conversation = make_call(turns=TURNS)
    answers = _answers(
        conversation,
        _phrase("No insults", ["stupid", "idiot"], rule=Rule.PHRASE_NOT_SAID),
        _phrase("No swearing", ["damn"], rule=Rule.PHRASE_NOT_SAID),
    )

    assert (answers["No insults"].value, answers["No insults"].moment_ms) == ("no", 70_000)
    assert answers["No swearing"].value == "yes"


def test_it_measures_the_silence_share_from_the_turns_and_the_call_duration():
    # Spoken: 0-4, 5-9 (overlapping 8-12), 10-14 -> 0-4 and 5-14; 70-74. Call 100 s: silent 1 + 56 + 26 = 83 s.
    conversation = make_call(turns=TURNS + [("external", 8, 12, "overlap")], duration_s=100)
    answers = _answers(
        conversation,
        {"text": "Little silence", "auto_rule": Rule.SILENCE_SHARE, "auto_threshold": 0.8},
        {"text": "Tolerant", "auto_rule": Rule.SILENCE_SHARE, "auto_threshold": 0.9},
    )

    little = answers["Little silence"]
    assert little.value == "no"
    assert little.moment_ms == 14_000  # the longest silence starts after the third turn
    assert little.utterance_id == Utterance.objects.get(conversation=conversation, index=3).pk
    assert "83%" in little.evidence
    assert answers["Tolerant"].value == "yes"


def test_it_finds_a_genesys_topic():
    conversation = make_call(turns=TURNS)
    answers = _answers(
        conversation,
        {"text": "Refund discussed", "auto_rule": Rule.TOPIC_PRESENT, "auto_terms": "refund"},
        {"text": "Customer pays", "auto_rule": Rule.TOPIC_PRESENT, "auto_terms": "Payment", "auto_speaker": "internal"},
    )

    assert (answers["Refund discussed"].value, answers["Refund discussed"].moment_ms) == ("yes", 70_000)
    assert answers["Customer pays"].value == "no"


def test_it_scores_the_automatic_evaluation_and_rewrites_it_in_place():
    conversation = make_call(turns=TURNS)
    version = make_version(
        questions=[
            _phrase("Greeting", ["thank you for calling"], weight=1),
            _phrase("No insults", ["stupid"], rule=Rule.PHRASE_NOT_SAID, weight=3),
            {"text": "Empathy", "weight": 5},  # a person answers this one
        ]
    )

    (first,) = score_conversation_automatically(conversation, versions=[version])
    (again,) = score_conversation_automatically(conversation, versions=[version])

    assert first.pk == again.pk
    assert again.answers.count() == 2
    assert (again.score, again.passed) == (25.0, False)


def test_it_leaves_a_call_without_turns_alone():
    version = make_version(questions=[_phrase("Greeting", ["hello"])])

    assert score_conversation_automatically(make_call(turns=[]), versions=[version]) == []


def test_it_scores_with_the_current_version_of_active_forms_only():
    conversation = make_call(turns=TURNS)
    current = make_version("Current", questions=[_phrase("Greeting", ["thank you for calling"])])
    inactive = make_version("Inactive", questions=[_phrase("Greeting", ["thank you for calling"])])
    EvaluationForm.objects.filter(pk=inactive.form_id).update(active=False)
    make_version("Manual only", questions=[{"text": "Empathy"}])
    make_version("Draft", questions=[_phrase("Greeting", ["hello"])], publish=False)

    written = score_conversation_automatically(conversation)

    assert [evaluation.form_version for evaluation in written] == [current]


def test_it_scores_pending_calls_once_and_everything_on_request():
    make_version(questions=[_phrase("Greeting", ["thank you for calling"])])
    make_call("conv-a", turns=TURNS)
    make_call("conv-b", turns=TURNS)
    make_call("conv-empty", turns=[])

    assert score_pending(limit=1) == 1
    assert score_pending() == 1
    assert score_pending() == 0
    assert score_pending(everything=True) == 2
    assert Evaluation.objects.filter(kind=Evaluation.Kind.AUTOMATIC).count() == 2


def test_it_normalises_mask_tokens_into_a_gap():
    assert normalise("Card: [Card  Number], OK?") == "card \x00 ok"


def test_it_scores_one_call_from_the_ingest_task_and_the_rest_from_the_schedule():
    from reviews.evaluations.auto import auto_evaluate_conversation_task, auto_evaluate_task

    make_version(questions=[_phrase("Greeting", ["thank you for calling"])])
    make_call("conv-a", turns=TURNS)
    make_call("conv-b", turns=TURNS)

    assert auto_evaluate_conversation_task("conv-a") == "1 automatic evaluation(s)"
    assert auto_evaluate_conversation_task("conv-gone") == "conversation gone"
    assert auto_evaluate_task() == "scored 1 conversation(s)"
    assert Evaluation.objects.filter(kind=Evaluation.Kind.AUTOMATIC).count() == 2
