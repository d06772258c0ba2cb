"""The audit log for compliance officers and administrators: filter, open a row, export the filtered set as CSV.

Who sees what (least privilege, like the rest of the vault): compliance officers see every event; staff and
superusers who are not compliance officers see the account and security events only (sign-ins, lockouts,
password, second factor, privileges, tokens, admin changes), never which conversations anyone opened or searched.
Everyone else is refused (audited). Every view of the log, every opened row and every export is itself an audit
event: SEARCH on object "audit_log" (the filters and the rows shown), SEARCH on "audit_event" (the row opened),
EXPORT on "audit_log" (the filters and the row count).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, time

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviews import access, audit, audit_chain
from reviews.models import AuditEvent
from reviews.spreadsheets import neutralise

Action = AuditEvent.Action
PAGE_SIZE = 50
# Actions that name no conversation: what an administrator without the Compliance role may read.
ACCOUNT_ACTIONS = (
    Action.LOGIN,
    Action.LOGIN_FAILED,
    Action.LOCKED_OUT,
    Action.LOGOUT,
    Action.PASSWORD_CHANGE,
    Action.MFA_CHANGE,
    Action.PRIVILEGE_CHANGE,
    Action.TOKEN_ISSUED,
    Action.TOKEN_REVOKED,
    Action.ADMIN_CHANGE,
)
# An event's outcome follows from its action: these record a refusal, every other action something that happened.
REFUSED_ACTIONS = (Action.ACCESS_DENIED, Action.LOGIN_FAILED, Action.LOCKED_OUT)
OUTCOMES = [("", "Any outcome"), ("allowed", "Allowed"), ("refused", "Refused")]
CSV_COLUMNS = (
    "id", "at", "username", "action", "outcome", "object_type", "object_id", "ip", "count", "last_at", "detail",
    "chain_hash",
)  # fmt: skip


def can_read_audit_log(user) -> bool:
    return access.sees_everything(user) or (access.is_signed_in(user) and (user.is_staff or user.is_superuser))


def visible_events(user) -> QuerySet[AuditEvent]:
    """The events `user` may read (module docstring); none for anyone else."""
    if access.sees_everything(user):
        return AuditEvent.objects.all()
    if can_read_audit_log(user):
        return AuditEvent.objects.filter(action__in=ACCOUNT_ACTIONS)
    return AuditEvent.objects.none()


def outcome_of(action: str) -> str:
    return "refused" if action in REFUSED_ACTIONS else "allowed"


def conversation_of(event: AuditEvent) -> str:
    """The conversation an event is about, whichever way its writer recorded it."""
    if event.object_type == "conversation":
        return event.object_id
    return str((event.detail or {}).get("conversation") or "")


class AuditFilterForm(forms.Form):
    user = forms.CharField(required=False, max_length=150, label="User")
    action = forms.ChoiceField(required=False, label="Action")
    conversation = forms.CharField(required=False, max_length=64, label="Conversation")
    outcome = forms.ChoiceField(required=False, choices=OUTCOMES, label="Outcome")
    since = forms.DateField(required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To (UTC)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        actions = Action.choices if access.sees_everything(user) else [(a.value, a.label) for a in ACCOUNT_ACTIONS]
        self.fields["action"].choices = [("", "Any action"), *actions]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("“From” must not be after “To”.")
        return data

    def as_dict(self) -> dict:
        """The filters in use, for the audit row of this view and the export (dates as ISO strings)."""
        return {name: str(value) for name, value in self.cleaned_data.items() if value}

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        data = self.cleaned_data
        if data.get("user"):
            events = events.filter(username=data["user"])
        if data.get("action"):
            events = events.filter(action=data["action"])
        if data.get("conversation"):
            conversation = data["conversation"]
            events = events.filter(
                Q(object_type="conversation", object_id=conversation)
                | Q(detail__conversation=conversation)
                # A search lists the conversations it showed (reviews/audit.py record_search).
                | Q(action=Action.SEARCH, detail__shown__icontains=json.dumps(conversation))
            )
        if data.get("outcome") == "refused":
            events = events.filter(action__in=REFUSED_ACTIONS)
        elif data.get("outcome") == "allowed":
            events = events.exclude(action__in=REFUSED_ACTIONS)
        if data.get("since"):
            events = events.filter(at__gte=datetime.combine(data["since"], time.min, tzinfo=UTC))
        if data.get("until"):  # the whole "To" day is included
            events = events.filter(at__lte=datetime.combine(data["until"], time.max, tzinfo=UTC))
        return events


def _require_reader(request: HttpRequest, operation: str) -> None:
    if not can_read_audit_log(request.user):
        audit.deny(
            request,
            PermissionDenied("The audit log is for compliance officers and administrators."),
            object_type="page",
            object_id="audit_log",
            reason="not a compliance officer or administrator",
            operation=operation,
            via="web",
        )


def _filtered(request: HttpRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    form = AuditFilterForm(request.GET, user=request.user)
    events = visible_events(request.user).order_by("-at", "-pk")
    # Bad input shows its errors and no rows, never a silently wider or narrower set.
    return form, (form.apply(events) if form.is_valid() else events.none())


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_reader(request, "list")
    form, events = _filtered(request)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"event": event, "outcome": outcome_of(event.action), "conversation": conversation_of(event)} for event in page
    ]
    audit.record_event(
        request=request,
        action=Action.SEARCH,
        object_type="audit_log",
        detail={
            "filters": form.as_dict() if form.is_valid() else {"invalid": sorted(form.errors)},
            "total": page.paginator.count,
            "page": page.number,
            "shown": [row["event"].pk for row in rows],
            "via": "web",
        },
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "org_wide": access.sees_everything(request.user),
        "chain": audit_chain.last_check(),
    }
    return render(request, "reviews/audit_log.html", context, status=200 if form.is_valid() else 400)


@login_required
@require_GET
def audit_event(request: HttpRequest, event_pk: int) -> HttpResponse:
    _require_reader(request, "open")
    event = visible_events(request.user).filter(pk=event_pk).first()
    if event is None:
        # The same 404 for a missing row and one outside the viewer's scope.
        audit.deny(
            request,
            Http404("No such audit event"),
            object_type="audit_event",
            object_id=event_pk,
            reason="no such event or outside the viewer's scope",
            operation="open",
            via="web",
        )
    audit.record_event(request=request, action=Action.SEARCH, object_type="audit_event", object_id=str(event.pk))
    conversation = conversation_of(event)
    context = {
        "event": event,
        "outcome": outcome_of(event.action),
        "conversation": conversation,
        "conversation_visible": bool(conversation)
        and access.conversations_for(request.user).filter(genesys_id=conversation).exists(),
        "detail_json": json.dumps(event.detail, indent=2, sort_keys=True, ensure_ascii=False),
    }
    return render(request, "reviews/audit_event.html", context)


@login_required
@require_GET
def audit_log_export(request: HttpRequest) -> HttpResponse:
    _require_reader(request, "export")
    form, events = _filtered(request)
    if not form.is_valid():
        return HttpResponse(
            "Invalid filters: " + "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    audit.record_event(
        request=request,
        action=Action.EXPORT,
        object_type="audit_log",
        detail={"filters": form.as_dict(), "rows": events.count(), "format": "csv", "via": "web"},
    )
    response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(events: QuerySet[AuditEvent]):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        yield writer.writerow([neutralise(value) for value in _csv_row(event)])


def _csv_row(event: AuditEvent) -> list:
    return [
        event.pk,
        event.at.astimezone(UTC).isoformat(),
        event.username,
        event.action,
        outcome_of(event.action),
        event.object_type,
        event.object_id,
        event.ip or "",
        event.count,
        event.last_at.astimezone(UTC).isoformat() if event.last_at else "",
        json.dumps(event.detail, sort_keys=True, ensure_ascii=False),
        event.chain_hash,
    ]
