"""My queue (issue 13 §3): the reviewer's landing page, with bulk assign and bulk mark reviewed.

A reviewer sees their open assignments, each with its due date (overdue marked), the rule that chose it (or who
assigned it) and a link to the review page. A supervisor also sees their team's open assignments (calls in their
scope) and can assign calls of their scope to a reviewer of their team by a due date. Compliance sees everyone's,
read-only. The workflows are reviews/assignments.py; every posted conversation id is checked against the user's
scope, and one outside it refuses the whole request with the same audited 404 as the review page.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from genesys.clock import SYSTEM_CLOCK
from reviews import access, assignments, audit
from reviews.models import Conversation, ReviewAssignment
from reviews.pipeline.schedule import now_of

CLOCK = SYSTEM_CLOCK  # tests swap in a FakeClock: "overdue" is judged at CLOCK's now
QUEUE_LIMIT = 200  # open assignments shown per list
# The team list shows the soonest due first and the rest on request: a supervisor's landing page rendering a
# whole team's backlog (hundreds of rows) was the slowest page of the dashboard (bench/dashboard_load.py).
TEAM_SHOWN = 50
ASSIGNABLE_LIMIT = 50  # calls offered for bulk assignment
MAX_BULK = 100  # conversations per bulk request
MAX_DUE_DAYS = 366
# A due date means "by the end of that day" in the viewer's (the server's) time zone.
END_OF_DAY = dt.time(23, 59)


def landing_url_name(user) -> str:
    """Where `home` sends a signed-in user: people who review work from their queue, everyone else searches."""
    return "work-queue" if access.can_review(user) else "search"


class BulkAssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, label="Reviewer", empty_label="Choose a reviewer")
    due_date = forms.DateField(label="Due by", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user, today: dt.date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["assignee"].queryset = assignments.team_reviewers(user)
        self.fields["due_date"].initial = today + dt.timedelta(days=7)

    def clean_due_date(self) -> dt.date:
        due = self.cleaned_data["due_date"]
        if due < self.today:
            raise forms.ValidationError("The due date is in the past.")
        if due > self.today + dt.timedelta(days=MAX_DUE_DAYS):
            raise forms.ValidationError("Choose a due date within a year.")
        return due


# The columns the assignment lists show (bench/dashboard_load.py: fetching whole call rows made the team queue the
# slowest page).
LISTED_ASSIGNMENT_FIELDS = (
    "due_at",
    "status",
    *(f"conversation__{name}" for name in assignments.LISTED_CALL_FIELDS),
    "rule__name",
    "assigned_by__username",
    "assignee__username",
)


def _rows(queryset, *, now: dt.datetime, limit: int = QUEUE_LIMIT) -> list[ReviewAssignment]:
    rows = list(
        queryset.still_to_do()
        .select_related("conversation__queue", "conversation__agent", "rule", "assigned_by", "assignee")
        .only(*LISTED_ASSIGNMENT_FIELDS)
        .order_by("due_at", "pk")[:limit]
    )
    for row in rows:
        row.overdue = row.is_overdue(now=now)
    return rows


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    now = now_of(CLOCK)
    user = request.user
    visible = assignments.visible_assignments(user)
    context = {
        "now": now,
        "mine": _rows(visible.filter(assignee=user), now=now),
        "team": None,
        "can_review": access.can_review(user),
        "can_assign": assignments.can_assign(user),
    }
    if assignments.sees_team_assignments(user):
        team = visible.exclude(assignee=user)
        whole = request.GET.get("team") == "all"
        context["team"] = _rows(team, now=now, limit=QUEUE_LIMIT if whole else TEAM_SHOWN)
        context["team_total"] = team.still_to_do().count()
        context["queue_limit"] = QUEUE_LIMIT
    if context["can_assign"]:
        context["assignable"] = assignments.unassigned_calls(user, limit=ASSIGNABLE_LIMIT)
        context["assign_form"] = BulkAssignForm(user=user, today=timezone.localdate(now))
    return render(request, "reviews/work_queue.html", context)


def _posted_conversations(request: HttpRequest, *, operation: str) -> list[Conversation]:
    """Every posted conversation id, each one checked against the user's scope (an audited 404 for the first one
    outside it, before anything changes)."""
    ids = list(dict.fromkeys(request.POST.getlist("conversation")))
    return [audit.conversation_or_404(request, genesys_id, operation=operation) for genesys_id in ids]


def _refuse(request: HttpRequest, *, operation: str, message: str, reason: str) -> None:
    audit.deny(
        request,
        PermissionDenied(message),
        object_type="work_queue",
        object_id="",
        reason=reason,
        operation=operation,
        via="web",
    )


def _too_many_or_none(request: HttpRequest) -> HttpResponse | None:
    count = len(set(request.POST.getlist("conversation")))
    if count > MAX_BULK:
        return HttpResponseBadRequest(f"Choose at most {MAX_BULK} calls at once.")
    if count == 0:
        messages.error(request, "Choose at least one call first.")
        return redirect("work-queue")
    return None


@login_required
@require_POST
def bulk_assign(request: HttpRequest) -> HttpResponse:
    if not assignments.can_assign(request.user):
        _refuse(request, operation="bulk_assign", message="Supervisors assign calls.", reason="not a supervisor")
    refused = _too_many_or_none(request)
    if refused is not None:
        return refused
    conversations = _posted_conversations(request, operation="bulk_assign")
    now = now_of(CLOCK)
    form = BulkAssignForm(request.POST, user=request.user, today=timezone.localdate(now))
    if not form.is_valid():
        if "assignee" in form.errors and request.POST.get("assignee"):
            # A reviewer outside the supervisor's team is not offered: posting one anyway is refused and audited.
            _refuse(request, operation="bulk_assign", message="That reviewer is not in your team.", reason="not team")
        errors = [error for field_errors in form.errors.values() for error in field_errors]
        messages.error(request, " ".join(errors))
        return redirect("work-queue")
    due_at = timezone.make_aware(dt.datetime.combine(form.cleaned_data["due_date"], END_OF_DAY))
    outcome = assignments.assign_by_hand(
        request=request,
        conversations=conversations,
        assignee=form.cleaned_data["assignee"],
        by=request.user,
        due_at=due_at,
        now=now,
    )
    (messages.success if outcome.done else messages.warning)(
        request, outcome.message(f"assigned to {form.cleaned_data['assignee'].get_username()}")
    )
    return redirect("work-queue")


@login_required
@require_POST
def bulk_reviewed(request: HttpRequest) -> HttpResponse:
    if not access.can_review(request.user):
        _refuse(
            request,
            operation="bulk_reviewed",
            message="You may view these calls but not review them.",
            reason="read-only role",
        )
    refused = _too_many_or_none(request)
    if refused is not None:
        return refused
    conversations = _posted_conversations(request, operation="bulk_reviewed")
    outcome = assignments.mark_reviewed(
        request=request, conversations=conversations, by=request.user, now=now_of(CLOCK)
    )
    (messages.success if outcome.done else messages.warning)(request, outcome.message("marked reviewed"))
    return redirect("work-queue")
