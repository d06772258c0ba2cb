"""Legal holds for compliance officers (issue 12 §3): place, list and release holds; see retention rules and
recent purge tombstones.

Only the Compliance group opens these pages (staff or superuser status alone is not enough); every refusal is an
ACCESS_DENIED event. Placing and releasing are POSTs (CSRF-protected) that need a reason and are audited by
reviews/retention.py, which holds the one implementation of every rule (validation, coverage, S3 legal hold).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from reviews import access, audit, retention
from reviews.models import Agent, LegalHold, PurgeTombstone, RetentionRule

LIST_LIMIT = 100
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class HoldForm(forms.Form):
    kind = forms.ChoiceField(choices=LegalHold.Kind.choices, label="Hold on")
    conversation_id = forms.CharField(required=False, max_length=64, label="Conversation id")
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.order_by("name", "genesys_id"), to_field_name="genesys_id", required=False
    )
    phone = forms.CharField(required=False, max_length=40, label="Caller's phone number")
    starts_at = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS, label="From (UTC)")
    ends_at = forms.DateTimeField(required=False, input_formats=DATETIME_FORMATS, label="Until (UTC)")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}), label="Reason")
    owner = forms.ModelChoiceField(queryset=None, label="Owner", empty_label=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = access.compliance_officers()
        for name in ("starts_at", "ends_at"):
            self.fields[name].widget.input_type = "datetime-local"


class ReleaseForm(forms.Form):
    reason = forms.CharField(max_length=500, label="Why release it")


def _refuse_unless_compliance(request: HttpRequest, *, operation: str, object_id: str = "") -> None:
    if not access.sees_everything(request.user):
        audit.deny(
            request,
            PermissionDenied("Only compliance officers manage legal holds."),
            object_type="legal_hold",
            object_id=object_id,
            reason="not a compliance officer",
            operation=operation,
        )


def _context(request: HttpRequest, form: HoldForm | None = None) -> dict:
    holds = LegalHold.objects.select_related("owner", "released_by", "agent")
    return {
        "form": form or HoldForm(initial={"owner": request.user.pk}),
        "active_holds": holds.filter(released_at__isnull=True)[:LIST_LIMIT],
        "released_holds": holds.filter(released_at__isnull=False).order_by("-released_at")[:LIST_LIMIT],
        "rules": RetentionRule.objects.select_related("division", "queue").order_by("division__name", "queue__name"),
        "default_rule": retention.default_retention(),
        "tombstones": PurgeTombstone.objects.select_related("conversation")[:LIST_LIMIT],
        "min_reason": retention.MIN_REASON_CHARS,
        "archive_retention_days": settings.COMPLIANCE_S3_RETENTION_DAYS,
    }


@login_required
@require_GET
def holds(request: HttpRequest) -> HttpResponse:
    _refuse_unless_compliance(request, operation="list")
    return render(request, "reviews/holds.html", _context(request))


@login_required
@require_POST
def place(request: HttpRequest) -> HttpResponse:
    _refuse_unless_compliance(request, operation="place")
    form = HoldForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            hold = retention.place_hold(
                kind=data["kind"],
                reason=data["reason"],
                owner=data["owner"],
                created_by=request.user,
                request=request,
                conversation_id=data["conversation_id"],
                agent_id=data["agent"].genesys_id if data["agent"] else "",
                phone=data["phone"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                now=timezone.now(),
            )
        except retention.HoldError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Placed legal hold {hold.pk} on {hold.target_label}.")
            return redirect("holds")
    return render(request, "reviews/holds.html", _context(request, form), status=400)


@login_required
@require_POST
def release(request: HttpRequest, hold_pk: int) -> HttpResponse:
    _refuse_unless_compliance(request, operation="release", object_id=str(hold_pk))
    hold = LegalHold.objects.filter(pk=hold_pk).first()
    if hold is None:
        messages.error(request, f"There is no legal hold {hold_pk}.")
        return redirect("holds")
    form = ReleaseForm(request.POST)
    try:
        if not form.is_valid():
            raise retention.HoldError(f"give a reason of at least {retention.MIN_REASON_CHARS} characters")
        retention.release_hold(
            hold=hold, reason=form.cleaned_data["reason"], by=request.user, request=request, now=timezone.now()
        )
    except retention.HoldError as error:
        messages.error(request, f"Hold {hold.pk} not released: {error}.")
    else:
        messages.success(request, f"Released legal hold {hold.pk} on {hold.target_label}.")
    return redirect("holds")
