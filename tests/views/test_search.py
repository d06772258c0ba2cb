from __future__ import annotations

import pytest

from reviews.models import AuditEvent, Conversation

pytestmark = pytest.mark.django_db


def test_it_redirects_home_to_search(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/search/"


def test_it_lists_recent_conversations_in_scope_only(alice_client, conversation, other_conversation):
    response = alice_client.get("/search/")
    assert response.status_code == 200
    assert b"/conversations/conv-q1/" in response.content
    assert b"conv-q2" not in response.content
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).exists()


def test_it_links_each_hit_to_its_moment(alice_client, conversation):
    utterance = conversation.utterances.get(index=1)
    response = alice_client.get("/search/", {"q": "refund"})
    body = response.content.decode()
    assert f"/conversations/conv-q1/?t=4000#u-{utterance.pk}" in body
    assert "<mark>refund</mark>" in body
    assert ">00:04<" in body


def test_it_records_one_audit_event_per_search(alice_client, alice, conversation):
    alice_client.get("/search/", {"q": "refund", "speaker": "internal"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert event.user == alice
    assert event.detail["query"] == "refund"
    assert event.detail["filters"]["speaker"] == "internal"


def test_it_returns_only_the_results_partial_to_htmx(alice_client, conversation):
    response = alice_client.get("/search/", {"q": "refund"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body
    assert 'class="hit-group"' in body
    assert "HX-Request" in response["Vary"]


def test_it_returns_the_full_page_for_a_history_restore(alice_client, conversation):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = alice_client.get("/search/", {"q": "refund"}, headers=headers)
    assert b"<html" in response.content


def test_it_keeps_the_query_in_the_form(alice_client, conversation):
    response = alice_client.get("/search/", {"q": "refund", "queue": "queue-1"})
    body = response.content.decode()
    assert 'value="refund"' in body
    assert '<option value="queue-1" selected>' in body


def test_it_hides_hits_outside_the_users_scope(alice_client, conversation, other_conversation):
    response = alice_client.get("/search/", {"q": "zebra"})
    assert b"conv-q2" not in response.content
    assert b"No transcripts match" in response.content


def test_it_escapes_transcript_text_in_snippets(alice_client, conversation):
    response = alice_client.get("/search/", {"q": "card"})
    body = response.content.decode()
    assert "&lt;script&gt;" in body
    assert '<script>alert("x")' not in body


@pytest.mark.parametrize(
    "params",
    [
        {"q": '"unbalanced'},
        {"q": "AND OR NOT ( ) * ^ : -"},
        {"q": "x" * 501},
        {"q": "nul\x00byte"},
        {"q": "refund", "cursor": "garbage!!"},
        {"q": "refund", "date_from": "yesterday"},
        {"q": "refund", "date_from": "2025-02-01", "date_to": "2025-01-01"},
        {"q": "refund", "confidence_min": "500"},
        {"q": "refund", "speaker": "robot"},
        {"q": "refund", "queue": "queue-not-mine"},
        {"review_status": "escalated", "redaction_status": "nonsense"},
    ],
)
def test_it_never_fails_on_user_input(alice_client, conversation, params):
    response = alice_client.get("/search/", params)
    assert response.status_code == 200


def test_it_pages_with_a_cursor(alice_client, conversation, q1, d1, build, monkeypatch):
    from reviews.views import search as search_view

    second = build.conversation("conv-q1-b", queue=q1, division=d1)
    build.transcript(second, [{"speaker": "external", "start_ms": 0, "end_ms": 1, "text": "refund please"}])
    monkeypatch.setattr(search_view, "PAGE_SIZE", 1)
    first_page = alice_client.get("/search/", {"q": "refund"})
    next_url = first_page.context["next_url"]
    assert "cursor=" in next_url and "q=refund" in next_url
    second_page = alice_client.get(next_url)
    seen = {first_page.context["page"].groups[0].conversation, second_page.context["page"].groups[0].conversation}
    assert seen == {conversation, second}
    assert second_page.context["next_url"] == ""


def test_it_lists_conversations_matching_filters_without_words(alice_client, conversation, q1, d1, build):
    escalated = build.conversation("conv-escalated", queue=q1, division=d1, review_status="escalated")
    response = alice_client.get("/search/", {"review_status": Conversation.ReviewStatus.ESCALATED})
    assert list(response.context["listed"]) == [escalated]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).count() == 1
