"""Per-user conversation scope (OWASP ASVS 8.2.2: a user opens only the conversations they may see).

Groups are created by migration 0002:
- Compliance sees every conversation, read-only;
- Supervisor sees conversations whose queue's division, or whose own division, is in
  user.access_scope.divisions;
- Reviewer sees conversations whose queue is in user.access_scope.queues.
A user in several groups gets the union. No scope, no group or anonymous: nothing.

`is_staff` and `is_superuser` grant no transcript access at all (least privilege): they open the Django admin,
which shows pipeline facts but no transcript text. An administrator who must read conversations joins a group,
and that membership change is itself an audit event (reviews/auth_events.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from reviews.models import AccessScope, Agent, Conversation, Queue

REVIEWER = "Reviewer"
SUPERVISOR = "Supervisor"
COMPLIANCE = "Compliance"

NOT_FOUND_MESSAGE = "conversation not found"
_GROUPS_CACHE_ATTRIBUTE = "_transcript_vault_group_names"
_SCOPE_CACHE_ATTRIBUTE = "_transcript_vault_scope"


def group_names(user) -> frozenset[str]:
    """The user's group names, cached on the user object for the rest of the request."""
    if not is_signed_in(user):
        return frozenset()
    cached = getattr(user, _GROUPS_CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        setattr(user, _GROUPS_CACHE_ATTRIBUTE, cached)
    return cached


def is_signed_in(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def sees_everything(user) -> bool:
    return is_signed_in(user) and COMPLIANCE in group_names(user)


@dataclass(frozen=True)
class Scope:
    """What a user may see, as plain ids: SQL can test a conversation row against it without joins."""

    everything: bool = False
    queue_ids: frozenset[int] = frozenset()  # conversation.queue_id in these
    division_ids: frozenset[int] = frozenset()  # or conversation.division_id in these

    @property
    def is_empty(self) -> bool:
        return not self.everything and not self.queue_ids and not self.division_ids


def scope_for(user) -> Scope:
    """The user's scope, cached on the user object for the rest of the request (a page asks for it several times:
    its query, its filter choices, its audit)."""
    if not is_signed_in(user):
        return Scope()
    cached = getattr(user, _SCOPE_CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = _scope_of(user)
        setattr(user, _SCOPE_CACHE_ATTRIBUTE, cached)
    return cached


def _scope_of(user) -> Scope:
    if sees_everything(user):
        return Scope(everything=True)
    groups = group_names(user)
    access_scope = AccessScope.objects.filter(user=user).first() if groups & {REVIEWER, SUPERVISOR} else None
    if access_scope is None:
        return Scope()
    queue_ids: set[int] = set()
    division_ids: set[int] = set()
    if SUPERVISOR in groups:
        division_ids = set(access_scope.divisions.values_list("pk", flat=True))
        # "The queue's division is in scope" becomes "the queue is one of these queues".
        queue_ids |= set(Queue.objects.filter(division__in=division_ids).values_list("pk", flat=True))
    if REVIEWER in groups:
        queue_ids |= set(access_scope.queues.values_list("pk", flat=True))
    return Scope(queue_ids=frozenset(queue_ids), division_ids=frozenset(division_ids))


def conversations_for(user) -> QuerySet[Conversation]:
    return in_scope(Conversation.objects.all(), user=user)


def in_scope(queryset: QuerySet, *, user, via: str = "") -> QuerySet:
    """`queryset` narrowed to the rows whose conversation (the row itself, or the one its `via` relation names, for
    example "conversation") the user may see. Tested on the joined row: rows of another table (assignments) are
    not matched against a list of every conversation in scope."""
    scope = scope_for(user)
    if scope.everything:
        return queryset
    if scope.is_empty:
        return queryset.none()
    prefix = f"{via}__" if via else ""
    return queryset.filter(
        Q(**{f"{prefix}queue_id__in": scope.queue_ids}) | Q(**{f"{prefix}division_id__in": scope.division_ids})
    )


def visible_queues(user) -> QuerySet[Queue]:
    """The queues of the conversations the user may see, by name: what a filter form offers."""
    visible = conversations_for(user)
    # EXISTS probes the conversation's queue index once per queue; a join with DISTINCT read every conversation.
    return Queue.objects.filter(Exists(visible.filter(queue=OuterRef("pk")))).order_by("name", "genesys_id")


def visible_agents(user) -> QuerySet[Agent]:
    """The agents of the conversations the user may see, by name."""
    visible = conversations_for(user)
    return Agent.objects.filter(Exists(visible.filter(agent=OuterRef("pk")))).order_by("name", "genesys_id")


def get_conversation_for_user(user, genesys_id: str) -> Conversation:
    """The conversation if the user may see it; the same Http404 whether it is out of scope or missing."""
    if not isinstance(genesys_id, str) or not genesys_id or len(genesys_id) > 64:
        raise Http404(NOT_FOUND_MESSAGE)
    conversation = conversations_for(user).filter(genesys_id=genesys_id).first()
    if conversation is None:
        raise Http404(NOT_FOUND_MESSAGE)
    return conversation


def can_see_finding_details(user) -> bool:
    """Masked excerpts and rules of PII findings: Compliance only."""
    return sees_everything(user)


def can_review(user) -> bool:
    """Change review status, add notes, trigger processing, retry and replay. Compliance alone is read-only."""
    return is_signed_in(user) and bool(group_names(user) & {REVIEWER, SUPERVISOR})


def can_reveal_masked_values(user) -> bool:
    """Reveal what the vault masked (a leaked card number, ...): compliance officers only, never staff alone.

    PCI DSS 3.4.1: the full PAN is shown only to those with a documented business need; every reveal is audited.
    """
    return is_signed_in(user) and COMPLIANCE in group_names(user)


def can_handle_escalations(user) -> bool:
    """Comment on, assign and resolve escalated reviews: compliance officers only (their one write in the vault).

    Compliance stays read-only for the pipeline and the review workflow (can_review); staff alone get nothing.
    """
    return is_signed_in(user) and COMPLIANCE in group_names(user)


def can_handle_subject_requests(user) -> bool:
    """Find, export and erase a data subject's calls: compliance officers only (staff alone get nothing)."""
    return is_signed_in(user) and COMPLIANCE in group_names(user)


def compliance_officers():
    """Active members of the Compliance group: who may own a legal hold or be assigned an escalation."""
    return get_user_model().objects.filter(is_active=True, groups__name=COMPLIANCE).order_by("username").distinct()
