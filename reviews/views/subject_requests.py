"""Data-subject requests for compliance officers (issue 12 §4): open a request by phone number or e-mail address,
see every call of the subject and what the vault holds of it, download the access package, run the erasure.

Only the Compliance group opens these pages; every refusal is an ACCESS_DENIED event. The rules (matching,
what an erasure keeps and why) are reviews/subject_requests.py, shared with `manage.py subject_request`.
"""

from __future__ import annotations

import tempfile

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from reviews import access, audit, subject_requests
from reviews.models import SubjectRequest

LIST_LIMIT = 100


class OpenForm(forms.Form):
    kind = forms.ChoiceField(choices=SubjectRequest.IdentifierKind.choices, label="Find the subject by")
    identifier = forms.CharField(max_length=254, label="Phone number or e-mail address")
    reference = forms.CharField(max_length=200, label="Reference (ticket or case)")


class EraseForm(forms.Form):
    confirm = forms.BooleanField(label="I have verified the subject's identity and the request")


def _refuse_unless_handler(request: HttpRequest, *, operation: str, object_id: str = "") -> None:
    if not access.can_handle_subject_requests(request.user):
        audit.deny(
            request,
            PermissionDenied("Only compliance officers handle data-subject requests."),
            object_type="subject_request",
            object_id=object_id,
            reason="not a compliance officer",
            operation=operation,
        )


def _request_or_404(request: HttpRequest, request_pk: int, *, operation: str) -> SubjectRequest:
    _refuse_unless_handler(request, operation=operation, object_id=str(request_pk))
    found = SubjectRequest.objects.select_related("created_by", "erased_by").filter(pk=request_pk).first()
    if found is None:
        audit.deny(
            request,
            Http404("no such subject request"),
            object_type="subject_request",
            object_id=str(request_pk),
            reason="no such subject request",
            operation=operation,
        )
    return found


def _list_context(form: OpenForm | None = None) -> dict:
    return {
        "form": form or OpenForm(),
        "requests": SubjectRequest.objects.select_related("created_by", "erased_by")[:LIST_LIMIT],
        "min_reference": subject_requests.MIN_REFERENCE_CHARS,
    }


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    _refuse_unless_handler(request, operation="list")
    return render(request, "reviews/subject_requests.html", _list_context())


@login_required
@require_POST
def open_request(request: HttpRequest) -> HttpResponse:
    _refuse_unless_handler(request, operation="open")
    form = OpenForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        value = {"phone": data["identifier"]} if data["kind"] == "phone" else {"email": data["identifier"]}
        try:
            opened = subject_requests.open_request(
                **value, reference=data["reference"], by=request.user, request=request, now=timezone.now()
            )
        except subject_requests.SubjectRequestError as error:
            form.add_error(None, str(error))
        else:
            return redirect("subject-request", request_pk=opened.pk)
    # The identifier is never echoed back: the officer types it again.
    form.data = form.data.copy()
    form.data["identifier"] = ""
    return render(request, "reviews/subject_requests.html", _list_context(form), status=400)


@login_required
@require_GET
def detail(request: HttpRequest, request_pk: int) -> HttpResponse:
    subject_request = _request_or_404(request, request_pk, operation="lookup")
    now = timezone.now()
    report = subject_requests.lookup(subject_request, now=now, request=request)
    context = {
        "subject_request": subject_request,
        "report": report,
        "erase_form": EraseForm(),
        "erasable": any(not row["legal_holds"] and not row["kept_by_law_until"] for row in report["conversations"]),
    }
    return render(request, "reviews/subject_request.html", context)


@login_required
@require_GET
def package(request: HttpRequest, request_pk: int) -> HttpResponse:
    subject_request = _request_or_404(request, request_pk, operation="export")
    # Spooled: small packages stay in memory, large ones (audio) go to a temporary file, never all in RAM.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (FileResponse closes it)
    subject_requests.write_package(subject_request, spool, now=timezone.now(), request=request)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=f"subject-request-{subject_request.pk}.zip",
        content_type="application/zip",
    )


@login_required
@require_POST
def erase(request: HttpRequest, request_pk: int) -> HttpResponse:
    subject_request = _request_or_404(request, request_pk, operation="erase")
    if not EraseForm(request.POST).is_valid():
        messages.error(request, "Nothing erased: confirm that you verified the subject's identity and the request.")
        return redirect("subject-request", request_pk=subject_request.pk)
    result = subject_requests.erase(subject_request, now=timezone.now(), request=request, user=request.user)
    messages.success(request, f"Erased {len(result['erased'])} items; kept {len(result['kept'])} (see why below).")
    return redirect("subject-request", request_pk=subject_request.pk)
