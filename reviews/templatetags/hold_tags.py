"""Legal holds and data-subject requests in templates: the nav links for compliance officers."""

from __future__ import annotations

from django import template

from reviews.access import can_handle_subject_requests, sees_everything

register = template.Library()


@register.filter
def manages_holds(user) -> bool:
    """Compliance officers (the views check the same rule: reviews/views/holds.py)."""
    return sees_everything(user)


@register.filter
def handles_subject_requests(user) -> bool:
    """Compliance officers (the views check the same rule: reviews/views/subject_requests.py)."""
    return can_handle_subject_requests(user)
