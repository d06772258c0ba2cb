from __future__ import annotations

import pytest
from django.test import Client

from reviews.models import Agent, AuditEvent, Conversation, OutboxMessage, Queue, ReviewNote
from tests.fixtures.accounts import sign_in

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/search/",
    "/search/?q=refund",
    "/conversations/conv-q1/",
    "/conversations/conv-q1/export.txt",
    "/conversations/conv-q1/export.json",
    "/conversations/conv-q1/audio/1",
    "/charts/",
    "/operations/",
]
POSTS = [
    "/conversations/conv-q1/review",
    "/operations/retry/conv-q1",
    "/operations/replay/1",
]


@pytest.mark.parametrize("url", PAGES + POSTS)
def test_it_sends_anonymous_users_to_login(client, conversation, url):
    response = client.post(url) if url in POSTS else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("url", [*POSTS, "/logout/"])
def test_it_enforces_csrf_on_every_post(bob, conversation, url):
    client = sign_in(bob, Client(enforce_csrf_checks=True))  # a supervisor who may do each of these
    response = client.post(url, {"status": "in_review", "note": "x"})
    assert response.status_code == 403
    assert not ReviewNote.objects.exists()
    assert OutboxMessage.objects.get().state == OutboxMessage.State.DELIVERED


def test_it_accepts_the_htmx_csrf_header_from_the_page(alice, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get("/conversations/conv-q1/").content.decode()
    token = page.split('"x-csrftoken": "', 1)[1].split('"', 1)[0]
    response = client.post(
        "/conversations/conv-q1/review", {"status": "in_review"}, headers={"X-CSRFToken": token, "HX-Request": "true"}
    )
    assert response.status_code == 200
    assert Conversation.objects.get(pk=conversation.pk).review_status == "in_review"


@pytest.mark.parametrize(
    "url",
    [
        "/conversations/conv-q2/",
        "/conversations/conv-q2/export.txt",
        "/conversations/conv-q2/export.json",
        "/conversations/no-such-call/",
    ],
)
def test_it_answers_404_outside_the_reviewers_scope(alice_client, other_conversation, url):
    assert alice_client.get(url).status_code == 404
    assert not AuditEvent.objects.filter(action__in=["view_transcript", "export"]).exists()


def test_it_refuses_review_changes_outside_scope(alice_client, other_conversation):
    assert alice_client.post("/conversations/conv-q2/review", {"status": "in_review"}).status_code == 404
    assert Conversation.objects.get(pk=other_conversation.pk).review_status == "new"


def test_it_escapes_everything_untrusted_on_the_review_page(alice_client, alice, conversation, build):
    Agent.objects.filter(pk=conversation.agent_id).update(name=build.xss)
    Queue.objects.filter(pk=conversation.queue_id).update(name="<img src=x onerror=alert(1)>")
    ReviewNote.objects.create(conversation=conversation, author=alice, body="<b onmouseover=alert(2)>note</b>")
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "<b onmouseover" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "&lt;b onmouseover=alert(2)&gt;note&lt;/b&gt;" in body


def test_it_escapes_words_in_the_word_by_word_rendering(alice_client, q1, d1, build):
    conversation = build.conversation("conv-words", queue=q1, division=d1)
    build.transcript(
        conversation,
        [{"speaker": "external", "start_ms": 0, "end_ms": 1, "text": "", "words": [["<i>hi</i>", 0.1, 0, 1]]}],
    )
    body = alice_client.get("/conversations/conv-words/").content.decode()
    assert "&lt;i&gt;hi&lt;/i&gt;</span>" in body and "<i>hi</i>" not in body


def test_it_escapes_exports_in_json_and_search_snippets(alice_client, conversation, build):
    snippet_page = alice_client.get("/search/", {"q": "alert"}).content.decode()
    assert "&lt;script&gt;" in snippet_page and "<script>alert" not in snippet_page
    exported = alice_client.get("/conversations/conv-q1/export.json")
    assert exported["Content-Type"] == "application/json"
    assert exported["Content-Disposition"].startswith("attachment;")
