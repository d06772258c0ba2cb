from __future__ import annotations

import json

from django import template

from reviews.views.operations import is_operator as _is_operator

register = template.Library()

FINDING_SUMMARY_CHARS = 240


@register.filter
def is_operator(user) -> bool:
    return _is_operator(user)


@register.filter
def finding_summary(value) -> str:
    """A GenesysFinding value as one short plain-text line ("key: value, ..."); the template escapes it."""
    if isinstance(value, dict):
        text = ", ".join(f"{key}: {_scalar(item)}" for key, item in value.items())
    else:
        text = _scalar(value)
    if len(text) > FINDING_SUMMARY_CHARS:
        text = text[: FINDING_SUMMARY_CHARS - 1] + "…"
    return text or "–"


def _scalar(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
