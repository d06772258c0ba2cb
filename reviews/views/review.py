"""Placeholder: replaced by the owning work item."""

from __future__ import annotations

from django.http import HttpResponse


def conversation(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)


def update_review(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)


def export(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)
