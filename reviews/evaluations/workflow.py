"""The human evaluation workflow: start from the automatic answers, override, submit, dispute, re-score.

Every step is one keyword-only function that checks it applies (EvaluationError otherwise, nothing saved) and
writes an audit event (AuditEvent.Action.REVIEW, object the conversation, detail {"evaluation": pk, "step": ...}).
Views check who may act (reviews/access.py can_review, object scope); these functions check the evaluation's
state and ownership.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import pstdev

from django.db import transaction
from django.utils import timezone

from reviews import audit
from reviews.models import (
    AuditEvent,
    Conversation,
    Evaluation,
    EvaluationAnswer,
    EvaluationDispute,
    EvaluationError,
    EvaluationFormVersion,
)

Status = Evaluation.Status
MAX_COMMENT_CHARS = 2000


def _record(request, evaluation: Evaluation, step: str, **detail) -> None:
    audit.record_event(
        request=request,
        action=AuditEvent.Action.REVIEW,
        object_type="conversation",
        object_id=evaluation.conversation.genesys_id,
        detail={"evaluation": evaluation.pk, "step": step, "form_version": evaluation.form_version_id, **detail},
    )


def automatic_evaluation(conversation: Conversation, version: EvaluationFormVersion) -> Evaluation | None:
    return Evaluation.objects.filter(
        conversation=conversation, form_version=version, kind=Evaluation.Kind.AUTOMATIC
    ).first()


def start_evaluation(*, request, conversation: Conversation, version: EvaluationFormVersion, now=None) -> Evaluation:
    """The evaluator's draft for this call and form version, created from the automatic answers if new."""
    if not version.is_published:
        raise EvaluationError("Only a published form version can be used to evaluate.")
    now = now or timezone.now()
    with transaction.atomic():
        evaluation, created = Evaluation.objects.get_or_create(
            conversation=conversation,
            form_version=version,
            kind=Evaluation.Kind.HUMAN,
            evaluator=request.user,
            defaults={"status": Status.DRAFT, "created_at": now, "updated_at": now},
        )
        if not created:
            return evaluation
        automatic = automatic_evaluation(conversation, version)
        if automatic is None and version.questions.exclude(auto_rule="").exists():
            # Not scored yet (stored moments ago, or before this version): the evaluator still starts from it.
            from reviews.evaluations.auto import score_conversation_automatically

            automatic = next(iter(score_conversation_automatically(conversation, versions=[version])), None)
        auto_answers = {a.question_id: a for a in automatic.answers.all()} if automatic else {}
        for question in version.questions.all():
            auto = auto_answers.get(question.pk)
            EvaluationAnswer.objects.create(
                evaluation=evaluation,
                question=question,
                value=auto.value if auto else "",
                auto_value=auto.value if auto else "",
                source=EvaluationAnswer.Source.AUTOMATIC if auto else EvaluationAnswer.Source.HUMAN,
                utterance_id=auto.utterance_id if auto else None,
                moment_ms=auto.moment_ms if auto else None,
                evidence=auto.evidence if auto else "",
            )
        evaluation.recompute()
        _record(request, evaluation, "start", from_automatic=automatic.pk if automatic else None)
    return evaluation


def save_answers(
    *, request, evaluation: Evaluation, values: dict[int, str], comments: dict[int, str], submit: bool, note: str = ""
) -> Evaluation:
    """Store the evaluator's answers (an answer unlike the automatic one is an audited override); with `submit`,
    every question must be answered and the evaluation is submitted, or, when disputed, re-scored."""
    if not evaluation.is_editable:
        raise EvaluationError("This evaluation is submitted; dispute it to have it re-scored.")
    rescoring = evaluation.status == Status.DISPUTED
    if not rescoring and evaluation.evaluator_id != request.user.pk:
        raise EvaluationError("Only its evaluator can change a draft evaluation.")
    note = (note or "").strip()
    if rescoring and submit and not note:
        raise EvaluationError("Say what the re-score changed: the note closes the dispute.")
    now = timezone.now()
    with transaction.atomic():
        answers = list(evaluation.answers.select_related("question").select_for_update())
        overrides = []
        for answer in answers:
            question = answer.question
            value = values.get(question.pk, answer.value)
            if value not in ("", *question.values()):
                raise EvaluationError(f"“{value}” is not an answer to “{question.text}”.")
            comment = (comments.get(question.pk, answer.comment) or "").strip()[:MAX_COMMENT_CHARS]
            was_override = answer.is_override
            changed = value != answer.value
            answer.value, answer.comment = value, comment
            if changed:
                answer.source = EvaluationAnswer.Source.HUMAN
            if answer.is_override and (changed or not was_override):
                overrides.append({"question": question.pk, "automatic": answer.auto_value, "to": value})
            answer.save(update_fields=["value", "comment", "source"])
        if submit and any(answer.value == "" for answer in answers):
            raise EvaluationError("Answer every question (or N/A where allowed) before submitting.")
        score_before = evaluation.score
        evaluation.recompute()
        for override in overrides:
            _record(request, evaluation, "override", **override)
        if submit:
            evaluation.status, evaluation.submitted_at = Status.SUBMITTED, now
            evaluation.save(update_fields=["status", "submitted_at"])
            if rescoring:
                dispute = evaluation.disputes.filter(resolved_at__isnull=True).first()
                before = dispute.score_before if dispute else score_before
                if dispute is not None:
                    dispute.resolved_by, dispute.resolved_at = request.user, now
                    dispute.resolution, dispute.score_after = note, evaluation.score
                    dispute.save(update_fields=["resolved_by", "resolved_at", "resolution", "score_after"])
                _record(request, evaluation, "rescore", score_before=before, score_after=evaluation.score)
            else:
                _record(request, evaluation, "submit", score=evaluation.score, passed=evaluation.passed)
        else:
            _record(request, evaluation, "save_draft", score=evaluation.score)
    return evaluation


def dispute(*, request, evaluation: Evaluation, reason: str, now=None) -> EvaluationDispute:
    """Submitted -> disputed, with the reason; the score before is kept for the re-score."""
    reason = (reason or "").strip()
    if not reason:
        raise EvaluationError("Say why the evaluation is disputed.")
    if evaluation.kind != Evaluation.Kind.HUMAN or evaluation.status != Status.SUBMITTED:
        raise EvaluationError("Only a submitted evaluation can be disputed.")
    now = now or timezone.now()
    with transaction.atomic():
        if not Evaluation.objects.filter(pk=evaluation.pk, status=Status.SUBMITTED).update(
            status=Status.DISPUTED, updated_at=now
        ):
            raise EvaluationError("This evaluation changed meanwhile.")
        evaluation.status = Status.DISPUTED
        raised = EvaluationDispute.objects.create(
            evaluation=evaluation, raised_by=request.user, raised_at=now, reason=reason, score_before=evaluation.score
        )
        _record(request, evaluation, "dispute", dispute=raised.pk, score_before=evaluation.score)
    return raised


@dataclass(frozen=True)
class Calibration:
    """How far apart several evaluators scored the same call with the same form version."""

    evaluations: list[Evaluation]
    scores: list[float]
    spread: float | None  # highest minus lowest score; None below two scored evaluations
    deviation: float | None  # population standard deviation of the scores
    disagreements: list[dict]  # [{"question": q, "answers": {evaluator name: value}}] where answers differ


def calibration(conversation: Conversation, version: EvaluationFormVersion) -> Calibration:
    evaluations = list(
        Evaluation.objects.filter(
            conversation=conversation,
            form_version=version,
            kind=Evaluation.Kind.HUMAN,
            status__in=(Status.SUBMITTED, Status.DISPUTED),
        )
        .select_related("evaluator")
        .prefetch_related("answers__question")
        .order_by("submitted_at", "pk")
    )
    scores = [e.score for e in evaluations if e.score is not None]
    spread = round(max(scores) - min(scores), 1) if len(scores) >= 2 else None
    deviation = round(pstdev(scores), 1) if len(scores) >= 2 else None
    by_question: dict[int, dict] = {}
    for evaluation in evaluations:
        name = evaluation.evaluator.get_username() if evaluation.evaluator else "(deleted user)"
        for answer in evaluation.answers.all():
            row = by_question.setdefault(answer.question_id, {"question": answer.question, "answers": {}})
            row["answers"][name] = answer.value
    disagreements = [row for row in by_question.values() if len(set(row["answers"].values())) > 1]
    return Calibration(evaluations, scores, spread, deviation, disagreements)
