"""Escalations in templates: the nav link for compliance officers and the case shown on the review page."""

from __future__ import annotations

from django import template

from reviews.access import can_handle_escalations
from reviews.models import Escalation

register = template.Library()


@register.filter
def handles_escalations(user) -> bool:
    return can_handle_escalations(user)


@register.simple_tag
def latest_escalation(conversation) -> Escalation | None:
    """The conversation's most recent escalation (open or resolved), for the block on its review page.

    The page itself is already scoped and audited (review.conversation), so this adds no check of its own.
    """
    return (
        Escalation.objects.filter(conversation=conversation)
        .select_related("assignee", "resolved_by")
        .order_by("-escalated_at", "-pk")
        .first()
    )
