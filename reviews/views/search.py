"""Placeholder: replaced by the owning work item."""

from __future__ import annotations

from django.http import HttpResponse


def home(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)


def search(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)
