"""Review assignments by hand and in bulk (issue 13 §3): who sees which, assigning calls, marking them reviewed.

Sampling rules create assignments too (reviews/sampling.py). Who may do what:
- a reviewer sees the assignments given to them, for calls they may still see;
- a supervisor also sees every assignment of a call in their scope (their team's), assigns calls of their scope
  to the reviewers of their team, and marks calls reviewed;
- compliance sees every assignment, read-only (access.can_review is False for it).
Callers check each posted conversation against access.conversations_for first (the view does, auditing a refusal).

Marking reviewed follows the review page's rules (reviews/views/review.py REVIEW_TRANSITIONS): the status moves
along allowed transitions only, with a conditional update (a concurrent change wins), a ReviewNote saying from
and to, and a REVIEW audit event. An escalated call is left alone: compliance has the case, a person decides.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from reviews import access, audit
from reviews.models import AuditEvent, Conversation, ReviewAssignment, ReviewNote
from reviews.sampling import REVIEWABLE_STATES, UNFINISHED_REVIEWS

Status = Conversation.ReviewStatus
OPEN = ReviewAssignment.Status.OPEN


def is_supervisor(user) -> bool:
    return access.is_signed_in(user) and access.SUPERVISOR in access.group_names(user)


def can_assign(user) -> bool:
    """Assign calls to reviewers: supervisors (in their scope)."""
    return is_supervisor(user) and access.can_review(user)


def sees_team_assignments(user) -> bool:
    """Supervisors see their team's assignments; compliance everyone's (read-only)."""
    return is_supervisor(user) or access.sees_everything(user)


def visible_assignments(user) -> QuerySet[ReviewAssignment]:
    """The assignments `user` may see: their own, and with sees_team_assignments those of calls in scope."""
    in_scope = access.in_scope(ReviewAssignment.objects.all(), user=user, via="conversation")
    if sees_team_assignments(user):
        return in_scope
    return in_scope.filter(assignee=user)


def team_reviewers(user) -> QuerySet:
    """Whom a supervisor may assign calls to: active reviewers and supervisors whose scope meets theirs (and
    themselves). Each call still goes only to someone who may see it (assign_by_hand checks)."""
    User = get_user_model()
    if not can_assign(user):
        return User.objects.none()
    scope = access.scope_for(user)
    overlapping = Q(pk=user.pk)
    if scope.queue_ids:
        overlapping |= Q(access_scope__queues__in=scope.queue_ids)
    if scope.division_ids:
        overlapping |= Q(access_scope__divisions__in=scope.division_ids)
    members = User.objects.filter(is_active=True, groups__name__in=(access.REVIEWER, access.SUPERVISOR))
    return User.objects.filter(pk__in=members.filter(overlapping).values("pk")).order_by("username")


# The call columns "My queue" lists (reviews/templatetags/work_queue_tags.py): a call row also carries JSON columns
# (participants, communication ids) that are costly to fetch and decode and that no list shows.
LISTED_CALL_FIELDS = (
    "genesys_id",
    "started_at",
    "review_status",
    "queue__name",
    "queue__genesys_id",
    "agent__name",
    "agent__genesys_id",
)


def unassigned_calls(user, *, limit: int) -> list[Conversation]:
    """Newest reviewable, unfinished calls in the user's scope that nobody has open: the bulk-assign list."""
    open_assignment = ReviewAssignment.objects.filter(conversation=OuterRef("pk"), status=OPEN)
    calls = access.conversations_for(user).filter(state__in=REVIEWABLE_STATES, review_status__in=UNFINISHED_REVIEWS)
    calls = calls.exclude(Exists(open_assignment)).select_related("queue", "agent").order_by("-started_at", "-pk")
    return list(calls.only(*LISTED_CALL_FIELDS)[:limit])


@dataclass
class BulkOutcome:
    done: list[str] = field(default_factory=list)  # Genesys ids acted on
    skipped: dict[str, str] = field(default_factory=dict)  # Genesys id -> why not

    def message(self, verb: str) -> str:
        text = f"{len(self.done)} call{'s' if len(self.done) != 1 else ''} {verb}."
        if self.skipped:
            reasons = "; ".join(f"{genesys_id}: {why}" for genesys_id, why in self.skipped.items())
            text += f" Skipped {len(self.skipped)}: {reasons}."
        return text


def assign_by_hand(
    *, request, conversations: list[Conversation], assignee, by, due_at: dt.datetime, now: dt.datetime
) -> BulkOutcome:
    """Give each call to `assignee` by `due_at`, unless they may not see it or already have it open."""
    outcome = BulkOutcome()
    visible = set(access.conversations_for(assignee).filter(pk__in=[c.pk for c in conversations]).values_list("pk"))
    visible = {pk for (pk,) in visible}
    for conversation in conversations:
        if not access.can_review(assignee) or conversation.pk not in visible:
            outcome.skipped[conversation.genesys_id] = f"{assignee.get_username()} may not see this call"
            continue
        try:
            with transaction.atomic():
                ReviewAssignment.objects.create(
                    conversation=conversation, assignee=assignee, assigned_by=by, created_at=now, due_at=due_at
                )
                audit.record_event(
                    request=request,
                    action=AuditEvent.Action.REVIEW,
                    object_type="conversation",
                    object_id=conversation.genesys_id,
                    detail={"step": "assign", "assignee": assignee.get_username(), "due_at": due_at.isoformat()},
                )
        except IntegrityError:
            outcome.skipped[conversation.genesys_id] = f"already open for {assignee.get_username()}"
            continue
        outcome.done.append(conversation.genesys_id)
    return outcome


def path_to_reviewed(current: str) -> list[str] | None:
    """The shortest walk along REVIEW_TRANSITIONS from `current` to Reviewed (statuses after `current`)."""
    from reviews.views.review import REVIEW_TRANSITIONS

    seen, todo = {current}, deque([(current, [])])
    while todo:
        status, path = todo.popleft()
        if status == Status.REVIEWED:
            return path
        for following in REVIEW_TRANSITIONS.get(status, ()):
            if following not in seen:
                seen.add(following)
                todo.append((following, [*path, following]))
    return None


def mark_reviewed(*, request, conversations: list[Conversation], by, now: dt.datetime) -> BulkOutcome:
    """Move each call to Reviewed (see the module docstring) and close its open assignments."""
    outcome = BulkOutcome()
    for conversation in conversations:
        previous = conversation.review_status
        if previous == Status.ESCALATED:
            outcome.skipped[conversation.genesys_id] = "escalated: open the call to decide"
            continue
        path = path_to_reviewed(previous)
        if path is None:
            outcome.skipped[conversation.genesys_id] = f"cannot go from {previous} to reviewed"
            continue
        with transaction.atomic():
            if path:
                changes = {"review_status": Status.REVIEWED, "reviewer": by, "reviewed_at": now}
                # Conditional update, as on the review page: a status someone changed meanwhile is theirs.
                if not Conversation.objects.filter(pk=conversation.pk, review_status=previous).update(**changes):
                    outcome.skipped[conversation.genesys_id] = "someone else changed this review meanwhile"
                    continue
                ReviewNote.objects.create(
                    conversation=conversation,
                    author=by,
                    body="",
                    status_from=previous,
                    status_to=Status.REVIEWED,
                    created_at=now,
                )
                audit.record_event(
                    request=request,
                    action=AuditEvent.Action.REVIEW,
                    object_type="conversation",
                    object_id=conversation.genesys_id,
                    detail={"from": previous, "to": Status.REVIEWED, "note": False, "via": "work_queue", "path": path},
                )
            close_open_assignments(conversation, at=now)
        outcome.done.append(conversation.genesys_id)
    return outcome


def close_open_assignments(conversation: Conversation, *, at: dt.datetime) -> int:
    """The call's review is finished: its open assignments (whoever holds them) are done at `at`.

    The review page can call this when it moves a call to Reviewed or Escalated; until it does, sampling runs close
    such assignments (reviews/sampling.py close_reviewed_assignments) and the queue no longer lists them
    (ReviewAssignment.objects.still_to_do)."""
    return conversation.assignments.filter(status=OPEN).update(status=ReviewAssignment.Status.DONE, done_at=at)
