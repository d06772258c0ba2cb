"""The escalation inbox: reviews a supervisor escalated, handled by compliance officers (issue 12 §2).

A supervisor escalates on the review page (review.py calls `record_escalation`); compliance comments, assigns the
case to one of its officers and resolves it with an outcome; the supervisor sees the outcome on the review page.
The transitions live on reviews.models.Escalation. Every step is an ESCALATION audit event whose detail says
which step, never the text of a reason or comment (free text may hold what the leak detector masks elsewhere).
Only compliance officers open these pages (access.can_handle_escalations); a missing escalation and one outside the
viewer's scope answer the same audited 404.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviews import access, audit
from reviews.models import AuditEvent, Conversation, Escalation, EscalationError

MAX_TEXT = 5000
INBOX_LIMIT = 200
STATUS_FILTERS = ("open", "resolved", "all")
NOT_FOUND_MESSAGE = "escalation not found"


class CommentForm(forms.Form):
    body = forms.CharField(max_length=MAX_TEXT, label="Comment", widget=forms.Textarea(attrs={"rows": 3}))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, required=False, label="Assign to", empty_label="Nobody")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = access.compliance_officers()


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(choices=Escalation.Outcome.choices, label="Outcome")
    note = forms.CharField(
        required=False, max_length=MAX_TEXT, label="Resolution note", widget=forms.Textarea(attrs={"rows": 3})
    )


def record_escalation(*, request: HttpRequest, conversation: Conversation, note: str) -> Escalation:
    """The review was just moved to Escalated: open (or join) the conversation's case and audit the step."""
    escalation, created = Escalation.open_for(conversation=conversation, by=request.user, reason=note)
    _audit(request, escalation, "escalate", joined=not created, reason_given=bool(note))
    return escalation


def _audit(request: HttpRequest, escalation: Escalation, step: str, **detail) -> None:
    audit.record_event(
        request=request,
        action=AuditEvent.Action.ESCALATION,
        object_type="escalation",
        object_id=str(escalation.pk),
        detail={"step": step, "conversation": escalation.conversation.genesys_id, **detail},
    )


def _refuse_unless_handler(request: HttpRequest, *, object_id: str, operation: str) -> None:
    if not access.can_handle_escalations(request.user):
        audit.deny(
            request,
            PermissionDenied("Escalations are handled by compliance officers."),
            object_type="escalation",
            object_id=object_id,
            reason="not a compliance officer",
            operation=operation,
        )


def _escalation_or_404(request: HttpRequest, escalation_id: int, *, operation: str) -> Escalation:
    """The escalation if the viewer handles escalations and may see its conversation; else an audited 404/403."""
    _refuse_unless_handler(request, object_id=str(escalation_id), operation=operation)
    visible = Escalation.objects.filter(conversation__in=access.conversations_for(request.user))
    escalation = visible.select_related("conversation", "escalated_by", "assignee", "resolved_by").filter(
        pk=escalation_id
    )
    escalation = escalation.first()
    if escalation is None:
        exists = Escalation.objects.filter(pk=escalation_id).exists()
        audit.deny(
            request,
            Http404(NOT_FOUND_MESSAGE),
            object_type="escalation",
            object_id=str(escalation_id),
            reason="outside the user's scope" if exists else "no such escalation",
            operation=operation,
        )
    return escalation


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    _refuse_unless_handler(request, object_id="", operation="inbox")
    status = request.GET.get("status", "open")
    if status not in STATUS_FILTERS:
        status = "open"
    mine = request.GET.get("mine") == "1"
    rows = Escalation.objects.filter(conversation__in=access.conversations_for(request.user))
    if status != "all":
        rows = rows.filter(status=status)
    if mine:
        rows = rows.filter(assignee=request.user)
    rows = list(rows.select_related("conversation__queue", "escalated_by", "assignee")[:INBOX_LIMIT])
    audit.record_event(
        request=request,
        action=AuditEvent.Action.ESCALATION,
        object_type="escalation",
        detail={"step": "inbox", "status": status, "mine": mine, "shown": [row.pk for row in rows]},
    )
    context = {"escalations": rows, "status": status, "mine": mine, "status_filters": STATUS_FILTERS}
    return render(request, "reviews/escalations.html", context)


def _detail_context(escalation: Escalation, **forms_) -> dict:
    return {
        "escalation": escalation,
        "events": escalation.events.select_related("actor", "assignee"),
        "comment_form": forms_.get("comment_form") or CommentForm(),
        "assign_form": forms_.get("assign_form") or AssignForm(initial={"assignee": escalation.assignee_id}),
        "resolve_form": forms_.get("resolve_form") or ResolveForm(),
    }


@login_required
@require_GET
def detail(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _escalation_or_404(request, escalation_id, operation="view")
    _audit(request, escalation, "view")
    return render(request, "reviews/escalation.html", _detail_context(escalation))


def _invalid(request: HttpRequest, escalation: Escalation, **bound) -> HttpResponse:
    """Bad input: the detail page again with the form's errors, status 400, nothing written."""
    return render(request, "reviews/escalation.html", _detail_context(escalation, **bound), status=400)


def _refused(request: HttpRequest, escalation: Escalation, error: EscalationError, *, step: str) -> HttpResponse:
    """A step the workflow refused (already resolved, ...): audited as refused, nothing else written."""
    _audit(request, escalation, step, refused=str(error))
    messages.error(request, str(error))
    return redirect("escalation", escalation_id=escalation.pk)


@login_required
@require_POST
def comment(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _escalation_or_404(request, escalation_id, operation="comment")
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _invalid(request, escalation, comment_form=form)
    try:
        escalation.comment(by=request.user, body=form.cleaned_data["body"])
    except EscalationError as error:
        return _refused(request, escalation, error, step="comment")
    _audit(request, escalation, "comment", length=len(form.cleaned_data["body"]))
    messages.success(request, "Comment added.")
    return redirect("escalation", escalation_id=escalation.pk)


@login_required
@require_POST
def assign(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _escalation_or_404(request, escalation_id, operation="assign")
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _invalid(request, escalation, assign_form=form)
    assignee = form.cleaned_data["assignee"]
    previous = escalation.assignee.get_username() if escalation.assignee else ""
    try:
        escalation.assign(by=request.user, to=assignee)
    except EscalationError as error:
        return _refused(request, escalation, error, step="assign")
    _audit(request, escalation, "assign", previous=previous, assignee=assignee.get_username() if assignee else "")
    messages.success(request, f"Assigned to {assignee.get_username()}." if assignee else "Unassigned.")
    return redirect("escalation", escalation_id=escalation.pk)


@login_required
@require_POST
def resolve(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = _escalation_or_404(request, escalation_id, operation="resolve")
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return _invalid(request, escalation, resolve_form=form)
    outcome = form.cleaned_data["outcome"]
    try:
        escalation.resolve(by=request.user, outcome=outcome, note=form.cleaned_data["note"])
    except EscalationError as error:
        return _refused(request, escalation, error, step="resolve")
    _audit(request, escalation, "resolve", outcome=outcome, note=bool(form.cleaned_data["note"].strip()))
    messages.success(request, f"Resolved: {escalation.get_outcome_display()}.")
    return redirect("escalation", escalation_id=escalation.pk)
