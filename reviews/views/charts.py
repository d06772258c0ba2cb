"""Placeholder: replaced by the owning work item."""

from __future__ import annotations

from django.http import HttpResponse


def charts(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)
