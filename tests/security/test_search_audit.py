"""Search audits say which conversations the page showed, and keep no PII from the search terms (issue 11 §3)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory

from reviews.audit import MAX_SHOWN_CONVERSATIONS, record_search
from reviews.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"


@pytest.fixture
def world(make_user, make_conversation):
    reviewer = make_user(groups=["Reviewer"], queues=["queue-mine"])
    first = make_conversation("refund for the order", queue="queue-mine")
    second = make_conversation("a refund was issued", queue="queue-mine")
    theirs = make_conversation("refund elsewhere", queue="queue-theirs")
    client = Client()
    client.force_login(reviewer)
    return SimpleNamespace(reviewer=reviewer, mine={first.genesys_id, second.genesys_id}, theirs=theirs, client=client)


def _search_event() -> AuditEvent:
    return AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)


def test_it_records_the_conversations_a_web_search_showed(world):
    page = world.client.get("/search/", {"q": "refund"})

    shown = _search_event().detail["shown"]
    assert set(shown) == world.mine and world.theirs.genesys_id not in shown
    listed = [group.conversation.genesys_id for group in page.context["page"].groups]
    assert shown == listed  # in the order the page listed them


def test_it_records_the_conversations_a_filter_listing_showed(world):
    world.client.get("/search/", {"queue": "queue-mine"})

    assert set(_search_event().detail["shown"]) == world.mine


def test_it_records_the_conversations_an_api_search_returned(world):
    _token, key = ApiToken.issue(user=world.reviewer, name="test")

    response = world.client.post(
        "/api/transcripts/search",
        data=json.dumps({"query": "refund"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 200
    event = _search_event()
    assert event.detail["via"] == "api"
    assert set(event.detail["shown"]) == {hit["conversationId"] for hit in response.json()["results"]} == world.mine


def test_it_masks_a_card_number_typed_into_the_search(world):
    world.client.get("/search/", {"q": f"card {CARD} refund"})

    detail = _search_event().detail
    assert "[card number*]" in detail["query"]
    recorded = json.dumps(detail)
    assert "4111" not in recorded and "1111" not in recorded


def test_it_masks_a_card_number_sent_to_the_api_search(world):
    _token, key = ApiToken.issue(user=world.reviewer, name="test")

    world.client.post(
        "/api/transcripts/search",
        data=json.dumps({"query": CARD.replace(" ", "")}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )

    assert "4111" not in json.dumps(_search_event().detail)


def test_it_bounds_the_list_of_shown_conversations():
    request = RequestFactory().get("/search/")
    request.user = AnonymousUser()
    many = [SimpleNamespace(genesys_id=f"conversation-{number}") for number in range(MAX_SHOWN_CONVERSATIONS + 50)]

    event = record_search(request=request, query="refund", filters=None, total=len(many), shown=many + many[:5])

    event.refresh_from_db()
    assert event.detail["shown"] == [item.genesys_id for item in many[:MAX_SHOWN_CONVERSATIONS]]
    assert event.detail["shown_count"] == len(many)  # each conversation once, however many hits it had
