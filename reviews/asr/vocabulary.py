"""Which language model speech-to-text decodes with, kept fresh on each machine.

The archive model (reviews/asr/language_model.py) learns from the newest ASR_LANGUAGE_MODEL_SENTENCES utterances
of Genesys' own transcripts (never the vault's speech-to-text, which would learn its own mistakes) and the watch
phrases: ASR_PHRASES plus the phrase rules of every current evaluation form, so a form that listens for "date of
birth" makes the words hearable. The text is what the vault stores: masked, so no detected value reaches the model.

Each machine keeps its own copy under DATA_DIR/asr (the decoder reads a local file) with a description beside it;
a copy older than ASR_LANGUAGE_MODEL_MAX_AGE_HOURS, or built for other watch phrases, is rebuilt before the next
call is decoded. Until the archive holds ASR_LANGUAGE_MODEL_MIN_SENTENCES utterances the general model is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from genesys.clock import Clock
from reviews.asr.language_model import LanguageModel, write_language_model
from reviews.evaluations.auto import current_versions_for_people
from reviews.models import EvaluationQuestion, Transcript, Utterance
from reviews.pipeline.schedule import now_of

logger = logging.getLogger(__name__)
MODEL_FILE = "archive.lm"
DESCRIPTION_FILE = "archive.json"


def model_directory() -> Path:
    return Path(settings.DATA_DIR) / "asr"


def watch_phrases() -> list[str]:
    """ASR_PHRASES and the phrase variants of every current form's phrase rules, without repeats, sorted."""
    phrase_rules = (EvaluationQuestion.AutoRule.PHRASE_SAID, EvaluationQuestion.AutoRule.PHRASE_NOT_SAID)
    phrases = set(settings.ASR_PHRASES)
    for version in current_versions_for_people():
        for question in version.questions.filter(auto_rule__in=phrase_rules):
            phrases.update(question.terms)
    return sorted(phrases)


def archive_sentences() -> list[str]:
    """The text of the newest ASR_LANGUAGE_MODEL_SENTENCES utterances of Genesys transcripts."""
    rows = (
        Utterance.objects.filter(transcript__source=Transcript.Source.GENESYS)
        .order_by("-pk")
        .values_list("text", flat=True)
    )
    return list(rows[: settings.ASR_LANGUAGE_MODEL_SENTENCES])


def current_language_model(*, clock: Clock) -> LanguageModel | None:
    """The model to decode with now: this machine's archive model (rebuilt if stale), or None for the general one."""
    if settings.ASR_LANGUAGE_MODEL == "general":
        return None
    phrases = watch_phrases()
    digest = hashlib.sha256("\n".join(phrases).encode()).hexdigest()
    now = now_of(clock)
    description = _description()
    if description and _fresh(description, digest=digest, now=now):
        return LanguageModel(path=str(model_directory() / MODEL_FILE), label=description["label"])
    return rebuild(phrases=phrases, digest=digest, now=now)


def rebuild(*, phrases: list[str], digest: str, now: datetime) -> LanguageModel | None:
    sentences = archive_sentences()
    if len(sentences) < settings.ASR_LANGUAGE_MODEL_MIN_SENTENCES:
        logger.info(
            "speech-to-text uses the general language model: %d archive utterances, %d needed",
            len(sentences),
            settings.ASR_LANGUAGE_MODEL_MIN_SENTENCES,
        )
        return None
    directory = model_directory()
    learned = write_language_model(sentences, phrases=phrases, path=directory / MODEL_FILE)
    label = f"archive language model ({learned} sentences, built {now:%Y-%m-%d %H:%M} UTC)"
    description = {"label": label, "built_at": now.isoformat(), "phrases_sha256": digest, "sentences": learned}
    staging = directory / f".{DESCRIPTION_FILE}.{os.getpid()}.tmp"
    staging.write_text(json.dumps(description))
    staging.replace(directory / DESCRIPTION_FILE)
    logger.info("speech-to-text language model rebuilt: %d sentences, %d watch phrases", learned, len(phrases))
    return LanguageModel(path=str(directory / MODEL_FILE), label=label)


def _description() -> dict | None:
    directory = model_directory()
    try:
        description = json.loads((directory / DESCRIPTION_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(description, dict) or not (directory / MODEL_FILE).is_file():
        return None
    return description


def _fresh(description: dict, *, digest: str, now: datetime) -> bool:
    try:
        built_at = datetime.fromisoformat(description["built_at"])
    except (KeyError, TypeError, ValueError):
        return False
    max_age = timedelta(hours=settings.ASR_LANGUAGE_MODEL_MAX_AGE_HOURS)
    return description.get("phrases_sha256") == digest and built_at <= now < built_at + max_age
