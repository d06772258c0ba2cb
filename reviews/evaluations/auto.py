"""Automatic answers: the questions the transcript decides, scored for every stored call.

A question with an `auto_rule` is answered from the stored utterances (the masked text: the vault never scores
what it masked away), and every answer keeps the moment that decided it (utterance and start_ms):

- phrase said / not said: any of the phrase variants, as whole words, case and punctuation ignored, by one side
  (internal / external) or anyone, optionally only in the first N seconds. A mask token is never matched into:
  "[card number]" does not say "card number" (reviews/redaction/masks.py is the one list of tokens).
- silence share: the part of the call nobody speaks (call duration minus the union of the utterances' spans)
  at most the threshold; the moment is where the longest silence starts.
- topic present: a Genesys topic (Utterance.topics) named on the question, on any utterance of that side.

`score_conversation_automatically(conversation)` writes one automatic Evaluation per current form version (it is
idempotent: a second run updates the same rows). Ingest calls it (`score_after_store`) once each transcript part
is committed, so a call is scored as soon as it is stored; `auto_evaluate_task` (scheduled in reviews/schedules.py,
every 5 minutes) and `manage.py auto_evaluate` catch up whatever that missed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from reviews.models import (
    Conversation,
    Evaluation,
    EvaluationAnswer,
    EvaluationForm,
    EvaluationFormVersion,
    EvaluationQuestion,
    Utterance,
)
from reviews.redaction.masks import MASK_PATTERN

logger = logging.getLogger(__name__)

Rule = EvaluationQuestion.AutoRule
# One scheduled run scores at most this many calls; the next run takes the rest.
BATCH_SIZE = 500
_MASK_GAP = "\x00"  # what a mask token becomes before matching: no phrase can contain or cross it
_NOT_WORD = re.compile(r"[^\w'\x00]+")


@dataclass(frozen=True)
class AutoAnswer:
    value: str  # EvaluationAnswer.YES / NO
    utterance_id: int | None
    moment_ms: int | None
    evidence: str


def normalise(text: str) -> str:
    """Lower case, mask tokens replaced by a gap nothing matches across, punctuation folded into single spaces."""
    unmasked = MASK_PATTERN.sub(f" {_MASK_GAP} ", text or "")
    return " ".join(_NOT_WORD.sub(" ", unmasked.lower()).split())


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str] | None:
    variants = [normalise(phrase).replace(_MASK_GAP, "").split() for phrase in phrases]
    alternatives = [r"\s+".join(map(re.escape, words)) for words in variants if words]
    if not alternatives:
        return None
    return re.compile(rf"(?<![\w'])(?:{'|'.join(alternatives)})(?![\w'])")


def _normalised(utterance: Utterance) -> str:
    """normalise(utterance.text), computed once per utterance however many phrase questions read it."""
    cached = getattr(utterance, "_evaluation_text", None)
    if cached is None:
        cached = utterance._evaluation_text = normalise(utterance.text)
    return cached


def clock(ms: int) -> str:
    seconds = max(int(ms), 0) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def _by_speaker(question: EvaluationQuestion, utterances: list[Utterance]) -> list[Utterance]:
    if not question.auto_speaker:
        return utterances
    return [u for u in utterances if u.speaker == question.auto_speaker]


def _who(question: EvaluationQuestion) -> str:
    return f" by {question.auto_speaker}" if question.auto_speaker else ""


def answer_phrase(question: EvaluationQuestion, utterances: list[Utterance]) -> AutoAnswer:
    """PHRASE_SAID: yes at the first utterance saying a variant. PHRASE_NOT_SAID: no at the first one saying it."""
    pattern = _phrase_pattern(question.terms)
    candidates = _by_speaker(question, utterances)
    if question.auto_within_seconds is not None:
        limit_ms = question.auto_within_seconds * 1000
        candidates = [u for u in candidates if u.start_ms < limit_ms]
    found = None
    if pattern is not None:
        found = next((u for u in candidates if pattern.search(_normalised(u))), None)
    said = question.auto_rule == Rule.PHRASE_SAID
    window = f" in the first {question.auto_within_seconds} s" if question.auto_within_seconds is not None else ""
    if found is None:
        value = EvaluationAnswer.NO if said else EvaluationAnswer.YES
        return AutoAnswer(value, None, None, f"Not said{_who(question)}{window}.")
    value = EvaluationAnswer.YES if said else EvaluationAnswer.NO
    match = pattern.search(_normalised(found))
    return AutoAnswer(
        value, found.pk, found.start_ms, f"“{match.group(0)}” said at {clock(found.start_ms)}{_who(question)}."
    )


def answer_silence(question: EvaluationQuestion, utterances: list[Utterance], *, duration_ms: int | None) -> AutoAnswer:
    """Yes when the silent share of the call is at most the threshold; the moment is the longest silence's start."""
    spans = sorted((max(u.start_ms, 0), max(u.end_ms, u.start_ms), u) for u in utterances)
    end_of_call = max(duration_ms or 0, max((end for _, end, _ in spans), default=0))
    if end_of_call <= 0:
        return AutoAnswer(EvaluationAnswer.YES, None, None, "No call time to measure.")
    silent_ms = 0
    longest = (0, 0, None)  # (length, starts at, utterance that ends it)
    spoken_until = 0
    for start, end, utterance in spans:
        if start > spoken_until:
            gap = start - spoken_until
            silent_ms += gap
            if gap > longest[0]:
                longest = (gap, spoken_until, utterance)
        spoken_until = max(spoken_until, end)
    if end_of_call > spoken_until:
        gap = end_of_call - spoken_until
        silent_ms += gap
        if gap > longest[0]:
            longest = (gap, spoken_until, None)
    share = silent_ms / end_of_call
    threshold = question.auto_threshold if question.auto_threshold is not None else 1.0
    value = EvaluationAnswer.YES if share <= threshold else EvaluationAnswer.NO
    length, starts_at, resuming = longest
    evidence = f"Silence {share:.0%} of the call (at most {threshold:.0%} passes)"
    if length:
        evidence += f"; longest {length // 1000} s from {clock(starts_at)}"
    return AutoAnswer(value, resuming.pk if resuming else None, starts_at if length else None, evidence + ".")


def answer_topic(question: EvaluationQuestion, utterances: list[Utterance]) -> AutoAnswer:
    wanted = {term.casefold() for term in question.terms}
    for utterance in _by_speaker(question, utterances):
        topics = [str(topic) for topic in (utterance.topics or [])]
        hit = next((topic for topic in topics if topic.casefold() in wanted), None)
        if hit is not None:
            return AutoAnswer(
                EvaluationAnswer.YES, utterance.pk, utterance.start_ms, f"Topic “{hit}” at {clock(utterance.start_ms)}."
            )
    return AutoAnswer(EvaluationAnswer.NO, None, None, f"None of the topics{_who(question)}.")


def answer_question(
    question: EvaluationQuestion, utterances: list[Utterance], *, duration_ms: int | None
) -> AutoAnswer | None:
    """The automatic answer of one question, or None when it carries no rule."""
    if question.auto_rule in (Rule.PHRASE_SAID, Rule.PHRASE_NOT_SAID):
        return answer_phrase(question, utterances)
    if question.auto_rule == Rule.SILENCE_SHARE:
        return answer_silence(question, utterances, duration_ms=duration_ms)
    if question.auto_rule == Rule.TOPIC_PRESENT:
        return answer_topic(question, utterances)
    return None


def current_versions_for_people() -> list[EvaluationFormVersion]:
    """The latest published version of every active form: what an evaluator can start a new evaluation with."""
    versions = []
    for form in EvaluationForm.objects.filter(active=True):
        version = form.current_version()
        if version is not None:
            versions.append(version)
    return versions


def current_versions() -> list[EvaluationFormVersion]:
    """The current versions that have at least one automatic question: what every stored call is scored with."""
    return [version for version in current_versions_for_people() if version.questions.exclude(auto_rule="").exists()]


def score_conversation_automatically(conversation: Conversation, *, versions=None, now=None) -> list[Evaluation]:
    """Answer every automatic question of every current form for `conversation`; returns the evaluations written.

    A call without stored utterances is left alone (nothing to decide from). Running it again (a new transcript
    part arrived) updates the same automatic evaluation in place.
    """
    now = now or timezone.now()
    utterances = list(
        Utterance.objects.filter(conversation=conversation)
        .only("pk", "speaker", "start_ms", "end_ms", "text", "topics")
        .order_by("start_ms", "transcript_id", "index")
    )
    if not utterances:
        return []
    written = []
    for version in current_versions() if versions is None else versions:
        questions = list(version.questions.exclude(auto_rule=""))
        with transaction.atomic():
            evaluation, _ = Evaluation.objects.get_or_create(
                conversation=conversation,
                form_version=version,
                kind=Evaluation.Kind.AUTOMATIC,
                defaults={"status": Evaluation.Status.SUBMITTED, "created_at": now, "submitted_at": now},
            )
            for question in questions:
                auto = answer_question(question, utterances, duration_ms=conversation.duration_ms)
                EvaluationAnswer.objects.update_or_create(
                    evaluation=evaluation,
                    question=question,
                    defaults={
                        "value": auto.value,
                        "auto_value": auto.value,
                        "source": EvaluationAnswer.Source.AUTOMATIC,
                        "utterance_id": auto.utterance_id,
                        "moment_ms": auto.moment_ms,
                        "evidence": auto.evidence,
                    },
                )
            evaluation.recompute()
        written.append(evaluation)
    return written


def unscored_conversations(version: EvaluationFormVersion):
    """Calls with stored utterances and no automatic evaluation with `version` yet."""
    has_utterances = Exists(Utterance.objects.filter(conversation=OuterRef("pk")))
    scored = Exists(
        Evaluation.objects.filter(conversation=OuterRef("pk"), form_version=version, kind=Evaluation.Kind.AUTOMATIC)
    )
    return Conversation.objects.filter(has_utterances).filter(~Q(scored)).order_by("pk")


def score_pending(*, everything: bool = False, limit: int | None = BATCH_SIZE, now=None) -> int:
    """Score calls not yet scored with a current version (all calls with `everything`); returns how many."""
    versions = current_versions()
    if not versions:
        return 0
    if everything:
        has_utterances = Exists(Utterance.objects.filter(conversation=OuterRef("pk")))
        conversation_ids = list(Conversation.objects.filter(has_utterances).order_by("pk").values_list("pk", flat=True))
    else:
        pending = (unscored_conversations(version).values_list("pk", flat=True) for version in versions)
        conversation_ids = sorted({pk for rows in pending for pk in (rows if limit is None else rows[:limit])})
    if limit is not None:
        conversation_ids = conversation_ids[:limit]
    for conversation in Conversation.objects.filter(pk__in=conversation_ids).order_by("pk"):
        score_conversation_automatically(conversation, versions=versions, now=now)
    return len(conversation_ids)


def auto_evaluate_task() -> str:
    """The scheduled catch-up (reviews/schedules.py): calls stored without an automatic evaluation yet."""
    scored = score_pending()
    logger.info("automatic evaluations written", extra={"conversations": scored})
    return f"scored {scored} conversation(s)"


def score_after_store(conversation_pk: int) -> None:
    """Ingest's hook, run after a transcript part is committed: score the call now. The transcript is already safe,
    so a failure here must not fail the ingest step; it is logged (ids only) and counted, and the scheduled catch-up
    scores a call that has no automatic evaluation yet."""
    try:
        conversation = Conversation.objects.filter(pk=conversation_pk).first()
        if conversation is not None:
            score_conversation_automatically(conversation)
    except Exception:
        logger.exception("automatic evaluation after store failed", extra={"conversation_pk": conversation_pk})


def auto_evaluate_conversation_task(genesys_id: str) -> str:
    """django-q2 task for the ingest path: score one call after its transcript is stored (see the module doc).

    A call that is gone meanwhile is skipped; the scheduled catch-up scores anything this misses.
    """
    conversation = Conversation.objects.filter(genesys_id=genesys_id).first()
    if conversation is None:
        return "conversation gone"
    written = score_conversation_automatically(conversation)
    return f"{len(written)} automatic evaluation(s)"
