"""Placeholder: replaced by the owning work item."""

from __future__ import annotations

from django.http import HttpResponse


def operations(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)


def retry(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)


def replay(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)
