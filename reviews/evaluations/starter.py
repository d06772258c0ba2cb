"""A starter scorecard for a new installation (and the demo): `manage.py auto_evaluate --install-starter-form`.

It is an ordinary form, published as version 1: edit it in the admin by creating a new draft version.
"""

from __future__ import annotations

from django.db import transaction

from reviews.models import EvaluationForm, EvaluationFormVersion, EvaluationQuestion, EvaluationSection

STARTER_FORM_NAME = "Call quality (starter)"
Rule = EvaluationQuestion.AutoRule

# (section, question fields); phrases are variants, one per line.
STARTER_QUESTIONS: tuple[tuple[str, dict], ...] = (
    (
        "Opening",
        {
            "text": "The agent greets the caller in the first 60 seconds",
            "auto_rule": Rule.PHRASE_SAID,
            "auto_terms": "thanks for calling\nthank you for calling\nwelcome to\ngood morning\ngood afternoon",
            "auto_speaker": "internal",
            "auto_within_seconds": 60,
        },
    ),
    (
        "Opening",
        {
            "text": "The call recording is disclosed in the first 60 seconds",
            "auto_rule": Rule.PHRASE_SAID,
            "auto_terms": "calls may be recorded\nthis call is recorded\nthis call may be recorded\ncall is being recorded",
            "auto_speaker": "internal",
            "auto_within_seconds": 60,
            "critical": True,
            "weight": 2,
        },
    ),
    (
        "Compliance",
        {
            "text": "The agent checks the caller's identity",
            "auto_rule": Rule.PHRASE_SAID,
            "auto_terms": "verify your identity\nconfirm your identity\ndate of birth\nsecurity questions",
            "auto_speaker": "internal",
            "critical": True,
            "weight": 2,
        },
    ),
    (
        "Compliance",
        {
            "text": "No prohibited wording from the agent",
            "auto_rule": Rule.PHRASE_NOT_SAID,
            "auto_terms": "stupid\nshut up\nnot my problem\ncalm down\nguaranteed returns",
            "auto_speaker": "internal",
            "critical": True,
            "weight": 2,
        },
    ),
    (
        "Handling",
        {
            "text": "Silence is at most 35% of the call",
            "auto_rule": Rule.SILENCE_SHARE,
            "auto_threshold": 0.35,
        },
    ),
    (
        "Handling",
        {
            "text": "The agent offers further help before closing",
            "auto_rule": Rule.PHRASE_SAID,
            "auto_terms": "anything else i can help\nanything else i can do\nis there anything else",
            "auto_speaker": "internal",
        },
    ),
    ("Handling", {"text": "The agent shows empathy", "kind": "scale", "scale_max": 4, "weight": 2}),
    ("Handling", {"text": "The caller's issue is resolved", "allow_na": True, "weight": 3}),
)


def install_starter_form(*, now) -> tuple[EvaluationFormVersion, bool]:
    """The starter form's current version, created and published if the form does not exist yet (True)."""
    with transaction.atomic():
        form, created = EvaluationForm.objects.get_or_create(
            name=STARTER_FORM_NAME,
            defaults={
                "description": "Automatic checks on every call plus two questions for a person.",
                "created_at": now,
            },
        )
        if not created:
            return form.current_version() or form.versions.order_by("-number").first(), False
        version = EvaluationFormVersion.objects.create(form=form, number=1, created_at=now)
        sections: dict[str, EvaluationSection] = {}
        for position, (title, fields) in enumerate(STARTER_QUESTIONS):
            if title not in sections:
                sections[title] = EvaluationSection.objects.create(version=version, title=title, position=len(sections))
            question = EvaluationQuestion(version=version, section=sections[title], position=position, **fields)
            question.full_clean()
            question.save()
        version.publish(at=now)
    return version, True
