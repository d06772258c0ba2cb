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
    def issue(user, scope: str = ApiToken.Scope.READ) -> dict:
        _token, key = ApiToken.issue(user=user, name="test", scope=scope)
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
RESULT_FIELDS = {
    "conversationId",
    "communicationId",
    "speaker",
    "startMs",
    "snippet",
    "score",
    "transcriptSource",
    "asrEngine",
    "asrModel",
}
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
    assert set(result) == RESULT_FIELDS
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
    assert body["redaction"]["findings"] == [
        {
            "kind": "card_number",
            "rule": "luhn",
            "startMs": 1000,
            "communicationId": transcript.communication_id,
            "recordingId": None,
        }
    ]
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
    response = post(client, PROCESS, {"conversationId": mine.genesys_id}, **bearer(reviewer, "process"))
    assert response.status_code == 202
    assert response.json() == {"jobId": "job-123", "conversationId": mine.genesys_id}
    assert fake_pipeline == [mine.genesys_id]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.API_ACCESS, object_id=mine.genesys_id).exists()


def test_it_lets_all_seeing_supervisors_enqueue_unknown_conversations(client, staff, bearer, fake_pipeline):
    new_id = "0b1e5a1e-1111-4222-8333-444455556666"
    assert post(client, PROCESS, {"conversationId": new_id}, **bearer(staff, "process")).status_code == 202
    assert fake_pipeline == [new_id]


def test_it_forbids_processing_for_read_only_users(client, make_user, bearer, mine, fake_pipeline):
    compliance = make_user(groups=["Compliance"])
    response = post(client, PROCESS, {"conversationId": mine.genesys_id}, **bearer(compliance, "process"))
    assert response.status_code == 403 and response.json()["error"]
    assert fake_pipeline == []


def test_it_hides_out_of_scope_conversations_from_processing(client, reviewer, bearer, theirs, fake_pipeline):
    headers = bearer(reviewer, "process")
    outside = post(client, PROCESS, {"conversationId": theirs.genesys_id}, **headers)
    unknown = post(client, PROCESS, {"conversationId": "0b1e5a1e-0000-4000-8000-000000000000"}, **headers)
    assert outside.status_code == unknown.status_code == 404 and fake_pipeline == []


@pytest.mark.parametrize("conversation_id", [None, 5, "", "x" * 65, "../etc", "a b", "-abc"])
def test_it_validates_the_conversation_id(client, staff, bearer, fake_pipeline, conversation_id):
    response = post(client, PROCESS, {"conversationId": conversation_id}, **bearer(staff, "process"))
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


# Several transcript parts, every recording, the final states


def _add_part(conversation, *, communication_id, recording_id, part_start_ms, texts, **fields):
    from reviews.models import Transcript, Utterance

    values = {
        "sha256": "f" * 64,
        "size_bytes": 50,
        "raw_path": f"transcripts/{recording_id}.json",
        "redaction_status": "verified",
    }
    part = Transcript.objects.create(
        conversation=conversation,
        communication_id=communication_id,
        recording_id=recording_id,
        part_start_ms=part_start_ms,
        **values | fields,
    )
    for index, (speaker, start_ms, text) in enumerate(texts):
        Utterance.objects.create(
            transcript=part,
            conversation=conversation,
            index=index,
            speaker=speaker,
            start_ms=start_ms,
            end_ms=start_ms + 500,
            text=text,
        )
    return part


@pytest.fixture
def two_parts(mine):
    """`mine`'s first transcript (starting at 0) plus a consult leg's part, stored first but later in the call."""
    from reviews.models import Transcript

    first = mine.transcripts.get()
    Transcript.objects.filter(pk=first.pk).update(
        recording_id="rec-a",
        part_start_ms=0,
        sha256="a" * 64,
        media_type="call",
        utterance_count=2,
        word_count=100,
        speaker_count=2,
        confidence_mean=0.9,
        confidence_median=0.92,
        low_confidence_share=0.1,
        talk_ms_internal=1_000,
        talk_ms_external=2_000,
        availability_latency_ms=60_000,
        store_latency_ms=500,
        download_seconds=0.5,
    )
    second = _add_part(
        mine,
        communication_id="comm-consult",
        recording_id="rec-b",
        part_start_ms=90_000,
        texts=[("internal", 90_000, "consult speaking"), ("internal", 95_000, "refund approved")],
        sha256="b" * 64,
        content_encoding="gzip",
        media_type="callback",
        redaction_status="leaks_found",
        mask_counts={"phone": 1},
        utterance_count=2,
        word_count=300,
        speaker_count=1,
        confidence_mean=0.5,
        confidence_median=0.55,
        low_confidence_share=0.5,
        talk_ms_internal=4_000,
        talk_ms_external=0,
        availability_latency_ms=80_000,
        store_latency_ms=700,
        download_seconds=0.25,
    )
    first.refresh_from_db()
    return first, second


def test_it_returns_one_entry_per_part_in_time_order(client, reviewer, bearer, mine, two_parts):
    first, second = two_parts
    # Stored last, but the call's second recording segment (after a hold): time order, not storage order.
    _add_part(
        mine,
        communication_id=first.communication_id,
        recording_id="rec-a2",
        part_start_ms=30_000,
        texts=[("external", 30_000, "back from hold")],
        sha256="c" * 64,
    )
    body = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer)).json()
    entries = body["transcripts"]
    assert [(e["part"], e["communicationId"], e["recordingId"], e["partStartMs"], e["sha256"][0]) for e in entries] == [
        (1, first.communication_id, "rec-a", 0, "a"),
        (2, first.communication_id, "rec-a2", 30_000, "c"),
        (3, "comm-consult", "rec-b", 90_000, "b"),
    ]
    entries = [entries[0], entries[2]]
    assert (entries[0]["mediaType"], entries[0]["contentEncoding"]) == ("call", None)
    assert (entries[1]["mediaType"], entries[1]["contentEncoding"]) == ("callback", "gzip")
    assert [u["text"] for u in entries[0]["utterances"]] == [
        "I need a refund for the <b>order</b>",
        "sure, refund issued",
    ]
    assert [u["text"] for u in entries[1]["utterances"]] == ["consult speaking", "refund approved"]
    assert entries[1]["metrics"]["wordCount"] == 300 and entries[1]["redactionStatus"] == "leaks_found"
    assert body["redaction"]["status"] == "leaks_found" and body["redaction"]["maskCounts"] == {"phone": 1}


def test_it_combines_metrics_over_every_part(client, reviewer, bearer, mine, two_parts):
    metrics = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer)).json()["metrics"]
    assert metrics["utteranceCount"] == 4 and metrics["wordCount"] == 400
    assert (metrics["talkMsInternal"], metrics["talkMsExternal"]) == (5_000, 2_000)
    assert metrics["confidenceMean"] == pytest.approx((0.9 * 100 + 0.5 * 300) / 400)
    assert metrics["lowConfidenceShare"] == pytest.approx((0.1 * 100 + 0.5 * 300) / 400)
    assert metrics["confidenceMedian"] is None  # medians do not combine
    assert metrics["speakerCount"] == 2  # distinct sides over both parts' turns
    assert (metrics["availabilityLatencyMs"], metrics["storeLatencyMs"]) == (80_000, 700)
    assert metrics["downloadSeconds"] == pytest.approx(0.75)


def test_it_keeps_a_single_parts_metrics_unchanged(client, reviewer, bearer, mine):
    from reviews.models import Transcript

    Transcript.objects.filter(conversation=mine).update(confidence_median=0.8, word_count=7, speaker_count=2)
    metrics = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer)).json()["metrics"]
    assert (metrics["confidenceMedian"], metrics["wordCount"], metrics["speakerCount"]) == (0.8, 7, 2)


def test_it_lists_every_kept_recording(client, reviewer, bearer, mine):
    first = AudioRecording.objects.create(
        conversation=mine, recording_id="rec-1", sha256="1" * 64, size_bytes=10, content_type="audio/wav", raw_path="a"
    )
    second = AudioRecording.objects.create(
        conversation=mine,
        recording_id="rec-2",
        sha256="2" * 64,
        size_bytes=20,
        content_type="audio/ogg",
        raw_path="b",
        source="batch",
        stored_at=first.stored_at + dt.timedelta(seconds=1),
    )
    audio = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer)).json()["audio"]
    assert [r["recordingId"] for r in audio["recordings"]] == ["rec-1", "rec-2"]
    assert audio["recordings"][1]["url"].endswith(f"/conversations/{mine.genesys_id}/audio/{second.pk}")
    assert (audio["recordings"][1]["source"], audio["recordings"][1]["media"]) == ("batch", "audio")
    # The old keys still describe the first recording.
    assert audio["available"] and audio["sha256"] == "1" * 64
    assert audio["url"].endswith(f"/audio/{first.pk}")


@pytest.mark.parametrize("state", ["restricted", "archived", "audio_unavailable", "failed"])
def test_it_reports_a_final_states_outcome(client, reviewer, bearer, mine, state):
    from reviews.models import Conversation

    mine.transcripts.all().delete()
    Conversation.objects.filter(pk=mine.pk).update(state=state, outcome="missing conversation:view in division X")
    body = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer)).json()
    assert body["state"] == state and body["stateLabel"] == dict(Conversation.State.choices)[state]
    assert body["outcome"] == "missing conversation:view in division X"
    assert body["transcripts"] == [] and body["metrics"] is None
    assert body["audio"] == {"available": False, "sha256": None, "url": None, "recordings": []}


def test_it_lists_every_division_the_call_touched(client, reviewer, bearer, mine):
    from reviews.models import Division

    mine.divisions.add(
        Division.objects.create(genesys_id="div-b", name="B"), Division.objects.create(genesys_id="div-a")
    )
    body = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer)).json()
    assert body["divisions"] == [{"id": "div-a", "name": ""}, {"id": "div-b", "name": "B"}]


def test_it_searches_every_part_with_the_same_result_shape(client, reviewer, bearer, mine, two_parts):
    results = post(client, SEARCH, {"query": "approved"}, **bearer(reviewer)).json()["results"]
    (hit,) = results
    assert (hit["conversationId"], hit["communicationId"], hit["startMs"]) == (mine.genesys_id, "comm-consult", 95_000)
    assert set(hit) == RESULT_FIELDS


def test_it_says_whose_transcript_each_part_is(client, reviewer, bearer, mine, two_parts):
    from reviews.models import Transcript

    _first, second = two_parts
    Transcript.objects.filter(pk=second.pk).update(
        source="vault-asr", asr_engine="pocketsphinx", asr_model="en-us (pocketsphinx 5.1.1)"
    )
    entries = client.get(f"/api/transcripts/{mine.genesys_id}", **bearer(reviewer)).json()["transcripts"]
    assert [(e["transcriptSource"], e["asrEngine"], e["asrModel"]) for e in entries] == [
        ("genesys", None, None),
        ("vault-asr", "pocketsphinx", "en-us (pocketsphinx 5.1.1)"),
    ]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW_TRANSCRIPT, object_id=mine.genesys_id).exists()
