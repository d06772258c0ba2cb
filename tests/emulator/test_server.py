from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
import requests

from genesys.emulator.documents import iter_document
from tests.emulator.support import (
    CLIENT_ID,
    END,
    START,
    api_session,
    make_emulator,
    ready_conversation,
    token_for,
    transcript_url,
)

QUERY = "/api/v2/analytics/conversations/details/query"
SEARCH = "/api/v2/speechandtextanalytics/transcripts/search"


def details_body(start=START, end=END, page_size=100, page_number=1, ended=True) -> dict:
    body = {
        "interval": f"{start.isoformat()}/{end.isoformat()}",
        "paging": {"pageSize": page_size, "pageNumber": page_number},
        "segmentFilters": [
            {
                "type": "and",
                "predicates": [
                    {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": "voice"},
                    {"type": "dimension", "dimension": "recording", "operator": "exists"},
                ],
            }
        ],
    }
    if ended:
        body["conversationFilters"] = [
            {"type": "and", "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}]}
        ]
    return body


def assert_error_body(response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["message"]
    assert body["contextId"] == response.headers["ININ-Correlation-Id"]
    assert body["details"] == [] or isinstance(body["details"], list)
    assert body["errors"] == []
    return body


# ---------------------------------------------------------------------------------------------- login


def test_it_issues_a_bearer_token_for_exact_credentials(base_url):
    response = requests.post(
        f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "test-secret")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 86399 and body["access_token"]


@pytest.mark.parametrize("auth", [(CLIENT_ID, "wrong"), ("other", "test-secret"), None])
def test_it_rejects_wrong_client_credentials_like_the_login_service(base_url, auth):
    response = requests.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "description": "authentication failed",
        "error_description": "authentication failed",
    }


def test_it_requires_a_bearer_token_on_the_api(base_url):
    response = requests.post(base_url + QUERY, json=details_body())
    assert_error_body(response, 401, "authentication.required")
    response = requests.post(base_url + QUERY, json=details_body(), headers={"Authorization": "Bearer nope"})
    assert_error_body(response, 401, "bad.credentials")


def test_it_expires_tokens_by_the_clock(dataset, clock):
    emulator = make_emulator(dataset, clock, token_ttl_s=300)
    with emulator.serve() as base_url:
        api = api_session(base_url)
        assert api.post(base_url + QUERY, json=details_body()).status_code == 200
        clock.advance(301)
        assert_error_body(api.post(base_url + QUERY, json=details_body()), 401, "bad.credentials")


# ---------------------------------------------------------------------------------------------- analytics


def test_it_pages_ended_recorded_conversations_with_total_hits(api, dataset, clock):
    first = api.post(api.base_url + QUERY, json=details_body(page_size=25))
    assert first.status_code == 200
    assert first.headers["inin-ratelimit-allowed"] == "300" and first.headers["inin-ratelimit-count"] == "1"
    assert first.headers["ININ-Correlation-Id"]
    body = first.json()
    assert body["totalHits"] == len(dataset.conversations)
    assert len(body["conversations"]) == 25
    pages = [body] + [
        api.post(api.base_url + QUERY, json=details_body(page_size=25, page_number=n)).json() for n in (2, 3)
    ]
    ids = [c["conversationId"] for page in pages for c in page["conversations"]]
    assert sorted(ids) == sorted(c.conversation_id for c in dataset.conversations)
    conv = body["conversations"][0]
    customer = next(p for p in conv["participants"] if p["purpose"] in ("customer", "external"))
    session = customer["sessions"][0]
    assert session["mediaType"] == "voice" and session["recording"] is True
    sim = dataset.conversation(conv["conversationId"])
    assert session["sessionId"] == sim.communication_ids[0]
    agent = next(p for p in conv["participants"] if p["purpose"] == "agent")
    assert agent["userId"] == sim.user_id
    assert agent["sessions"][0]["segments"][0]["queueId"] == sim.queue_id
    assert conv["conversationEnd"].endswith("Z")


def test_it_omits_conversations_when_there_are_no_hits(api):
    body = api.post(
        api.base_url + QUERY, json=details_body(START - timedelta(days=3), START - timedelta(days=2))
    ).json()
    assert body == {"totalHits": 0}


def test_it_hides_conversations_that_have_not_ended_by_the_clock(dataset, clock):
    clock.advance(-(clock.time() - END.timestamp()) - 3600)  # one hour before the window ends
    emulator = make_emulator(dataset, clock)
    now = clock.time()
    with emulator.serve() as base_url:
        api = api_session(base_url)
        ended = api.post(base_url + QUERY, json=details_body()).json()
        everything = api.post(base_url + QUERY, json=details_body(ended=False)).json()
    expected = [c for c in dataset.conversations if c.end.timestamp() <= now]
    assert ended["totalHits"] == len(expected)
    started = [c for c in dataset.conversations if c.start.timestamp() <= now]
    assert everything["totalHits"] == len(started)
    assert any("conversationEnd" not in c for c in everything["conversations"]) == (len(started) > len(expected))


@pytest.mark.parametrize(
    ("interval", "code"),
    [("yesterday/today", "invalid.date"), ("2026-05-02T00:00:00Z/2026-05-01T00:00:00Z", "bad.request")],
)
def test_it_rejects_bad_intervals_with_an_error_body(api, interval, code):
    body = details_body()
    body["interval"] = interval
    assert_error_body(api.post(api.base_url + QUERY, json=body), 400, code)


def test_it_accepts_intervals_longer_than_seven_days_because_no_maximum_is_documented(api, dataset):
    body = details_body()
    body["interval"] = "2026-04-01T00:00:00Z/2026-05-31T00:00:00Z"
    response = api.post(api.base_url + QUERY, json=body)
    assert response.status_code == 200 and response.json()["totalHits"] == len(dataset.conversations)


def test_it_rejects_page_sizes_over_100(api):
    assert_error_body(api.post(api.base_url + QUERY, json=details_body(page_size=101)), 400, "invalid.value")


# ---------------------------------------------------------------------------------------------- transcripts


def search_body(**extra) -> dict:
    query = [
        {
            "type": "DATE_RANGE",
            "fields": ["conversationStartTime"],
            "startValue": START.isoformat().replace("+00:00", "Z"),
            "endValue": END.isoformat().replace("+00:00", "Z"),
            "dateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSX",
        },
        {"type": "EXACT", "fields": ["mediaType"], "value": "call"},
    ]
    return {"types": ["transcripts"], "pageSize": 100, "pageNumber": 1, "query": query, **extra}


def test_it_searches_only_transcripts_that_are_ready_now(api, dataset, emulator, clock):
    body = api.post(api.base_url + SEARCH, json=search_body()).json()
    ready = {c.conversation_id for c in dataset.conversations if c.transcript and not c.transcript.delayed}
    assert {r["conversationId"] for r in body["results"]} == ready
    assert body["total"] == len(ready) and body["pageCount"] == 1
    hit = body["results"][0]
    assert set(hit) == {
        "conversationId",
        "communicationId",
        "transcriptId",
        "language",
        "mediaType",
        "conversationStartTime",
    }
    clock.advance(301)  # delayed transcripts count from the emulator's start and are now ready too
    later = api.post(api.base_url + SEARCH, json=search_body()).json()
    assert later["total"] == sum(1 for c in dataset.conversations if c.transcript)


def test_it_filters_search_by_exact_conversation_ids(api, dataset, emulator):
    conv = ready_conversation(dataset, emulator)
    body = search_body()
    body["query"].append({"type": "EXACT", "fields": ["conversationId"], "values": [conv.conversation_id]})
    results = api.post(api.base_url + SEARCH, json=body).json()["results"]
    assert [(r["conversationId"], r["communicationId"]) for r in results] == [
        (conv.conversation_id, conv.communication_ids[0])
    ]


def test_it_refuses_to_page_beyond_the_first_1000_results(api):
    response = api.post(api.base_url + SEARCH, json=search_body(pageSize=100, pageNumber=11))
    assert_error_body(response, 400, "bad.request")


def test_it_answers_404_until_the_transcript_is_ready(api, dataset, emulator, clock):
    conv = next(c for c in dataset.conversations if c.transcript and c.transcript.delayed)
    path = (
        f"/api/v2/speechandtextanalytics/conversations/{conv.conversation_id}"
        f"/communications/{conv.communication_ids[0]}/transcripturl"
    )
    assert_error_body(api.get(api.base_url + path), 404, "not.found")
    clock.advance(conv.transcript.ready_delay_s)
    response = api.get(api.base_url + path)
    assert response.status_code == 200 and "X-Amz-Expires=600" in response.json()["url"]
    agent_leg = path.replace(conv.communication_ids[0], conv.communication_ids[1])
    assert_error_body(api.get(api.base_url + agent_leg), 404, "not.found")


def test_it_never_readies_a_missing_transcript(api, dataset):
    conv = next(c for c in dataset.conversations if c.transcript is None)
    path = (
        f"/api/v2/speechandtextanalytics/conversations/{conv.conversation_id}"
        f"/communications/{conv.communication_ids[0]}/transcripturl"
    )
    assert api.get(api.base_url + path).status_code == 404


def test_it_lists_transcript_urls_per_recording(api, dataset, emulator):
    conv = ready_conversation(dataset, emulator)
    path = (
        f"/api/v2/speechandtextanalytics/conversations/{conv.conversation_id}"
        f"/communications/{conv.communication_ids[0]}/transcripturls"
    )
    body = api.get(api.base_url + path).json()
    assert body["conversation"]["id"] == conv.conversation_id
    assert body["communicationId"] == conv.communication_ids[0]
    assert body["urls"][0]["recording"]["id"] == conv.recording_ids[0]
    assert requests.get(body["urls"][0]["url"]).json()["conversationId"] == conv.conversation_id


# ---------------------------------------------------------------------------------------------- S3


def test_it_serves_the_exact_document_with_strong_etag_and_ranges(api, dataset, emulator):
    conv = ready_conversation(dataset, emulator)
    expected = b"".join(iter_document(dataset, conv))
    url = transcript_url(api, conv)
    full = requests.get(url)
    assert full.status_code == 200 and full.content == expected
    assert full.headers["ETag"] == f'"{hashlib.md5(expected).hexdigest()}"'
    assert full.headers["Accept-Ranges"] == "bytes"
    assert full.headers["Content-Length"] == str(len(expected))
    part = requests.get(url, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == expected[10:100]
    assert part.headers["Content-Range"] == f"bytes 10-99/{len(expected)}"
    tail = requests.get(url, headers={"Range": "bytes=100-", "If-Range": full.headers["ETag"]})
    assert tail.status_code == 206 and tail.content == expected[100:]
    suffix = requests.get(url, headers={"Range": "bytes=-5"})
    assert suffix.content == expected[-5:]
    stale = requests.get(url, headers={"Range": "bytes=100-", "If-Range": '"0000"'})
    assert stale.status_code == 200 and stale.content == expected
    beyond = requests.get(url, headers={"Range": f"bytes={len(expected)}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(expected)}"
    head = requests.head(url)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(expected)) and not head.content


def test_it_sends_last_modified_as_the_transcript_ready_time_on_200_206_and_head(api, dataset, emulator):
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    conv = ready_conversation(dataset, emulator)
    ready_at = datetime.fromtimestamp(emulator.transcript_ready_at(conv), UTC).replace(microsecond=0)
    url = transcript_url(api, conv)
    responses = [requests.get(url), requests.get(url, headers={"Range": "bytes=10-99"}), requests.head(url)]
    assert [r.status_code for r in responses] == [200, 206, 200]
    for response in responses:
        assert parsedate_to_datetime(response.headers["Last-Modified"]) == ready_at
        assert response.headers["Last-Modified"].endswith(" GMT")


def test_it_rejects_a_bearer_header_on_presigned_urls(api, dataset, emulator):
    url = transcript_url(api, ready_conversation(dataset, emulator))
    response = requests.get(url, headers={"Authorization": api.headers["Authorization"]})
    assert response.status_code == 400 and b"<Code>InvalidArgument</Code>" in response.content


def test_it_expires_presigned_urls_after_ten_minutes_of_clock_time(api, dataset, emulator, clock):
    url = transcript_url(api, ready_conversation(dataset, emulator))
    clock.advance(599)
    assert requests.get(url).status_code == 200
    clock.advance(2)
    response = requests.get(url)
    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content and b"Request has expired" in response.content


def test_it_rejects_tampered_signatures(api, dataset, emulator):
    url = transcript_url(api, ready_conversation(dataset, emulator))
    response = requests.get(url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000"))
    assert response.status_code == 403 and b"SignatureDoesNotMatch" in response.content


def test_it_streams_a_large_document_identically_to_concurrent_readers(api, dataset, emulator):
    conv = ready_conversation(dataset, emulator, kind="large")
    url = transcript_url(api, conv)
    bodies: list[bytes] = []

    def fetch() -> None:
        bodies.append(requests.get(url).content)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bodies) == 3 and len(set(bodies)) == 1
    assert len(bodies[0]) > 2_500_000
    assert bodies[0] == b"".join(iter_document(dataset, conv))


# ---------------------------------------------------------------------------------------------- recordings


def test_it_answers_202_while_transcoding_then_lists_recordings(api, dataset, emulator, clock):
    conv = ready_conversation(dataset, emulator)
    path = f"{api.base_url}/api/v2/conversations/{conv.conversation_id}/recordings"
    pending = api.get(path, params={"formatId": "WAV", "maxWaitMs": 0})
    assert pending.status_code == 202 and pending.content == b""
    clock.advance(10)
    recordings = api.get(path, params={"formatId": "WAV", "maxWaitMs": 0}).json()
    recording = recordings[0]
    assert recording["id"] == conv.recording_ids[0] and recording["sessionId"] == conv.communication_ids[0]
    assert recording["media"] == "audio" and recording["fileState"] == "AVAILABLE"
    audio = requests.get(recording["mediaUris"]["S"]["mediaUri"])
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    assert len(audio.content) == recording["outputSizeInBytes"] and audio.content[:4] == b"RIFF"
    single = api.get(f"{path}/{conv.recording_ids[0]}", params={"formatId": "WAV"}).json()
    assert single["mediaUris"]["S"]["mediaUri"]
    metadata = api.get(f"{api.base_url}/api/v2/conversations/{conv.conversation_id}/recordingmetadata").json()
    assert metadata[0]["sessionId"] == conv.communication_ids[0] and "mediaUris" not in metadata[0]


def test_it_holds_the_request_up_to_max_wait_ms(api, dataset, emulator, clock):
    conv = ready_conversation(dataset, emulator)
    before = clock.time()
    response = api.get(
        f"{api.base_url}/api/v2/conversations/{conv.conversation_id}/recordings",
        params={"formatId": "WAV", "maxWaitMs": 10_000},
    )
    assert response.status_code == 200 and clock.time() - before <= 10


def test_it_runs_batch_downloads_by_the_clock(api, dataset, emulator, clock):
    convs = [c for c in dataset.conversations if c.end.timestamp() <= clock.time()][:5]
    items = [{"conversationId": c.conversation_id, "recordingId": c.recording_ids[0]} for c in convs]
    items.append({"conversationId": convs[0].conversation_id, "recordingId": "missing"})
    job = api.post(api.base_url + "/api/v2/recording/batchrequests", json={"batchDownloadRequestList": items}).json()
    status = api.get(f"{api.base_url}/api/v2/recording/batchrequests/{job['id']}").json()
    assert status["status"] == "InProgress" and status["expectedResultCount"] == 6
    clock.advance(5)
    status = api.get(f"{api.base_url}/api/v2/recording/batchrequests/{job['id']}").json()
    assert status["status"] == "Completed" and status["resultCount"] == 6 and status["errorCount"] == 1
    ok = [r for r in status["results"] if "resultUrl" in r]
    assert ok[0]["contentType"] == "audio/wav"
    assert requests.get(ok[0]["resultUrl"]).content == dataset.conversation(ok[0]["conversationId"]).wav_bytes()


def test_it_limits_batch_requests_to_100_items(api, dataset):
    items = [{"conversationId": dataset.conversations[0].conversation_id}] * 101
    response = api.post(api.base_url + "/api/v2/recording/batchrequests", json={"batchDownloadRequestList": items})
    assert_error_body(response, 400, "invalid.value")


# ---------------------------------------------------------------------------------------------- directory, limits


def test_it_looks_up_queue_and_user_names_in_bulk(api, dataset):
    first, second = dataset.queues[0], dataset.queues[1]
    queues = api.get(f"{api.base_url}/api/v2/routing/queues?id={first['id']}&id={second['id']}").json()
    assert {q["name"] for q in queues["entities"]} == {first["name"], second["name"]}
    assert queues["entities"][0]["division"]["name"]
    user_ids = ",".join(u["id"] for u in dataset.users[:3])  # the SDK joins lists with commas
    users = api.get(f"{api.base_url}/api/v2/users", params={"id": user_ids}).json()
    assert {u["name"] for u in users["entities"]} == {u["name"] for u in dataset.users[:3]}


def test_it_accepts_repeated_id_params_like_the_real_api_and_omits_unknown_ids(api, dataset):
    user_ids = [u["id"] for u in dataset.users[:3]]
    users = api.get(f"{api.base_url}/api/v2/users", params={"id": [*user_ids, "unknown-id"], "pageSize": 100}).json()
    assert sorted(u["id"] for u in users["entities"]) == sorted(user_ids)
    queue = dataset.queues[2]
    queues = api.get(f"{api.base_url}/api/v2/routing/queues", params={"id": [queue["id"]], "pageSize": 100}).json()
    assert [(q["id"], q["name"], q["division"]["id"]) for q in queues["entities"]] == [
        (queue["id"], queue["name"], queue["division_id"])
    ]


def test_it_refuses_directory_look_ups_without_their_permissions(dataset, clock):
    emulator = make_emulator(dataset, clock, denied_permissions={"routing:queue:view", "directory:user:view"})
    with emulator.serve() as base_url:
        api = api_session(base_url)
        queues = api.get(f"{base_url}/api/v2/routing/queues", params={"id": [dataset.queues[0]["id"]]})
        users = api.get(f"{base_url}/api/v2/users", params={"id": [dataset.users[0]["id"]]})
        assert queues.status_code == 403 and "routing:queue:view" in queues.json()["message"]
        assert users.status_code == 403 and "directory:user:view" in users.json()["message"]
        assert queues.headers["ININ-Correlation-Id"] and queues.json()["contextId"]


def test_it_rate_limits_per_token_in_a_fixed_window(dataset, clock):
    emulator = make_emulator(dataset, clock, rate_limit_per_minute=3)
    with emulator.serve() as base_url:
        api = api_session(base_url)
        statuses = [api.post(base_url + QUERY, json=details_body()).status_code for _ in range(3)]
        clock.advance(20)
        limited = api.post(base_url + QUERY, json=details_body())
        assert statuses == [200, 200, 200]
        body = assert_error_body(limited, 429, "too.many.requests.retry.after")
        assert limited.headers["Retry-After"] == "40"
        assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [40] seconds"
        clock.advance(40)
        assert api.post(base_url + QUERY, json=details_body()).status_code == 200
        assert requests.post(f"{base_url}/oauth/token", data={"grant_type": "client_credentials"}).status_code == 401
        assert emulator.stats.rate_limited == 1 and emulator.stats.api_calls == 5
        assert emulator.stats.token_requests == 2


def test_it_denies_endpoints_whose_permissions_the_role_lacks(dataset, clock):
    emulator = make_emulator(dataset, clock, denied_permissions={"recording:recording:view"})
    conv = dataset.conversations[0]
    with emulator.serve() as base_url:
        api = api_session(base_url)
        response = api.get(f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordingmetadata")
        body = assert_error_body(response, 403, "missing.any.permissions")
        assert "[recording:recording:view" in body["message"]
        assert api.post(base_url + QUERY, json=details_body()).status_code == 200


def test_it_counts_calls_by_endpoint_and_resets(api, emulator, dataset):
    api.post(api.base_url + QUERY, json=details_body())
    api.get(f"{api.base_url}/api/v2/conversations/{dataset.conversations[0].conversation_id}/recordingmetadata")
    stats = emulator.stats
    assert stats.api_calls == 2 and stats.token_requests == 1
    assert stats.by_endpoint["analytics.details.query"] == 1 and stats.by_endpoint["recording.metadata"] == 1
    assert stats.by_status[("analytics.details.query", 200)] == 1
    emulator.reset_stats()
    assert emulator.stats.api_calls == 0


def test_it_issues_distinct_tokens(base_url):
    assert token_for(base_url) != token_for(base_url)
