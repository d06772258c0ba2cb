"""POST /api/transcripts/search: the work-list filters, sorting and totals (the rest is in test_api.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reviews.models import ApiToken, AuditEvent, Conversation, RedactionFinding, Transcript

pytestmark = pytest.mark.django_db
SEARCH = "/api/transcripts/search"


@pytest.fixture
def headers(staff):
    _token, key = ApiToken.issue(user=staff, name="test", scope=ApiToken.Scope.READ)
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@pytest.fixture
def calls(make_conversation):
    """short: 1 min inbound, negative, confidence 0.9; long: 20 min outbound, positive, topic, a leak."""
    short = make_conversation({"text": "refund please", "sentiment": -1.0})
    long = make_conversation({"text": "refund now", "sentiment": 1.0, "topics": ["Complaint"]})
    for conversation, minutes, direction, confidence in ((short, 1, "inbound", 0.9), (long, 20, "outbound", 0.4)):
        conversation.ended_at = conversation.started_at + dt.timedelta(minutes=minutes)
        conversation.direction = direction
        conversation.save()
        Transcript.objects.filter(conversation=conversation).update(confidence_mean=confidence, word_count=5)
    RedactionFinding.objects.create(
        transcript=long.transcripts.get(), kind="email", rule="email", confidence=1, start_ms=0, masked_excerpt="*"
    )
    return {"short": short, "long": long}


def post(client, headers, body):
    return client.post(SEARCH, data=json.dumps(body), content_type="application/json", **headers)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [result["conversationId"] for result in response.json()["results"]]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"durationMinSeconds": 600}, "long"),
        ({"durationMaxSeconds": 120}, "short"),
        ({"direction": "outbound"}, "long"),
        ({"sentiment": "negative"}, "short"),
        ({"sentiment": "positive"}, "long"),
        ({"topic": "complaint"}, "long"),
        ({"leakKind": "email"}, "long"),
        ({"confidenceMin": 0.8}, "short"),
    ],
)
def test_it_applies_each_work_list_filter(client, headers, calls, fields, expected):
    assert ids(post(client, headers, {"query": "refund", **fields})) == [calls[expected].genesys_id]


def test_it_finds_no_words_in_audio_only_calls(client, headers, calls):
    assert ids(post(client, headers, {"query": "refund", "audioOnly": True})) == []


@pytest.mark.parametrize(
    ("sort", "first"),
    [("duration_desc", "long"), ("duration_asc", "short"), ("sentiment_asc", "short"), ("confidence_asc", "long")],
)
def test_it_sorts_by_the_calls_values(client, headers, calls, sort, first):
    order = ids(post(client, headers, {"query": "refund", "sort": sort}))
    assert order[0] == calls[first].genesys_id and len(order) == 2


def test_it_reports_the_conversation_total_and_audits_the_filters(client, headers, calls):
    body = post(client, headers, {"query": "refund", "sentiment": "negative", "limit": 1}).json()
    assert (body["total"], body["totalConversations"]) == (1, 1)
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert event.detail["filters"] == {"sentiment": "negative"}


def test_it_does_not_match_a_word_inside_a_mask_token(client, headers, make_conversation):
    make_conversation("your [card number] please")
    assert ids(post(client, headers, {"query": "card"})) == []
    assert len(ids(post(client, headers, {"query": "[card number]"}))) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sort": "loudest"}, "sort"),
        ({"durationMinSeconds": -1}, "durationMinSeconds"),
        ({"durationMaxSeconds": "60"}, "durationMaxSeconds"),
        ({"durationMinSeconds": 60, "durationMaxSeconds": 30}, "durationMaxSeconds"),
        ({"sentiment": "angry"}, "sentiment"),
        ({"direction": "up"}, "direction"),
        ({"leakKind": "pin"}, "leakKind"),
        ({"audioOnly": "yes"}, "audioOnly"),
        ({"topic": 5}, "topic"),
        ({"topic": "x" * 201}, "topic"),
        ({"confidenceMin": 0.9, "confidenceMax": 0.1}, "confidenceMax"),
        ({"transcriptSource": "whisper"}, "transcriptSource"),
    ],
)
def test_it_names_the_bad_work_list_field(client, headers, body, field):
    response = post(client, headers, {"query": "refund", **body})
    assert response.status_code == 400 and f"'{field}'" in response.json()["error"]


def test_it_lists_the_new_fields_as_allowed(client, headers):
    error = post(client, headers, {"query": "refund", "scored": True}).json()["error"]
    for name in (
        "sort",
        "sentiment",
        "topic",
        "leakKind",
        "audioOnly",
        "direction",
        "durationMinSeconds",
        "evaluated",
        "transcriptSource",
    ):
        assert name in error
    assert Conversation.objects.count() == 0


# The vault's own speech-to-text (issue 15)


@pytest.fixture
def sourced(make_conversation):
    """One call Genesys transcribed and one the vault transcribed itself, both saying "refund"."""
    genesys = make_conversation("refund from genesys")
    vault = make_conversation("refund from the machine")
    Transcript.objects.filter(conversation=vault).update(
        source="vault-asr", asr_engine="pocketsphinx", asr_model="en-us (pocketsphinx 5.1.1)"
    )
    return {"genesys": genesys, "vault": vault}


def test_it_says_whose_transcript_each_result_is_in(client, headers, sourced):
    results = {r["conversationId"]: r for r in post(client, headers, {"query": "refund"}).json()["results"]}

    vault, genesys = results[sourced["vault"].genesys_id], results[sourced["genesys"].genesys_id]
    assert (vault["transcriptSource"], vault["asrEngine"], vault["asrModel"]) == (
        "vault-asr",
        "pocketsphinx",
        "en-us (pocketsphinx 5.1.1)",
    )
    assert (genesys["transcriptSource"], genesys["asrEngine"], genesys["asrModel"]) == ("genesys", None, None)


@pytest.mark.parametrize("source", ["genesys", "vault-asr"])
def test_it_narrows_results_to_one_transcript_source(client, headers, sourced, source):
    response = post(client, headers, {"query": "refund", "transcriptSource": source})

    expected = sourced["vault" if source == "vault-asr" else "genesys"]
    assert ids(response) == [expected.genesys_id]
    assert {r["transcriptSource"] for r in response.json()["results"]} == {source}
    assert AuditEvent.objects.get(action=AuditEvent.Action.SEARCH).detail["filters"] == {"transcript_source": source}
