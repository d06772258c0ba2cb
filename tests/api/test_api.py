from __future__ import annotations

import datetime as dt
import json
import sys
import types

import pytest
from django.utils import timezone

from reviews.models import (
    ApiToken,
    AudioRecording,
    AuditEvent,
    OutboxMessage,
    RedactionFinding,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer():
    def issue(user) -> dict:
        _token, key = ApiToken.issue(user=user, name="test")
        return {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    return issue


@pytest.fixture
def reviewer(make_user):
    return make_user(groups=["Reviewer"], queues=["q-mine"])


@pytest.fixture
def mine(make_conversation):
    return make_conversation("I need a refund for the <b>order</b>", "sure, refund issued", queue="q-mine")


@pytest.fixture
def theirs(make_conversation):
    return make_conversation("refund somewhere else", queue="q-theirs")


def post(client, url, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **headers)


SEARCH = "/api/transcripts/search"
PROCESS = "/api/transcripts/process"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer tv_wrong"},
        {"HTTP_AUTHORIZATION": "Basic abc"},
        {"HTTP_AUTHORIZATION": "Bearer"},
    ],
)
def test_it_answers_401_json_without_a_valid_token(client, headers):
    response = post(client, SEARCH, {"query": "refund"}, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]


def test_it_audits_rejected_tokens(client):
    post(client, SEARCH, {"query": "x"}, HTTP_AUTHORIZATION="Bearer tv_wrongtoken")
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert event.object_id == "tv_wro" and "wrongtoken" not in json.dumps(event.detail)


def test_it_ignores_session_cookies(client, staff):
    client.force_login(staff)
    assert post(client, SEARCH, {"query": "refund"}).status_code == 401


def test_it_rejects_tokens_of_inactive_users(client, staff, bearer):
    headers = bearer(staff)
    staff.is_active = False
    staff.save()
    assert post(client, SEARCH, {"query": "refund"}, **headers).status_code == 401


def test_it_searches_within_scope_and_audits_the_terms(client, reviewer, bearer, mine, theirs):
    response = post(client, SEARCH, {"query": "refund -nothing", "limit": 1}, **bearer(reviewer))
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and body["nextCursor"] and not body["totalCapped"]
    (result,) = body["results"]
    assert result["conversationId"] == mine.genesys_id
    assert set(result) == {"conversationId", "communicationId", "speaker", "startMs", "snippet", "score"}
    assert "<mark>refund</mark>" in result["snippet"] and "<b>" not in result["snippet"]
    second = post(client, SEARCH, {"query": "refund -nothing", "cursor": body["nextCursor"]}, **bearer(reviewer))
    assert [r["conversationId"] for r in second.json()["results"]] == [mine.genesys_id]
    event = AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).first()
    assert event.user == reviewer and event.detail["terms"] == ["refund", "-nothing"] and event.detail["via"] == "api"


def test_it_applies_search_filters(client, staff, bearer, mine, theirs):
    body = {
        "query": "refund",
        "queue": "q-theirs",
        "speaker": "internal",
        "dateFrom": "2025-01-01",
        "dateTo": "2030-01-01T00:00:00Z",
    }
    results = post(client, SEARCH, body, **bearer(staff)).json()["results"]
    assert [r["conversationId"] for r in results] == [theirs.genesys_id]


def test_it_explains_exclusion_only_queries(client, staff, bearer, mine):
    body = post(client, SEARCH, {"query": "-refund"}, **bearer(staff)).json()
    assert body["results"] == [] and body["total"] == 0 and body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": 5}, "query"),
        ({"query": "x" * 1001}, "query"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "limit": 101}, "limit"),
        ({"query": "x", "limit": "20"}, "limit"),
        ({"query": "x", "cursor": "!!"}, "cursor"),
        ({"query": "x", "speaker": "robot"}, "speaker"),
        ({"query": "x", "dateFrom": "yesterday"}, "dateFrom"),
        ({"query": "x", "dateTo": "2025-13-45"}, "dateTo"),
        ({"query": "x", "confidenceMin": 2}, "confidenceMin"),
        ({"query": "x", "redactionStatus": "maybe"}, "redactionStatus"),
        ({"query": "x", "reviewStatus": "done"}, "reviewStatus"),
        ({"query": "x", "queue": [1]}, "queue"),
        ({"query": "x", "bogus": 1}, "bogus"),
    ],
)
def test_it_names_the_bad_field(client, staff, bearer, body, field):
    response = post(client, SEARCH, body, **bearer(staff))
    assert response.status_code == 400
    assert f"'{field}'" in response.json()["error"]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", b"\xff\xfe"])
def test_it_rejects_invalid_json(client, staff, bearer, raw):
    response = post(client, SEARCH, raw, **bearer(staff))
    assert response.status_code == 400 and "JSON" in response.json()["error"]


def test_it_answers_405_in_json(client, staff, bearer):
    response = client.get(SEARCH, **bearer(staff))
    assert response.status_code == 405 and response["Allow"] == "POST" and response.json()["error"]


@pytest.mark.parametrize("query", ['"', "NEAR(a b)", "a" * 1000, "😀", "'; DROP TABLE x; --", "(", "\\"])
def test_it_never_fails_on_hostile_queries(client, staff, bearer, mine, query):
    assert post(client, SEARCH, {"query": query}, **bearer(staff)).status_code == 200


def test_it_returns_a_transcript_in_scope(client, reviewer, bearer, mine):
    transcript = mine.transcripts.get()
    RedactionFinding.objects.create(
        transcript=transcript, kind="card_number", rule="luhn", confidence=0.9, start_ms=1000, masked_excerpt="****"
    )
    recording = AudioRecording.objects.create(
        conversation=mine, recording_id="rec-1", sha256="a" * 64, size_bytes=10, content_type="audio/wav", raw_path="x"
    )
    OutboxMessage.objects.create(
        transcript=transcript,
        sink="filesystem",
        idempotency_key="k",
        payload={},
        state="delivered",
        delivered_at=timezone.now(),
    )
    response = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer))
    assert response.status_code == 200
    body = response.json()
    assert body["conversationId"] == mine.genesys_id and body["state"] == "stored"
    (entry,) = body["transcripts"]
    assert entry["communicationId"] == transcript.communication_id and entry["sha256"] == transcript.sha256
    assert [u["text"] for u in entry["utterances"]] == ["I need a refund for the <b>order</b>", "sure, refund issued"]
    assert body["redaction"]["findings"] == [{"kind": "card_number", "rule": "luhn", "startMs": 1000}]
    assert body["audio"]["available"] and body["audio"]["url"].endswith(
        f"/conversations/{mine.genesys_id}/audio/{recording.pk}"
    )
    assert body["compliance"][0]["sink"] == "filesystem" and body["compliance"][0]["deliveredAt"]
    assert "confidenceMean" in body["metrics"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW_TRANSCRIPT)
    assert event.object_id == mine.genesys_id and event.detail == {"via": "api"}


def test_it_answers_the_same_404_outside_scope_and_for_unknown_ids(client, reviewer, bearer, theirs):
    headers = bearer(reviewer)
    outside = client.get(f"/api/transcripts/{theirs.genesys_id}", **headers)
    unknown = client.get("/api/transcripts/does-not-exist", **headers)
    assert outside.status_code == unknown.status_code == 404
    assert outside.json() == unknown.json() == {"error": "conversation not found"}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED).count() == 2


@pytest.fixture
def fake_pipeline(monkeypatch):
    """reviews.pipeline may not exist yet; inject a module so the view's import finds enqueue_conversation."""
    calls = []

    def enqueue_conversation(genesys_id):
        calls.append(genesys_id)
        return "job-123"

    module = types.ModuleType("reviews.pipeline")
    module.enqueue_conversation = enqueue_conversation
    monkeypatch.setitem(sys.modules, "reviews.pipeline", module)
    return calls


def test_it_enqueues_processing_for_reviewers(client, reviewer, bearer, mine, fake_pipeline):
    response = post(client, PROCESS, {"conversationId": mine.genesys_id}, **bearer(reviewer))
    assert response.status_code == 202
    assert response.json() == {"jobId": "job-123", "conversationId": mine.genesys_id}
    assert fake_pipeline == [mine.genesys_id]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_ACCESS, object_id=mine.genesys_id).exists()


def test_it_lets_staff_enqueue_unknown_conversations(client, staff, bearer, fake_pipeline):
    new_id = "0b1e5a1e-1111-4222-8333-444455556666"
    assert post(client, PROCESS, {"conversationId": new_id}, **bearer(staff)).status_code == 202
    assert fake_pipeline == [new_id]


def test_it_forbids_processing_for_read_only_users(client, make_user, bearer, mine, fake_pipeline):
    compliance = make_user(groups=["Compliance"])
    response = post(client, PROCESS, {"conversationId": mine.genesys_id}, **bearer(compliance))
    assert response.status_code == 403 and response.json()["error"]
    assert fake_pipeline == []


def test_it_hides_out_of_scope_conversations_from_processing(client, reviewer, bearer, theirs, fake_pipeline):
    headers = bearer(reviewer)
    outside = post(client, PROCESS, {"conversationId": theirs.genesys_id}, **headers)
    unknown = post(client, PROCESS, {"conversationId": "0b1e5a1e-0000-4000-8000-000000000000"}, **headers)
    assert outside.status_code == unknown.status_code == 404 and fake_pipeline == []


@pytest.mark.parametrize("conversation_id", [None, 5, "", "x" * 65, "../etc", "a b", "-abc"])
def test_it_validates_the_conversation_id(client, staff, bearer, fake_pipeline, conversation_id):
    response = post(client, PROCESS, {"conversationId": conversation_id}, **bearer(staff))
    assert response.status_code == 400 and "'conversationId'" in response.json()["error"]


def test_it_updates_last_used_at_at_most_once_a_minute(client, staff, mine):
    token, key = ApiToken.issue(user=staff)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    post(client, SEARCH, {"query": "refund"}, **headers)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    post(client, SEARCH, {"query": "refund"}, **headers)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    post(client, SEARCH, {"query": "refund"}, **headers)
    token.refresh_from_db()
    assert token.last_used_at > first - dt.timedelta(minutes=1)
