from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses

from genesys.client import iso_utc, retry_after_seconds
from genesys.errors import (
    AuthenticationError,
    GenesysError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
)

START = datetime(2026, 5, 1, tzinfo=UTC)
DETAILS = "/api/v2/analytics/conversations/details/query"
SEARCH = "/api/v2/speechandtextanalytics/transcripts/search"


def body_of(call) -> dict:
    return json.loads(call.request.body)


def api_calls(rsps, path):
    return [c for c in rsps.calls if c.request.url.split("?")[0].endswith(path)]


def test_it_formats_dates_as_utc_with_milliseconds():
    assert iso_utc(datetime(2026, 5, 1, 2, 3, 4, 567890, tzinfo=UTC)) == "2026-05-01T02:03:04.567Z"
    with pytest.raises(ValueError):
        iso_utc(datetime(2026, 5, 1))


def test_it_sends_bearer_token_timeout_and_counts_calls(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/conversations/c1/recordingmetadata", json=[{"id": "r1"}])
    events = []
    client = make_client(on_request=events.append)
    sent = {}
    original = client.session.request

    def spy(*args, **kwargs):
        sent.update(kwargs)
        return original(*args, **kwargs)

    client.session.request = spy
    assert client.list_recording_metadata("c1") == [{"id": "r1"}]
    request = api_calls(mocked, "recordingmetadata")[0].request
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert sent["timeout"] == (10.0, 30.0)
    assert client.stats.api_calls == 1 and client.stats.token_requests == 1
    assert client.stats.by_endpoint[("recording.metadata", 200)] == 1
    assert [e.endpoint for e in events] == ["oauth.token", "recording.metadata"]
    assert client.session.get_adapter("https://x").poolmanager.connection_pool_kw["maxsize"] == 16


def test_it_refreshes_the_token_once_on_401_and_retries_once(mocked, gx, make_client):
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "old", "expires_in": 3600})
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "new", "expires_in": 3600})
    url = f"{gx.API}/api/v2/conversations/c1/recordingmetadata"
    mocked.add(responses.GET, url, status=401, json={"code": "credentials.expired", "status": 401})
    mocked.add(responses.GET, url, json=[])
    client = make_client()
    assert client.list_recording_metadata("c1") == []
    auths = [c.request.headers["Authorization"] for c in api_calls(mocked, "recordingmetadata")]
    assert auths == ["Bearer old", "Bearer new"]


def test_it_raises_a_clear_error_when_the_refreshed_token_is_rejected_too(mocked, gx, make_client):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/conversations/c1/recordingmetadata"
    mocked.add(
        responses.GET,
        url,
        status=401,
        json={"message": "Invalid login credentials.", "code": "bad.credentials", "status": 401, "contextId": "ctx-9"},
    )
    with pytest.raises(AuthenticationError) as caught:
        make_client().list_recording_metadata("c1")
    assert len(api_calls(mocked, "recordingmetadata")) == 2
    assert caught.value.code == "bad.credentials" and caught.value.context_id == "ctx-9"
    assert "GENESYS_CLIENT_ID" in str(caught.value) and gx.CLIENT_SECRET not in str(caught.value)


def test_it_names_the_missing_permission_on_403(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(
        responses.GET,
        f"{gx.API}/api/v2/conversations/c1/recordingmetadata",
        status=403,
        headers={"ININ-Correlation-Id": "corr-1"},
        json={
            "message": "You are not authorized. You must have at least one of the following permissions assigned: "
            "[recording:recording:view, recording:recordingSegment:view]",
            "code": "missing.any.permissions",
            "status": 403,
            "details": [],
        },
    )
    with pytest.raises(PermissionDeniedError) as caught:
        make_client().list_recording_metadata("c1")
    error = caught.value
    assert error.missing_permissions == ["recording:recording:view", "recording:recordingSegment:view"]
    assert "recording:recording:view" in str(error)
    assert error.status == 403 and error.code == "missing.any.permissions" and error.context_id == "corr-1"


def test_it_reads_missing_permissions_from_details(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(
        responses.POST,
        f"{gx.API}{DETAILS}",
        status=403,
        json={
            "message": "Missing permission",
            "code": "missing.permissions",
            "status": 403,
            "details": [{"errorCode": "missing.permissions", "fieldName": "analytics:conversationDetail:view"}],
        },
    )
    with pytest.raises(PermissionDeniedError) as caught:
        list(make_client().query_conversation_details(start=START, end=START + timedelta(hours=1)))
    assert caught.value.missing_permissions == ["analytics:conversationDetail:view"]


def test_it_retries_5xx_with_bounded_full_jitter(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/recording/batchrequests/job-1"
    mocked.add(responses.GET, url, status=503, json={"code": "service.unavailable", "status": 503})
    client = make_client(max_retries=4, max_retry_seconds=1000)
    with pytest.raises(ServerError) as caught:
        client.get_batch_download("job-1")
    assert caught.value.status == 503
    assert len(api_calls(mocked, "job-1")) == 5  # first try + 4 retries
    sleeps = [s for s in clock.sleeps if s > 0]
    assert len(sleeps) == 4
    for attempt, slept in enumerate(sleeps):
        assert 0 <= slept <= min(30.0, 1.0 * 2**attempt)
    assert len(set(sleeps)) > 1  # jittered, not a fixed schedule
    assert client.stats.retries == 4


def test_it_stops_retrying_when_the_time_budget_is_spent(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/recording/batchrequests/job-1"
    mocked.add(responses.GET, url, status=500, headers={"Retry-After": "20"})
    with pytest.raises(ServerError):
        make_client(max_retries=10, max_retry_seconds=50).get_batch_download("job-1")
    assert sum(clock.sleeps) <= 50
    assert clock.sleeps.count(20.0) == 2  # Retry-After honoured, the third would pass the budget


def test_it_recovers_from_a_5xx_and_a_connection_error(mocked, gx, make_client):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/recording/batchrequests/job-1"
    mocked.add(responses.GET, url, status=502)
    mocked.add(responses.GET, url, body=requests.ConnectionError("reset"))
    mocked.add(responses.GET, url, json={"id": "job-1", "status": "Completed"})
    events = []
    client = make_client(on_request=events.append)
    assert client.get_batch_download("job-1")["status"] == "Completed"
    api_events = [e for e in events if e.endpoint == "recording.batch.get"]
    assert [(e.status, e.retry) for e in api_events] == [(502, False), (None, True), (200, True)]


def test_it_raises_transport_error_after_connection_retries(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/j", body=requests.ConnectTimeout("slow"))
    with pytest.raises(TransportError):
        make_client(max_retries=2).get_batch_download("j")


def test_it_waits_out_a_429_without_spending_the_5xx_budget(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/recording/batchrequests/j"
    for _ in range(3):
        mocked.add(
            responses.GET, url, status=429, headers={"Retry-After": "7"}, json={"code": "too.many.requests.retry.after"}
        )
    mocked.add(responses.GET, url, json={"id": "j"})
    client = make_client(max_retries=0)
    started = clock.time()
    assert client.get_batch_download("j") == {"id": "j"}
    assert clock.time() - started >= 21
    assert client.stats.rate_limited == 3


def test_it_gives_up_after_too_many_429s(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/j", status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimitedError) as caught:
        make_client().get_batch_download("j")
    assert caught.value.retry_after == 1.0
    assert len(api_calls(mocked, "batchrequests/j")) == 11


def test_it_pages_the_details_query_and_splits_long_ranges(mocked, gx, make_client):
    gx.add_token(mocked)
    pages = iter(
        [
            {"totalHits": 3, "conversations": [{"conversationId": "a"}, {"conversationId": "b"}]},
            {"totalHits": 3, "conversations": [{"conversationId": "c"}]},
            {"totalHits": 0},  # `conversations` omitted when empty
            {"totalHits": 1, "conversations": [{"conversationId": "c"}]},  # boundary day seen twice
        ]
    )
    mocked.add_callback(responses.POST, f"{gx.API}{DETAILS}", callback=lambda r: (200, {}, json.dumps(next(pages))))
    found = list(make_client().query_conversation_details(start=START, end=START + timedelta(days=20), page_size=2))
    assert [c["conversationId"] for c in found] == ["a", "b", "c"]
    bodies = [body_of(c) for c in api_calls(mocked, DETAILS)]
    assert [b["interval"] for b in bodies] == [
        "2026-05-01T00:00:00.000Z/2026-05-08T00:00:00.000Z",
        "2026-05-01T00:00:00.000Z/2026-05-08T00:00:00.000Z",
        "2026-05-08T00:00:00.000Z/2026-05-15T00:00:00.000Z",
        "2026-05-15T00:00:00.000Z/2026-05-21T00:00:00.000Z",
    ]
    assert [b["paging"] for b in bodies[:2]] == [{"pageSize": 2, "pageNumber": 1}, {"pageSize": 2, "pageNumber": 2}]
    first = bodies[0]
    assert first["conversationFilters"][0]["predicates"] == [
        {"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}
    ]
    assert {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": "voice"} in first[
        "segmentFilters"
    ][0]["predicates"]
    assert {"type": "dimension", "dimension": "recording", "operator": "exists"} in first["segmentFilters"][0][
        "predicates"
    ]


def test_it_searches_transcripts_with_the_documented_body_and_chunks_ids(mocked, gx, make_client):
    gx.add_token(mocked)

    def answer(request):
        body = json.loads(request.body)
        ids = next((q["values"] for q in body["query"] if q["fields"] == ["conversationId"]), [])
        return (
            200,
            {},
            json.dumps({"total": len(ids), "results": [{"conversationId": i, "communicationId": "m"} for i in ids]}),
        )

    mocked.add_callback(responses.POST, f"{gx.API}{SEARCH}", callback=answer)
    ids = [f"conv-{n}" for n in range(150)]
    found = list(make_client().search_transcripts(start=START, end=START + timedelta(hours=1), conversation_ids=ids))
    assert [r["conversationId"] for r in found] == ids
    bodies = [body_of(c) for c in api_calls(mocked, SEARCH)]
    assert len(bodies) == 2
    first = bodies[0]
    assert first["types"] == ["transcripts"] and first["pageNumber"] == 1 and first["pageSize"] == 100
    date_range, media, id_filter = first["query"]
    assert date_range == {
        "type": "DATE_RANGE",
        "fields": ["conversationStartTime"],
        "startValue": "2026-05-01T00:00:00.000Z",
        "endValue": "2026-05-01T01:00:00.000Z",
        "dateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSX",
    }
    assert media == {"type": "EXACT", "fields": ["mediaType"], "value": "call"}
    assert id_filter["type"] == "EXACT" and len(id_filter["values"]) == 100


def test_it_bisects_search_ranges_over_one_thousand_hits(mocked, gx, make_client):
    gx.add_token(mocked)
    # 1,500 transcripts spread evenly over 2 hours: only halves hold <= 1,000.
    all_hits = [START + timedelta(seconds=4.8 * n) for n in range(1500)]

    def answer(request):
        body = json.loads(request.body)
        date_range = body["query"][0]
        lower = datetime.fromisoformat(date_range["startValue"].replace("Z", "+00:00"))
        upper = datetime.fromisoformat(date_range["endValue"].replace("Z", "+00:00"))
        hits = [h for h in all_hits if lower <= h < upper]
        size, number = body["pageSize"], body["pageNumber"]
        page = hits[(number - 1) * size : number * size]
        results = [{"conversationId": iso_utc(h), "communicationId": "x"} for h in page]
        return 200, {}, json.dumps({"total": len(hits), "pageNumber": number, "results": results})

    mocked.add_callback(responses.POST, f"{gx.API}{SEARCH}", callback=answer)
    found = list(make_client().search_transcripts(start=START, end=START + timedelta(hours=2)))
    assert len(found) == 1500
    assert len({r["conversationId"] for r in found}) == 1500


def test_it_maps_transcript_url_404_to_none(mocked, gx, make_client):
    gx.add_token(mocked)
    base = f"{gx.API}/api/v2/speechandtextanalytics/conversations/c1/communications/m1"
    mocked.add(responses.GET, f"{base}/transcripturl", status=404, json={"code": "not.found", "status": 404})
    mocked.add(responses.GET, f"{base}/transcripturls", status=404, json={"code": "not.found", "status": 404})
    client = make_client()
    assert client.get_transcript_url("c1", "m1") is None
    assert client.get_transcript_urls("c1", "m1") is None


def test_it_returns_transcript_urls(mocked, gx, make_client):
    gx.add_token(mocked)
    base = f"{gx.API}/api/v2/speechandtextanalytics/conversations/c1/communications/m1"
    mocked.add(responses.GET, f"{base}/transcripturl", json={"url": "https://s3/x"})
    mocked.add(
        responses.GET,
        f"{base}/transcripturls",
        json={"communicationId": "m1", "urls": [{"recording": {"id": "r1"}, "url": "https://s3/1"}]},
    )
    client = make_client()
    assert client.get_transcript_url("c1", "m1") == "https://s3/x"
    assert client.get_transcript_urls("c1", "m1") == [{"url": "https://s3/1", "recordingId": "r1"}]


def test_it_returns_none_for_recordings_still_transcoding(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/conversations/c1/recordings", status=202, body="")
    mocked.add(responses.GET, f"{gx.API}/api/v2/conversations/c1/recordings/r1", status=202, body="")
    client = make_client()
    assert client.list_recordings("c1", format_id="MP3", max_wait_ms=100) is None
    assert client.get_recording("c1", "r1") is None
    query = api_calls(mocked, "/recordings")[0].request.url.split("?")[1]
    assert "formatId=MP3" in query and "maxWaitMs=100" in query
    assert "formatId=WAV" in api_calls(mocked, "/recordings/r1")[0].request.url
    assert sum(clock.sleeps) == 0  # the caller reschedules; the client never sleeps on 202


def test_it_submits_and_polls_batch_downloads(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(responses.POST, f"{gx.API}/api/v2/recording/batchrequests", json={"id": "job-7"})
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/job-7", json={"status": "InProgress"})
    client = make_client()
    assert client.submit_batch_download([("c1", "r1"), ("c2", None)]) == "job-7"
    assert body_of(api_calls(mocked, "batchrequests")[0]) == {
        "batchDownloadRequestList": [
            {"conversationId": "c1", "recordingId": "r1"},
            {"conversationId": "c2", "recordingId": None},
        ]
    }
    assert client.get_batch_download("job-7") == {"status": "InProgress"}
    with pytest.raises(ValueError):
        client.submit_batch_download([("c", None)] * 101)


def test_it_raises_not_found_and_other_typed_errors(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/nope", status=404, json={"code": "not.found"})
    mocked.add(
        responses.POST, f"{gx.API}{SEARCH}", status=400, json={"message": "language is required", "code": "bad.request"}
    )
    client = make_client()
    with pytest.raises(NotFoundError):
        client.get_batch_download("nope")
    with pytest.raises(GenesysError, match="language is required"):
        list(client.search_transcripts(start=START, end=START + timedelta(hours=1)))


def test_it_adapts_to_rate_limit_headers(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(
        responses.GET,
        f"{gx.API}/api/v2/recording/batchrequests/j",
        json={},
        headers={"inin-ratelimit-allowed": "180", "inin-ratelimit-count": "3", "inin-ratelimit-reset": "55"},
    )
    client = make_client()
    client.get_batch_download("j")
    assert client.rate_limiter.allowed_per_minute == 180
    assert client.rate_limiter.capacity == pytest.approx(162)


def test_it_looks_up_queues_and_users_with_repeated_id_params_in_chunks_of_100(mocked, gx, make_client):
    from urllib.parse import parse_qs, urlsplit

    gx.add_token(mocked)
    queues_url = f"{gx.API}/api/v2/routing/queues"
    mocked.add(
        responses.GET,
        queues_url,
        json={"entities": [{"id": "q1", "name": "Billing", "division": {"id": "d1", "name": "Home"}}]},
    )
    mocked.add(responses.GET, queues_url, json={"entities": [{"id": "q150", "name": "Sales"}]})
    mocked.add(responses.GET, f"{gx.API}/api/v2/users", json={"entities": [{"id": "u1", "name": "Ada"}, {}]})
    events = []
    client = make_client(on_request=events.append)

    queue_ids = [f"q{i}" for i in range(150)] + ["q1", ""]
    queues = client.get_queues(queue_ids)
    users = client.get_users(["u1", "u2"])

    assert [q["id"] for q in queues] == ["q1", "q150"]
    assert queues[0]["division"] == {"id": "d1", "name": "Home"}
    assert users == [{"id": "u1", "name": "Ada"}]
    sent = [parse_qs(urlsplit(c.request.url).query) for c in api_calls(mocked, "/routing/queues")]
    assert [len(q["id"]) for q in sent] == [100, 50]  # repeated id=…&id=…, never more than 100
    assert sent[0]["id"][:2] == ["q0", "q1"] and sent[0]["pageSize"] == ["100"]
    user_query = parse_qs(urlsplit(api_calls(mocked, "/users")[0].request.url).query)
    assert user_query["id"] == ["u1", "u2"]
    assert user_query["state"] == ["any"]  # agents who have since left still get their names
    assert [e.endpoint for e in events if e.endpoint != "oauth.token"] == ["routing.queues"] * 2 + ["users.list"]
    assert client.stats.api_calls == 3


def test_it_makes_no_lookup_call_without_ids(mocked, gx, make_client):
    client = make_client()
    assert client.get_queues([]) == [] and client.get_users([""]) == []
    assert client.stats.api_calls == 0


def test_it_raises_permission_denied_for_a_lookup_without_the_permission(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(
        responses.GET,
        f"{gx.API}/api/v2/users",
        status=403,
        json={
            "message": "You must have all of the following permissions assigned: [directory:user:view]",
            "code": "missing.permissions",
            "status": 403,
            "contextId": "ctx-403",
        },
    )
    client = make_client()
    with pytest.raises(PermissionDeniedError) as raised:
        client.get_users(["u1"])
    assert raised.value.missing_permissions == ["directory:user:view"]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 60.0),
        ("Sun, 06 Nov 1994 08:47:37 GMT", 0.0),  # already passed
        ("soon", None),
        (None, None),
    ],
)
def test_it_reads_retry_after_as_seconds_or_an_http_date(header, seconds):
    now = 784111717.0  # Sun, 06 Nov 1994 08:48:37 GMT
    headers = {} if header is None else {"Retry-After": header}

    assert retry_after_seconds(headers, now=now) == seconds
