"""The audit log in templates: the nav link for compliance officers and administrators."""

from __future__ import annotations

from django import template

from reviews.views.audit_log import can_read_audit_log

register = template.Library()


@register.filter
def reads_audit_log(user) -> bool:
    """The views check the same rule (reviews/views/audit_log.py)."""
    return can_read_audit_log(user)
