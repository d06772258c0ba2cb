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


# Conversations with several transcript parts


def test_it_finds_hits_in_every_part_of_a_call(alice_client, two_parts):
    page = alice_client.get("/search/", {"q": "zebra"}).context["page"]
    (group,) = page.groups
    assert group.conversation == two_parts.conversation
    assert sorted(hit.communication_id for hit in group.hits) == ["comm-consult", "comm-customer"]


def test_it_lists_a_multi_part_call_once_and_tests_part_filters_on_one_part(alice_client, two_parts):
    from reviews.models import Transcript

    assert alice_client.get("/search/", {"redaction_status": "verified"}).context["listed"] == [
        two_parts.conversation
    ]  # both parts match: one row, not one per part
    Transcript.objects.filter(pk=two_parts.later.pk).update(redaction_status="leaks_found", confidence_mean=0.3)
    # Part 1 is verified at 90%, part 2 leaks at 30%: no single part leaks with confidence >= 85%.
    assert (
        alice_client.get("/search/", {"redaction_status": "leaks_found", "confidence_min": "85"}).context["listed"]
        == []
    )
    assert alice_client.get("/search/", {"redaction_status": "leaks_found", "confidence_max": "40"}).context[
        "listed"
    ] == [two_parts.conversation]


def test_it_buckets_utterance_ids_per_part_not_per_conversation(alice, two_parts):
    """Parts are stored apart (a consult leg hours later): the search's id pre-filter must not cover every
    utterance id written in between."""
    from django.db import connection

    from reviews.models import Utterance
    from reviews.search import SearchFilters, service

    # The later part's turns got ids far above the first part's, as a part stored a day later would.
    for offset, utterance in enumerate(two_parts.later.utterances.order_by("index")):
        Utterance.objects.filter(pk=utterance.pk).update(id=1_000_000 + offset)
    prepared = service._prepare(user=alice, query="zebra", filters=SearchFilters())
    with connection.cursor() as cursor:
        cursor.execute(prepared.buckets_sql(), prepared.conversation_params)
        buckets = {row[0] for row in cursor.fetchall()}
    assert 1_000_000 >> service.SPAN_BUCKET_SHIFT in buckets
    assert len(buckets) <= 4  # one or two per part; a span per conversation would give ~15,600


def test_it_labels_the_new_states_in_the_listing_with_their_outcome(alice_client, q1, d1, build):
    build.conversation("conv-403", queue=q1, division=d1, state="restricted", outcome="missing <b>view</b>")
    body = alice_client.get("/search/").content.decode()
    assert '<span class="state state-restricted" title="missing &lt;b&gt;view&lt;/b&gt;">Restricted</span>' in body
