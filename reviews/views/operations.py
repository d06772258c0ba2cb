"""Pipeline operations: states, conversations needing attention with Retry, outbox with Replay, rate limit,
watermarks, and what the vault knows about Genesys (search health, findings, recording batch jobs).

Staff, supervisors and compliance officers open the page; each sees the state of the conversations in their
own scope only (counts, lists, outbox, batch jobs), plus the org-wide facts that name no conversation (rate
limit, search health, findings). Retry and Replay change things, so they need a role that may act
(access.can_review): compliance officers are read-only. Every refusal is an ACCESS_DENIED event.

Failures (failed, or stuck: due long ago and taken up by no worker) are listed apart from outcomes: a call kept
as audio only, restricted (403), recording archived or with no audio is an answer, shown with its reason. Retry
starts a conversation over and queues its advance task (reviews.pipeline.requeue.retry_now); it says "Retry
queued" only when both happened. The live region refreshes every 5 s and keeps keyboard focus: every control in
it has a stable id (htmx refocuses by id), and static/js/poll.js moves focus to the section when it left.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from reviews import access, audit
from reviews.models import (
    AuditEvent,
    BatchJob,
    Conversation,
    GenesysFinding,
    OutboxMessage,
    RateLimitState,
    ReconciliationRun,
    SyncCursor,
)

OPERATOR_GROUPS = ("Supervisor", "Compliance")
RECENT_ROWS = 25
State = Conversation.State
RETRYABLE_STATES = Conversation.REQUEUE_STATES  # the ones reviews.pipeline.retry_conversation starts over
# Final states that are an answer, not a failure: the call is kept as audio only, or Genesys said why it cannot
# be had (403, recording archived, no recording). Listed with their reason under "Audio only and other outcomes",
# never under failures; the ones a changed role or recording may fix keep their Retry (RETRYABLE_STATES).
OUTCOME_STATES = (State.AUDIO_FALLBACK, State.RESTRICTED, State.ARCHIVED, State.AUDIO_UNAVAILABLE)
ACTIVE_STATES = Conversation.ACTIVE_STATES
# The advance schedule runs every minute: an active conversation due for longer than this, with no worker
# holding it, is stuck (no worker running, or one that keeps dying on it), which is a failure too.
STUCK_AFTER = timedelta(minutes=15)
# Batch jobs an operator should look at: still running, or gone (404 / expired) or given up on.
OPEN_BATCH_STATES = (BatchJob.State.PENDING, BatchJob.State.LOST, BatchJob.State.ABANDONED)
DIRECT_PROBE_WINDOW = timedelta(hours=1)


def is_operator(user) -> bool:
    return access.is_signed_in(user) and bool(user.is_staff or access.group_names(user) & set(OPERATOR_GROUPS))


def _require_operator(request: HttpRequest, operation: str) -> None:
    if not is_operator(request.user):
        audit.deny(
            request,
            PermissionDenied("Operations is for staff, supervisors and compliance officers."),
            object_type="page",
            object_id="operations",
            reason="not an operator",
            operation=operation,
            via="web",
        )


def _require_may_act(request: HttpRequest, operation: str, *, object_type: str, object_id) -> None:
    if not access.can_review(request.user):
        audit.deny(
            request,
            PermissionDenied("Your role is read-only here: retry and replay are for supervisors."),
            object_type=object_type,
            object_id=object_id,
            reason="read-only role",
            operation=operation,
            via="web",
        )


def _is_partial_request(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _state_counts(conversations) -> list[dict]:
    """The state counts in three groups: still being worked, outcomes (stored or not, each an answer) and failed."""
    counts = dict(conversations.order_by().values_list("state").annotate(n=Count("pk")))
    labels = dict(State.choices)
    groups = (
        ("active", "In progress", ACTIVE_STATES),
        ("outcomes", "Outcomes", (State.STORED, *OUTCOME_STATES)),
        ("failures", "Failures", (State.FAILED,)),
    )
    return [
        {
            "key": key,
            "label": label,
            "total": sum(counts.get(state, 0) for state in states),
            "rows": [{"state": state, "label": labels[state], "count": counts.get(state, 0)} for state in states],
        }
        for key, label, states in groups
    ]


def _stuck(now: datetime) -> Q:
    """Due for more than STUCK_AFTER and claimable (the pipeline's own lease rule): no worker is taking it up."""
    from reviews.pipeline.leases import due_filter  # the pipeline imports Genesys client code; load on demand

    return due_filter(now - STUCK_AFTER) & due_filter(now)


def _failures(conversations, *, now: datetime) -> dict:
    """Failed conversations (Retry starts them over) and stuck ones (the worker is not taking them up)."""
    rows = conversations.filter(Q(state=State.FAILED) | _stuck(now)).select_related("queue")
    return {"rows": rows.order_by("-updated_at")[:RECENT_ROWS], "total": rows.count()}


def _outcomes(conversations) -> dict:
    """Audio only, restricted, archived, no audio, and stored calls the pipeline left a note on (a missing part)."""
    rows = conversations.filter(
        Q(state__in=OUTCOME_STATES) | Q(state=State.STORED, needs_manual_review=True)
    ).select_related("queue")
    return {"rows": rows.order_by("-updated_at")[:RECENT_ROWS], "total": rows.count()}


def _outbox_depth(messages) -> dict:
    from reviews.compliance import outbox_summary

    summary = outbox_summary(messages=messages)
    return {
        "sinks": [{"sink": sink, **counts} for sink, counts in sorted(summary["sinks"].items())],
        "oldest_pending_age_seconds": summary.get("oldest_pending_age_seconds"),
    }


def _rate_limits() -> list[dict]:
    now = timezone.now().timestamp()
    return [
        {
            "state": state,
            "paused_until": datetime.fromtimestamp(state.paused_until, tz=UTC) if state.paused_until > now else None,
            "usage": state.count / state.allowed if state.allowed and state.count is not None else None,
        }
        for state in RateLimitState.objects.order_by("key")
    ]


def _search_health(now: datetime) -> dict:
    """The transcript search's health record (GenesysFinding "search.health") and what it means right now."""
    from reviews.pipeline.org import search_health  # the pipeline imports Genesys client code; load on demand

    health = search_health()
    return {
        "health": health,
        "in_cooldown": not health.usable(now=now),
        # Healthy but listing nothing for a day: content search is probably off, so every call is probed directly.
        "trusted": health.trusted(now=now),
        "never_run": health.ok_at is None and health.failed_at is None,
    }


def _batch_jobs(conversations, *, everything: bool) -> dict:
    # A scoped user sees the jobs that carry one of their conversations; members that moved on are not known.
    scoped = BatchJob.objects.all() if everything else BatchJob.objects.filter(conversations__in=conversations)
    scoped = scoped.distinct()
    jobs = scoped.filter(state__in=OPEN_BATCH_STATES).order_by("-submitted_at")[:RECENT_ROWS]
    counts = dict(
        BatchJob.objects.filter(pk__in=scoped.values("pk")).order_by().values_list("state").annotate(n=Count("pk"))
    )
    return {
        # Member ids are not listed: a job can mix conversations from outside the operator's scope.
        "rows": [{"job": job, "members": len(job.member_ids or [])} for job in jobs],
        "counts": [
            {"state": value, "label": label, "count": counts.get(value, 0)} for value, label in BatchJob.State.choices
        ],
    }


def _operations_context(user) -> dict:
    now = timezone.now()
    everything = access.sees_everything(user)
    conversations = access.conversations_for(user)
    outbox = OutboxMessage.objects.all() if everything else OutboxMessage.objects.filter(conversation__in=conversations)
    return {
        "org_wide": everything,
        "may_act": access.can_review(user),
        "state_counts": _state_counts(conversations),
        "failures": _failures(conversations, now=now),
        "outcomes": _outcomes(conversations),
        "retryable_states": RETRYABLE_STATES,
        "max_attempts": settings.PIPELINE_MAX_ATTEMPTS,
        "stuck_minutes": int(STUCK_AFTER.total_seconds() // 60),
        "search": _search_health(now),
        "findings": GenesysFinding.objects.order_by("key"),
        "batch_jobs": _batch_jobs(conversations, everything=everything),
        "direct_probes_recent": conversations.filter(direct_probed_at__gte=now - DIRECT_PROBE_WINDOW).count(),
        "outbox": _outbox_depth(outbox),
        "dead_letters": outbox.filter(state=OutboxMessage.State.DEAD)
        .select_related("conversation")
        .order_by("-next_attempt_at")[:RECENT_ROWS],
        "rate_limits": _rate_limits(),
        "discovery": SyncCursor.objects.filter(name="discovery").first(),
        "reconciliation": ReconciliationRun.objects.first(),
        "refreshed_at": timezone.now(),
        "audit_chain": _audit_chain(),
    }


def _audit_chain() -> dict | None:
    """The last audit chain check (reviews/audit_chain.py): an org-wide fact that names no conversation."""
    from reviews.audit_chain import last_check

    return last_check()


def _render_live(request: HttpRequest) -> HttpResponse:
    template_name = "reviews/operations.html"
    if _is_partial_request(request):
        template_name += "#ops-live"
    response = render(request, template_name, _operations_context(request.user))
    patch_vary_headers(response, ("HX-Request",))
    return response


def _after_action(request: HttpRequest, level: int, text: str) -> HttpResponse:
    messages.add_message(request, level, text)
    if _is_partial_request(request):
        return _render_live(request)  # the partial shows the message too
    return redirect("operations")


@login_required
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    _require_operator(request, "view_operations")
    return _render_live(request)


@login_required
@require_POST
def retry(request: HttpRequest, conversation_id: str) -> HttpResponse:
    from reviews.pipeline.requeue import retry_now  # the pipeline imports Genesys client code; load on demand

    _require_operator(request, "retry")
    _require_may_act(request, "retry", object_type="conversation", object_id=conversation_id)
    conversation = audit.conversation_or_404(request, conversation_id, operation="retry")
    if conversation.state not in RETRYABLE_STATES:
        return _after_action(
            request,
            messages.WARNING,
            f"{conversation.genesys_id} is {conversation.get_state_display().lower()}; only failed, restricted, "
            "archived or audio-less conversations can be retried.",
        )
    previous_state = conversation.state
    # Started over (awaiting_transcript, due now, counters reset) and its advance task queued. None: a worker
    # holds the row or it moved on meanwhile (the conditional update refused it); nothing changed and nothing
    # was queued then, so nothing is recorded as retried.
    task_id = retry_now(conversation)
    if task_id is None:
        return _after_action(
            request,
            messages.WARNING,
            f"{conversation.genesys_id} was not retried: the pipeline is working on it or it changed state "
            "meanwhile; nothing changed, try again shortly.",
        )
    audit.record_event(
        request=request,
        action=AuditEvent.Action.RETRY,
        object_type="conversation",
        object_id=conversation.genesys_id,
        detail={"previous_state": previous_state, "queued": bool(task_id)},
    )
    if not task_id:
        return _after_action(
            request,
            messages.WARNING,
            f"{conversation.genesys_id} was started over, but its task could not be queued (is the task queue "
            "down?); the worker's next scheduled round takes it up.",
        )
    return _after_action(request, messages.SUCCESS, f"Retry queued for {conversation.genesys_id}.")


@login_required
@require_POST
def replay(request: HttpRequest, message_pk: int) -> HttpResponse:
    from reviews.compliance import replay as replay_message

    _require_operator(request, "replay")
    _require_may_act(request, "replay", object_type="outbox_message", object_id=message_pk)
    message = OutboxMessage.objects.filter(
        pk=message_pk, conversation__in=access.conversations_for(request.user)
    ).first()
    if message is None:
        audit.deny(
            request,
            Http404("delivery not found"),
            object_type="outbox_message",
            object_id=message_pk,
            reason="outside the user's scope or missing",
            operation="replay",
            via="web",
        )
    if message.state != OutboxMessage.State.DEAD:
        return _after_action(request, messages.WARNING, f"Delivery {message.pk} is not a dead letter.")
    replay_message(message)
    audit.record_replay(request=request, message=message, via="operations")
    return _after_action(request, messages.SUCCESS, f"Delivery {message.pk} to {message.sink} queued again.")
