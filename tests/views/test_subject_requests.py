"""The data-subject request pages (reviews/views/subject_requests.py): compliance opens a request, sees the calls,
downloads the package and erases; nobody else gets in, and what they typed is never shown back or stored."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from reviews import identifiers
from reviews.models import AuditEvent, Conversation, SubjectRequest, Transcript

pytestmark = pytest.mark.django_db

PHONE = "+1 312 555 0150"
REFERENCE = "DSAR ticket 2026-0042"


@pytest.fixture
def subject_call(conversation):
    """conv-q1, made by the subject: discovery noted the keyed digest of its ani."""
    Conversation.objects.filter(pk=conversation.pk).update(
        participants=[{"purpose": "customer", "aniDigest": identifiers.phone_digest(PHONE)}]
    )
    return conversation


def open_request(client, **data):
    return client.post(
        reverse("subject-requests-open"), {"kind": "phone", "identifier": PHONE, "reference": REFERENCE} | data
    )


def test_it_opens_a_request_and_lists_the_subjects_calls(carol_client, subject_call):
    response = open_request(carol_client)

    request = SubjectRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("subject-request", args=[request.pk])
    page = carol_client.get(response["Location"]).content.decode()
    assert subject_call.genesys_id[:10] in page and "caller" in page
    assert "…0150" in page and "5550150" not in page
    assert (
        reverse("subject-request", args=[request.pk]) in carol_client.get(reverse("subject-requests")).content.decode()
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"identifier": "nobody"}, "6 to 15 digits"),
        ({"kind": "email", "identifier": "jane at example"}, "e-mail address such as"),
        ({"reference": "dsar"}, "reference of at least"),
    ],
)
def test_it_refuses_bad_input_without_writing_or_echoing_it(carol_client, data, message):
    response = open_request(carol_client, **data)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert f'value="{data.get("identifier", PHONE)}"' not in page
    assert not SubjectRequest.objects.exists()


def test_it_downloads_the_access_package(carol_client, subject_call):
    open_request(carol_client)
    request = SubjectRequest.objects.get()

    response = carol_client.get(reverse("subject-request-package", args=[request.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    package = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert (
        "how can I help with your refund"
        in package.read(f"conversations/{subject_call.genesys_id}/transcript.txt").decode()
    )
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, object_id=subject_call.genesys_id).exists()


def test_it_erases_only_when_confirmed(carol_client, subject_call):
    open_request(carol_client)
    request = SubjectRequest.objects.get()
    erase = reverse("subject-request-erase", args=[request.pk])

    carol_client.post(erase, {})
    assert Transcript.objects.filter(conversation=subject_call).exists()

    response = carol_client.post(erase, {"confirm": "on"})
    assert response.status_code == 302
    assert not Transcript.objects.filter(conversation=subject_call).exists()
    page = carol_client.get(response["Location"]).content.decode()
    assert "Erased" in page and "WORM" in page


@pytest.mark.parametrize("who", ["alice_client", "bob_client", "admin_client_"])
def test_it_refuses_everyone_but_compliance_and_audits_it(request, who, subject_call, carol):
    client = request.getfixturevalue(who)
    opened = SubjectRequest.objects.create(
        identifier_kind="phone", identifier_digest=identifiers.phone_digest(PHONE), identifier_hint="…0150",
        reference=REFERENCE, created_by=carol,
    )  # fmt: skip

    assert client.get(reverse("subject-requests")).status_code == 403
    assert open_request(client).status_code == 403
    assert client.get(reverse("subject-request", args=[opened.pk])).status_code == 403
    assert client.get(reverse("subject-request-package", args=[opened.pk])).status_code == 403
    assert client.post(reverse("subject-request-erase", args=[opened.pk]), {"confirm": "on"}).status_code == 403

    assert SubjectRequest.objects.count() == 1 and Transcript.objects.filter(conversation=subject_call).exists()
    denials = AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED, object_type="subject_request")
    assert sorted(denials.values_list("detail__operation", flat=True)) == ["erase", "export", "list", "lookup", "open"]


def test_it_answers_404_for_an_unknown_request_and_audits_it(carol_client):
    assert carol_client.get(reverse("subject-request", args=[999])).status_code == 404
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED, object_id="999").exists()


def test_it_shows_the_nav_link_to_compliance_only(carol_client, alice_client):
    assert reverse("subject-requests") in carol_client.get(reverse("search")).content.decode()
    assert reverse("subject-requests") not in alice_client.get(reverse("search")).content.decode()
