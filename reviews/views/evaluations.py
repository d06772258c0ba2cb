"""Evaluation (scorecard) pages: the panel an evaluator fills next to the transcript, and its steps.

Every view opens the conversation through audit.conversation_or_404 (object scope, refusals audited) and every
view of the panel is audited as an access to the conversation (VIEW_TRANSCRIPT, detail {"evaluations": [...]}).
Writing (start, save, submit, dispute, re-score) needs can_review: compliance reads only. The steps themselves
are reviews/evaluations/workflow.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from reviews import access, audit
from reviews.evaluations import auto, workflow
from reviews.evaluations.coverage import coverage
from reviews.models import AuditEvent, Conversation, Evaluation, EvaluationError, EvaluationFormVersion

PANEL_TEMPLATE = "reviews/_evaluation_panel.html"


def _is_partial_request(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def panel_context(request: HttpRequest, conversation: Conversation) -> dict:
    """What templates/reviews/_evaluation_panel.html needs, as {"evaluation_panel": ...} (does not audit)."""
    evaluations = list(
        Evaluation.objects.filter(conversation=conversation)
        .select_related("form_version__form", "evaluator")
        .prefetch_related("answers__question__section", "answers__utterance", "disputes")
    )
    versions = {version.pk: version for version in auto.current_versions_for_people()}
    for evaluation in evaluations:
        versions.setdefault(evaluation.form_version_id, evaluation.form_version)
    for evaluation in evaluations:
        evaluation.answer_sections = _answer_sections(evaluation)
    can_write = access.can_review(request.user)
    forms = []
    for version in sorted(versions.values(), key=lambda v: (v.form.name, -v.number)):
        of_version = [e for e in evaluations if e.form_version_id == version.pk]
        automatic = next((e for e in of_version if e.kind == Evaluation.Kind.AUTOMATIC), None)
        humans = [e for e in of_version if e.kind == Evaluation.Kind.HUMAN]
        mine = next((e for e in humans if e.evaluator_id == request.user.pk), None)
        editing = [
            e for e in humans if can_write and e.is_editable and (e == mine or e.status == Evaluation.Status.DISPUTED)
        ]
        forms.append(
            {
                "version": version,
                "automatic": automatic,
                "mine": mine,
                "editing": editing,
                "others": [e for e in humans if e not in editing],
                "calibration": workflow.calibration(conversation, version),
                "can_start": can_write and mine is None and version.is_published,
            }
        )
    return {
        "evaluation_panel": {
            "conversation": conversation,
            "forms": forms,
            "can_write": can_write,
            "evaluation_ids": [e.pk for e in evaluations],
        }
    }


def _answer_sections(evaluation: Evaluation) -> list[dict]:
    """The evaluation's answers grouped by section, in the form's order."""
    groups: dict[int, dict] = {}
    answers = sorted(
        evaluation.answers.all(),
        key=lambda a: (a.question.section.position, a.question.section_id, a.question.position, a.question_id),
    )
    for answer in answers:
        section = answer.question.section
        groups.setdefault(section.pk, {"title": section.title, "answers": []})["answers"].append(answer)
    return list(groups.values())


def record_panel_view(request: HttpRequest, conversation: Conversation, panel: dict) -> None:
    audit.record_event(
        request=request,
        action=AuditEvent.Action.VIEW_TRANSCRIPT,
        object_type="conversation",
        object_id=conversation.genesys_id,
        detail={"evaluations": panel["evaluation_panel"]["evaluation_ids"], "via": "evaluation panel"},
    )


@login_required
@require_GET
def evaluate(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """The standalone page (until the review page includes the panel): the panel and the coverage tables."""
    conversation = audit.conversation_or_404(request, conversation_id, operation="view_evaluations")
    context = panel_context(request, conversation)
    record_panel_view(request, conversation, context)
    if _is_partial_request(request):
        response = render(request, PANEL_TEMPLATE, context)
    else:
        visible = access.conversations_for(request.user)
        context |= {
            "conversation": conversation,
            "agent_coverage": coverage(visible.filter(agent_id=conversation.agent_id), by="agent"),
            "queue_coverage": coverage(visible.filter(queue_id=conversation.queue_id), by="queue"),
        }
        response = render(request, "reviews/evaluate.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _writable_conversation(request: HttpRequest, conversation_id: str, *, operation: str) -> Conversation:
    conversation = audit.conversation_or_404(request, conversation_id, operation=operation)
    if not access.can_review(request.user):
        audit.deny(
            request,
            PermissionDenied("You may view this conversation but not evaluate it."),
            object_type="conversation",
            object_id=conversation.genesys_id,
            reason="read-only role",
            operation=operation,
            via="web",
        )
    return conversation


def _evaluation_of(conversation: Conversation, evaluation_pk: int) -> Evaluation:
    evaluation = (
        conversation.evaluations.select_related("form_version", "conversation").filter(pk=evaluation_pk).first()
    )
    if evaluation is None or evaluation.kind != Evaluation.Kind.HUMAN:
        raise Http404("No such evaluation of this conversation.")
    return evaluation


def _after_step(request: HttpRequest, conversation: Conversation, *, error: str = "", done: str = "") -> HttpResponse:
    if _is_partial_request(request):
        context = panel_context(request, conversation)
        context["evaluation_panel"] |= {"error": error, "done": done}
        record_panel_view(request, conversation, context)
        return render(request, PANEL_TEMPLATE, context)
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    return redirect("evaluate", conversation_id=conversation.genesys_id)


@login_required
@require_POST
def start(request: HttpRequest, conversation_id: str) -> HttpResponse:
    conversation = _writable_conversation(request, conversation_id, operation="evaluate")
    version = EvaluationFormVersion.objects.filter(pk=_int(request.POST.get("form_version"))).first()
    if version is None:
        raise Http404("No such form version.")
    try:
        workflow.start_evaluation(request=request, conversation=conversation, version=version)
    except EvaluationError as error:
        return _after_step(request, conversation, error=str(error))
    return _after_step(request, conversation, done="Evaluation started from the automatic answers.")


@login_required
@require_POST
def save(request: HttpRequest, conversation_id: str, evaluation_pk: int) -> HttpResponse:
    conversation = _writable_conversation(request, conversation_id, operation="evaluate")
    evaluation = _evaluation_of(conversation, evaluation_pk)
    values, comments = {}, {}
    for question in evaluation.form_version.questions.all():
        if f"q-{question.pk}" in request.POST:
            values[question.pk] = request.POST[f"q-{question.pk}"]
        if f"c-{question.pk}" in request.POST:
            comments[question.pk] = request.POST[f"c-{question.pk}"]
    submit = request.POST.get("action") == "submit"
    try:
        workflow.save_answers(
            request=request,
            evaluation=evaluation,
            values=values,
            comments=comments,
            submit=submit,
            note=request.POST.get("note", ""),
        )
    except EvaluationError as error:
        return _after_step(request, conversation, error=str(error))
    return _after_step(request, conversation, done="Evaluation submitted." if submit else "Draft saved.")


@login_required
@require_POST
def dispute(request: HttpRequest, conversation_id: str, evaluation_pk: int) -> HttpResponse:
    conversation = _writable_conversation(request, conversation_id, operation="dispute_evaluation")
    evaluation = _evaluation_of(conversation, evaluation_pk)
    try:
        workflow.dispute(request=request, evaluation=evaluation, reason=request.POST.get("reason", ""))
    except EvaluationError as error:
        return _after_step(request, conversation, error=str(error))
    return _after_step(request, conversation, done="Evaluation disputed; it can now be re-scored.")


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None
