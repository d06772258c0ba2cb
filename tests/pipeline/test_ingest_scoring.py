"""Ingest scores a call automatically as soon as its transcript is committed (reviews/evaluations/auto.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reviews.evaluations import auto
from reviews.evaluations.starter import install_starter_form
from reviews.models import Evaluation
from tests.pipeline.test_ingest_masking import document, phrase, store

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 4, 12, tzinfo=UTC)


def greeting_call() -> bytes:
    return document(
        [
            phrase(0, "internal", "thank you for calling how can i help"),
            phrase(1, "external", "i would like a refund"),
        ]
    )


def test_it_scores_the_call_when_the_transcript_is_committed(django_capture_on_commit_callbacks):
    install_starter_form(now=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        transcript = store(greeting_call())
        assert not Evaluation.objects.exists()  # not before the commit: the rows may still roll back
    evaluation = Evaluation.objects.get(conversation=transcript.conversation)
    assert evaluation.kind == Evaluation.Kind.AUTOMATIC and evaluation.score is not None
    assert evaluation.answers.filter(source="automatic").exists()


def test_it_keeps_the_stored_transcript_when_scoring_fails(django_capture_on_commit_callbacks, monkeypatch, caplog):
    install_starter_form(now=NOW)

    def broken(conversation, **kwargs):
        raise RuntimeError("scoring bug")

    monkeypatch.setattr(auto, "score_conversation_automatically", broken)
    with django_capture_on_commit_callbacks(execute=True):
        transcript = store(greeting_call())
    assert transcript.conversation.utterances.count() == 2
    assert not Evaluation.objects.exists()  # left to the scheduled catch-up, which finds it unscored
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == ["automatic evaluation after store failed"]
    assert list(auto.unscored_conversations(auto.current_versions()[0])) == [transcript.conversation]
