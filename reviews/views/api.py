"""Placeholder: replaced by the owning work item."""

from __future__ import annotations

from django.http import HttpResponse


def search(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)


def process(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)


def transcript(request, *args, **kwargs):
    return HttpResponse("not implemented yet", status=501)
