"""Every refusal in the web UI is an ACCESS_DENIED event (path, reason, object), and "not yours" answers exactly
like "does not exist" (issue 11 §3)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviews import audit
from reviews.models import AudioRecording, AuditEvent, Conversation

pytestmark = pytest.mark.django_db

MISSING = "c0ffee00-dead-4000-8000-000000000000"
# (how the request is made, the operation the audit row names)
READS = [
    (lambda client, cid: client.get(f"/conversations/{cid}/"), "view_transcript"),
    (lambda client, cid: client.get(f"/conversations/{cid}/?chunk=0", headers={"HX-Request": "true"}), "view_fragment"),
    (lambda client, cid: client.get(f"/conversations/{cid}/export.txt"), "export"),
    (lambda client, cid: client.get(f"/conversations/{cid}/export.json"), "export"),
    (lambda client, cid: client.get(f"/conversations/{cid}/audio/1"), "play_audio"),
    (lambda client, cid: client.post(f"/conversations/{cid}/review", {"status": "in_review"}), "review"),
]


@pytest.fixture
def world(make_user, make_conversation):
    reviewer = make_user(groups=["Reviewer"], queues=["queue-mine"])
    mine = make_conversation("hello there", queue="queue-mine")
    theirs = make_conversation("someone else's call", queue="queue-theirs")
    client = Client()
    client.force_login(reviewer)
    return reviewer, mine, theirs, client


def _denials() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED).order_by("pk"))


@pytest.mark.parametrize(("attempt", "operation"), READS)
def test_it_audits_an_out_of_scope_attempt_and_answers_as_for_a_missing_one(world, attempt, operation):
    reviewer, _mine, theirs, client = world

    outside = attempt(client, theirs.genesys_id)
    missing = attempt(client, MISSING)

    assert outside.status_code == missing.status_code == 404
    assert outside.content == missing.content  # no oracle: the body does not tell which it was
    first, second = _denials()
    assert (first.object_type, first.object_id, first.username) == ("conversation", theirs.genesys_id, "user1")
    assert first.detail["operation"] == second.detail["operation"] == operation
    assert first.detail["path"].startswith(f"/conversations/{theirs.genesys_id}/")
    assert first.detail["reason"] == "outside the user's scope"
    assert (second.object_id, second.detail["reason"]) == (MISSING, "no such conversation")
    assert first.ip == "127.0.0.1"
    assert Conversation.objects.get(pk=theirs.pk).review_status == Conversation.ReviewStatus.NEW


def test_it_audits_a_recording_asked_for_under_the_wrong_conversation(world):
    _reviewer, mine, theirs, client = world
    foreign = AudioRecording.objects.create(
        conversation=theirs, recording_id="rec-theirs", sha256="1" * 64, size_bytes=1, raw_path="audio/11/x"
    )

    response = client.get(f"/conversations/{mine.genesys_id}/audio/{foreign.pk}")

    assert response.status_code == 404
    [denial] = _denials()
    assert (denial.object_type, denial.object_id) == ("recording", str(foreign.pk))
    assert denial.detail["operation"] == "play_audio"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PLAY_AUDIO).exists()


def test_it_audits_a_review_attempt_by_a_read_only_role(make_user, make_conversation):
    officer = make_user(groups=["Compliance"])
    conversation = make_conversation("hello", queue="queue-mine")
    client = _verified_client(officer)

    response = client.post(f"/conversations/{conversation.genesys_id}/review", {"status": "in_review"})

    assert response.status_code == 403
    [denial] = _denials()
    assert (denial.object_id, denial.detail["reason"], denial.detail["operation"]) == (
        conversation.genesys_id,
        "read-only role",
        "review",
    )
    assert Conversation.objects.get(pk=conversation.pk).review_status == Conversation.ReviewStatus.NEW


def test_it_records_the_denial_before_raising_the_callers_error(make_user):
    request = RequestFactory().get("/somewhere")
    request.user = make_user()

    with pytest.raises(PermissionDenied):
        audit.deny(request, PermissionDenied("no"), object_type="thing", object_id=7, reason="because", operation="x")

    [denial] = _denials()
    assert (denial.object_id, denial.detail) == ("7", {"path": "/somewhere", "reason": "because", "operation": "x"})


def _verified_client(user) -> Client:
    """A client whose session passed the second factor (compliance officers must have one)."""
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
