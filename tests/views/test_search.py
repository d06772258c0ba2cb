from __future__ import annotations

import re
from datetime import timedelta

import pytest

from reviews.models import AuditEvent, Conversation

pytestmark = pytest.mark.django_db


def test_it_lands_reviewers_on_their_queue_and_everyone_else_on_search(alice_client, carol_client):
    assert alice_client.get("/")["Location"] == "/queue/"
    assert carol_client.get("/")["Location"] == "/search/"


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


def listed(response) -> list[Conversation]:
    return [item.conversation for item in response.context["listing"].items]


def test_it_lists_conversations_matching_filters_without_words(alice_client, conversation, q1, d1, build):
    escalated = build.conversation("conv-escalated", queue=q1, division=d1, review_status="escalated")
    response = alice_client.get("/search/", {"review_status": Conversation.ReviewStatus.ESCALATED})
    assert listed(response) == [escalated]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).count() == 1
    assert "1 conversation<" in response.content.decode()  # the total


def test_it_lists_calls_by_speaker_alone(alice_client, conversation, q1, d1, build):
    """A speaker filter alone used to be ignored: every call was listed."""
    ivr_only = build.conversation("conv-ivr", queue=q1, division=d1)
    build.transcript(ivr_only, [{"speaker": "internal", "start_ms": 0, "end_ms": 1, "text": "press one"}])
    assert listed(alice_client.get("/search/", {"speaker": "external"})) == [conversation]
    assert set(listed(alice_client.get("/search/", {"speaker": "internal"}))) == {conversation, ivr_only}


def test_it_filters_the_page_by_duration_in_minutes_topic_and_sentiment(alice_client, conversation):
    # The fixture call lasts 3 min 25 s, has the topic "Refund" and sentiments 0.6 and -0.7 (mean -0.05).
    assert listed(alice_client.get("/search/", {"duration_min": "3", "duration_max": "3.5"})) == [conversation]
    assert listed(alice_client.get("/search/", {"duration_min": "3.5"})) == []
    assert listed(alice_client.get("/search/", {"topic": "refund", "sentiment": "neutral"})) == [conversation]
    assert listed(alice_client.get("/search/", {"sentiment": "negative"})) == []
    assert listed(alice_client.get("/search/", {"leak_kind": "card_number", "direction": "inbound"})) == [conversation]
    assert listed(alice_client.get("/search/", {"audio_only": "on"})) == []


def test_it_sorts_the_list_and_shows_each_calls_facts(alice_client, conversation, q1, d1, build):
    longer = build.conversation("conv-long", queue=q1, division=d1)
    longer.ended_at = longer.started_at + timedelta(minutes=30)
    longer.save()
    assert listed(alice_client.get("/search/", {"sort": "duration_desc"})) == [longer, conversation]
    assert listed(alice_client.get("/search/", {"sort": "duration_asc"})) == [conversation, longer]
    body = alice_client.get("/search/", {"sort": "duration_asc"}).content.decode()
    assert "<td>03:25</td>" in body and "<td>30:00</td>" in body
    assert '<span class="chip sentiment-neutral">Neutral</span>' in body and "<td>82%</td>" in body


def test_it_sorts_hits_by_the_chosen_order(alice_client, conversation, q1, d1, build):
    longer = build.conversation("conv-long", queue=q1, division=d1)
    longer.ended_at = longer.started_at + timedelta(minutes=30)
    longer.save()
    build.transcript(longer, [{"speaker": "external", "start_ms": 0, "end_ms": 1, "text": "a refund"}])
    groups = alice_client.get("/search/", {"q": "refund", "sort": "duration_desc"}).context["page"].groups
    assert [group.conversation for group in groups] == [longer, conversation]
    assert groups[0].metrics.duration_ms == 30 * 60_000


def test_it_resubmits_when_the_sort_changes_without_inline_script(alice_client):
    body = alice_client.get("/search/").content.decode()
    assert 'hx-trigger="submit, change from:#id_sort"' in body
    assert "<script>" not in body.split("</head>")[1]


def test_it_quotes_the_query_once_when_nothing_matches(alice_client, conversation):
    body = alice_client.get("/search/", {"q": '"no such phrase"'}).content.decode()
    assert "No transcripts match <q>no such phrase</q>." in body
    assert "&quot;no such phrase&quot;</q>" not in body and body.count("<q>") == 1


def test_it_offers_the_list_as_csv_with_the_same_filters(alice_client, conversation):
    body = alice_client.get("/search/", {"q": "refund", "sort": "date_asc", "cursor": "bzox"}).content.decode()
    assert 'href="/search/export.csv?q=refund&amp;sort=date_asc"' in body


# Conversations with several transcript parts


def test_it_finds_hits_in_every_part_of_a_call(alice_client, two_parts):
    page = alice_client.get("/search/", {"q": "zebra"}).context["page"]
    (group,) = page.groups
    assert group.conversation == two_parts.conversation
    assert sorted(hit.communication_id for hit in group.hits) == ["comm-consult", "comm-customer"]


def test_it_lists_a_multi_part_call_once_and_tests_the_calls_own_values(alice_client, two_parts):
    from reviews.models import Transcript

    # both parts match: one row, not one per part
    assert listed(alice_client.get("/search/", {"redaction_status": "verified"})) == [two_parts.conversation]
    Transcript.objects.filter(pk=two_parts.later.pk).update(redaction_status="leaks_found")
    # The call: worst status "leaks found"; confidence 0.9 on 100 words and 0.6 on 300 words: 67.5%.
    assert listed(alice_client.get("/search/", {"redaction_status": "verified"})) == []
    both = {"redaction_status": "leaks_found", "confidence_min": "67", "confidence_max": "68"}
    assert listed(alice_client.get("/search/", both)) == [two_parts.conversation]
    assert listed(alice_client.get("/search/", {"confidence_min": "85"})) == []
    # With words the call's values apply the same way.
    assert alice_client.get("/search/", {"q": "zebra", "confidence_min": "85"}).context["page"].groups == []


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


# The vault's own speech-to-text (issue 15): every hit and call says whose transcript it is


def _hit_sources(body: str) -> list[str]:
    return re.findall(r'<li data-source="([^"]+)">', body)


def test_it_badges_vault_speech_to_text_hits_and_only_those(alice_client, conversation, vault_call):
    body = alice_client.get("/search/", {"q": "refund"}).content.decode()

    assert sorted(_hit_sources(body)) == ["genesys", "vault-asr"]
    assert body.count('class="badge source-vault-asr"') == 1
    assert ">Vault speech-to-text</span>" in body
    assert "source-genesys" not in body  # a call Genesys alone transcribed needs no label
    assert "Machine transcript by the vault (pocketsphinx, en-us (pocketsphinx 5.1.1))" in body


def test_it_narrows_hits_and_the_work_list_to_one_transcript_source(alice_client, conversation, vault_call):
    def linked(params) -> set[str]:
        body = alice_client.get("/search/", params).content.decode()
        return set(re.findall(r'href="/conversations/(conv-[a-z0-9]+)/"', body))

    assert linked({"q": "refund", "transcript_source": "vault-asr"}) == {"conv-asr"}
    assert linked({"q": "refund", "transcript_source": "genesys"}) == {"conv-q1"}
    assert linked({"transcript_source": "vault-asr"}) == {"conv-asr"}
    assert linked({"transcript_source": "genesys"}) == {"conv-q1"}
    event = AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).first()
    assert event.detail["filters"] == {"transcript_source": "genesys"}


def test_it_says_each_listed_calls_transcript_source(alice_client, conversation, vault_call):
    body = alice_client.get("/search/").content.decode()

    assert '<th scope="col">Transcript</th>' in body
    assert body.count('class="badge source-vault-asr"') == 1  # conv-asr's row, not conv-q1's
    assert "<td>Genesys</td>" in body


def test_it_refuses_an_unknown_transcript_source(alice_client, conversation):
    body = alice_client.get("/search/", {"transcript_source": "robot"}).content.decode()

    assert "<li>Transcript by: Select a valid choice." in body
    assert "/conversations/conv-q1/" not in body


def test_it_labels_genesys_hits_too_in_a_call_with_parts_of_both(alice_client, two_parts):
    from reviews.models import Transcript

    Transcript.objects.filter(pk=two_parts.later.pk).update(source="vault-asr", asr_engine="pocketsphinx")

    body = alice_client.get("/search/", {"q": "zebra refund"}).content.decode()

    assert sorted(_hit_sources(body)) == ["genesys", "vault-asr"]
    assert body.count('<span class="chip source-genesys">Genesys</span>') == 1
    assert body.count('class="badge source-vault-asr"') == 1
