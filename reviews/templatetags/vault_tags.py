from __future__ import annotations

from django import template

from reviews.views.operations import is_operator as _is_operator

register = template.Library()


@register.filter
def is_operator(user) -> bool:
    return _is_operator(user)
