"""Which language model a worker decodes with: the archive's (fresh, rebuilt when stale) or the general one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from genesys.clock import FakeClock
from reviews.asr.vocabulary import current_language_model, watch_phrases
from reviews.models import EvaluationQuestion, Transcript
from tests.asr.support import NOW
from tests.test_evaluations_support import make_call, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _vocabulary_settings(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.ASR_LANGUAGE_MODEL = "archive"
    settings.ASR_LANGUAGE_MODEL_MIN_SENTENCES = 2
    settings.ASR_LANGUAGE_MODEL_SENTENCES = 1000
    settings.ASR_LANGUAGE_MODEL_MAX_AGE_HOURS = 24
    settings.ASR_PHRASES = ["close my account"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.timestamp())


def archive(*texts: str, genesys_id: str = "conv-archive"):
    return make_call(genesys_id, turns=[("external", i, i + 1, text) for i, text in enumerate(texts)])


def model_text(language_model) -> str:
    with open(language_model.path, encoding="utf-8") as stream:
        return stream.read()


def test_it_uses_the_general_model_until_the_archive_is_large_enough(clock, settings):
    archive("good morning")

    assert current_language_model(clock=clock) is None


def test_it_uses_the_general_model_when_told_to(clock, settings):
    archive("good morning", "how can i help")
    settings.ASR_LANGUAGE_MODEL = "general"

    assert current_language_model(clock=clock) is None


def test_it_learns_from_genesys_transcripts_as_stored_never_from_its_own(clock):
    archive("good morning", "your number is [phone] thanks")
    own = archive("zebra crossing", "zebra", genesys_id="conv-own")
    own.transcripts.update(source=Transcript.Source.VAULT_ASR)

    language_model = current_language_model(clock=clock)

    ngrams = model_text(language_model).split("\\2-grams:")[1]  # bigrams and trigrams: what was said in sequence
    assert " good morning" in ngrams and " close my account" in ngrams
    assert re.search(r" number is (zero|one|two|three|four|five|six|seven|eight|nine)\b", ngrams)
    assert "zebra" not in ngrams  # the vault's own speech-to-text would teach the model its mistakes
    assert "phone" not in ngrams  # a mask token is not a word: the number it hid is said as digits
    assert language_model.label == "archive language model (3 sentences, built 2026-05-04 12:00 UTC)"


def test_it_listens_for_the_phrases_of_current_evaluation_forms(clock):
    make_version(
        questions=[
            {
                "text": "ID check",
                "auto_rule": EvaluationQuestion.AutoRule.PHRASE_SAID,
                "auto_terms": "date of birth\nsecurity questions",
            }
        ]
    )
    make_version(
        "Draft",
        questions=[
            {
                "text": "Unpublished",
                "auto_rule": EvaluationQuestion.AutoRule.PHRASE_SAID,
                "auto_terms": "mother's maiden name",
            }
        ],
        publish=False,
    )
    archive("good morning", "how can i help")

    assert watch_phrases() == ["close my account", "date of birth", "security questions"]
    assert " date of birth" in model_text(current_language_model(clock=clock))


def test_it_reuses_a_fresh_model_and_rebuilds_a_stale_one(clock):
    archive("good morning", "how can i help")
    built = current_language_model(clock=clock)
    archive("a brand new sentence", genesys_id="conv-later")

    clock.advance(timedelta(hours=23).total_seconds())
    reused = current_language_model(clock=clock)
    reused_text = model_text(reused)
    clock.advance(timedelta(hours=2).total_seconds())
    rebuilt = current_language_model(clock=clock)

    assert reused == built and " brand new sentence" not in reused_text
    assert rebuilt.label == "archive language model (4 sentences, built 2026-05-05 13:00 UTC)"
    assert " brand new sentence" in model_text(rebuilt)


def test_it_rebuilds_when_the_watch_phrases_change(clock, settings):
    archive("good morning", "how can i help")
    current_language_model(clock=clock)
    settings.ASR_PHRASES = ["speak to a manager"]

    rebuilt = current_language_model(clock=clock)

    assert " speak to a" in model_text(rebuilt) and " close my account" not in model_text(rebuilt)


def test_it_rebuilds_a_model_whose_description_is_unreadable(clock, tmp_path):
    archive("good morning", "how can i help")
    current_language_model(clock=clock)
    (tmp_path / "asr" / "archive.json").write_text("{not json")

    assert current_language_model(clock=clock).label.startswith("archive language model (3 sentences")
