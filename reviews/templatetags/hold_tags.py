"""Legal holds in templates: the nav link for compliance officers."""

from __future__ import annotations

from django import template

from reviews.access import sees_everything

register = template.Library()


@register.filter
def manages_holds(user) -> bool:
    """Compliance officers (the views check the same rule: reviews/views/holds.py)."""
    return sees_everything(user)
