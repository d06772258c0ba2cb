"""Attack: an administrator (is_staff, is_superuser) reads transcripts they have no role for. Refusal: the admin
flags open the Django admin only; conversations need a group (ASVS 8.2.1, 8.2.2: least privilege)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from reviews import access
from reviews.models import ApiToken, RedactionFinding, ReviewNote
from tests.fixtures.accounts import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(make_conversation):
    conversation = make_conversation("my card is 4111 1111 1111 1111 zebra", "refund issued zebra")
    transcript = conversation.transcripts.get()
    RedactionFinding.objects.create(
        transcript=transcript, kind="card_number", rule="luhn", confidence=0.9, start_ms=0, masked_excerpt="4111 ****"
    )
    ReviewNote.objects.create(conversation=conversation, body="customer read out the whole card number")
    return conversation


@pytest.fixture(params=[{"is_staff": True}, {"is_superuser": True}, {"is_staff": True, "is_superuser": True}])
def administrator(request, db):
    return User.objects.create_user("root", **request.param)


def test_it_gives_the_admin_flags_no_conversation(administrator, call):
    assert not access.sees_everything(administrator)
    assert not access.can_review(administrator)
    assert not access.can_see_finding_details(administrator)
    assert not access.conversations_for(administrator).exists()


def test_it_refuses_every_transcript_page_to_an_administrator(administrator, call):
    client = sign_in(administrator)
    conversation_id = call.genesys_id
    for url in (
        f"/conversations/{conversation_id}/",
        f"/conversations/{conversation_id}/export.json",
        f"/conversations/{conversation_id}/export.txt",
    ):
        answer = client.get(url)
        assert answer.status_code == 404 and b"zebra" not in answer.content, url
    search = client.get("/search/", {"q": "zebra"})
    assert search.status_code == 200 and call.genesys_id.encode() not in search.content
    assert client.get("/admin/").status_code == (200 if administrator.is_staff else 302)  # what is_staff is for


def test_it_refuses_the_api_to_an_administrators_token(administrator, call, client):
    _token, key = ApiToken.issue(user=administrator, scope=ApiToken.Scope.PROCESS)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get(f"/api/transcripts/{call.genesys_id}", **headers).status_code == 404
    found = client.post("/api/transcripts/search", {"query": "zebra"}, content_type="application/json", **headers)
    assert found.json()["total"] == 0
    queued = client.post(
        "/api/transcripts/process", {"conversationId": call.genesys_id}, content_type="application/json", **headers
    )
    assert queued.status_code == 403


def test_it_gives_an_administrator_in_a_group_what_the_group_gives(call, make_user):
    root = make_user(groups=["Reviewer"], queues=["queue-a"])
    root.is_staff = root.is_superuser = True
    root.save()
    assert sign_in(root).get(f"/conversations/{call.genesys_id}/").status_code == 200


def test_it_shows_no_finding_excerpt_or_review_note_in_the_admin(call):
    root = User.objects.create_user("root", is_staff=True, is_superuser=True)
    client = sign_in(root)
    finding = RedactionFinding.objects.get()
    note = ReviewNote.objects.get()
    finding_page = client.get(f"/admin/reviews/redactionfinding/{finding.pk}/change/")
    note_page = client.get(f"/admin/reviews/reviewnote/{note.pk}/change/")
    assert finding_page.status_code == note_page.status_code == 200
    assert b"4111" not in finding_page.content
    assert b"whole card number" not in note_page.content
