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


@pytest.mark.parametrize(("fraction", "expected"), [(1.0, [1, 2, 4, 8]), (0.25, [0.25, 0.5, 1, 2])])
def test_it_sleeps_a_jittered_share_of_a_doubling_ceiling_between_5xx_retries(
    mocked, gx, make_client, clock, fraction, expected
):
    """The random source answers `fraction` of each range it is asked for: at 1.0 the sleeps are the ceilings,
    which double (the backoff); at 0.25 they are a quarter of them (the jitter decides, not the ceiling)."""

    class Share:
        def uniform(self, low, high):
            return low + (high - low) * fraction

    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/recording/batchrequests/job-1"
    mocked.add(responses.GET, url, status=503, json={"code": "service.unavailable", "status": 503})
    with pytest.raises(ServerError):
        make_client(max_retries=4, max_retry_seconds=1000, rng=Share()).get_batch_download("job-1")
    assert [s for s in clock.sleeps if s > 0] == expected


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
    # A filter-only query scores every hit alike: an explicit sort keeps paging stable.
    assert (first["sortBy"], first["sortOrder"]) == ("conversationStartTime", "ASC")
    assert first["returnFields"] == ["conversationId", "communicationId", "mediaType"]
    date_range, media, id_filter = first["query"]  # no language criterion until the org asks for one
    assert date_range == {
        "type": "DATE_RANGE",
        "fields": ["conversationStartTime"],
        "startValue": "2026-05-01T00:00:00.000Z",
        "endValue": "2026-05-01T01:00:00.000Z",
        "dateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSX",
    }
    assert media == {"type": "EXACT", "fields": ["mediaType"], "values": ["call", "callback"]}
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
    assert len(api_calls(mocked, SEARCH)) == 1  # not the REQUIRED_SEARCH_FIELD answer: no language retry
    assert client.search_requires_language is False


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


# ------------------------------------------------------------------------------------------- search


def search_answer(results=None, total=None):
    body = {"results": results if results is not None else [{"conversationId": "c1", "communicationId": "m1"}]}
    body["total"] = len(body["results"]) if total is None else total
    return body


def language_criteria(body):
    return [q for q in body["query"] if q["fields"] == ["language"]]


def test_it_builds_the_language_criterion_lower_cased_and_once_each():
    from genesys.client import transcript_search_body

    body = transcript_search_body(
        start=START,
        end=START + timedelta(hours=1),
        conversation_ids=["c1"],
        page_size=10,
        page_number=2,
        languages=["en-US", "en-us", "de-DE"],
    )
    assert language_criteria(body) == [{"type": "EXACT", "fields": ["language"], "values": ["en-us", "de-de"]}]
    assert body["query"][-1] == {"type": "EXACT", "fields": ["conversationId"], "values": ["c1"]}
    assert body["pageNumber"] == 2 and body["pageSize"] == 10
    plain = transcript_search_body(
        start=START, end=START + timedelta(hours=1), conversation_ids=None, page_size=10, page_number=1
    )
    assert language_criteria(plain) == [] and len(plain["query"]) == 2


@pytest.mark.parametrize(
    "rejection",
    [
        {
            "message": "Bad request",
            "code": "bad.request",
            "status": 400,
            "details": [{"errorCode": "REQUIRED_SEARCH_FIELD", "fieldName": "language"}],
        },
        {"message": "Required search field is missing: language", "code": "bad.request", "status": 400},
    ],
    ids=["details", "message"],
)
def test_it_retries_a_search_once_with_languages_and_remembers(mocked, gx, make_client, rejection):
    from genesys.client import DEFAULT_SEARCH_LANGUAGES

    gx.add_token(mocked)

    def answer(request):
        if not language_criteria(json.loads(request.body)):
            return 400, {}, json.dumps(rejection)
        return 200, {}, json.dumps(search_answer())

    mocked.add_callback(responses.POST, f"{gx.API}{SEARCH}", callback=answer)
    client = make_client()
    found = list(client.search_transcripts(start=START, end=START + timedelta(hours=1)))
    assert [r["conversationId"] for r in found] == ["c1"]
    bodies = [body_of(c) for c in api_calls(mocked, SEARCH)]
    assert [len(language_criteria(b)) for b in bodies] == [0, 1]
    assert language_criteria(bodies[1])[0]["values"] == list(DEFAULT_SEARCH_LANGUAGES)
    assert bodies[0]["pageNumber"] == bodies[1]["pageNumber"] == 1  # the same page again
    assert client.search_requires_language is True

    list(client.search_transcripts(start=START, end=START + timedelta(hours=1)))
    bodies = [body_of(c) for c in api_calls(mocked, SEARCH)]
    assert len(bodies) == 3 and len(language_criteria(bodies[2])) == 1  # sent up front from now on


def test_it_raises_when_the_search_still_fails_with_languages(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(
        responses.POST,
        f"{gx.API}{SEARCH}",
        status=400,
        json={"code": "bad.request", "details": [{"errorCode": "REQUIRED_SEARCH_FIELD", "fieldName": "language"}]},
    )
    client = make_client()
    with pytest.raises(GenesysError) as caught:
        list(client.search_transcripts(start=START, end=START + timedelta(hours=1)))
    assert caught.value.status == 400
    assert len(api_calls(mocked, SEARCH)) == 2  # the original and one retry, never a loop


def test_it_sends_configured_languages_when_the_org_requires_them(mocked, gx, make_client):
    gx.add_token(mocked)
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", json=search_answer())
    client = make_client(search_languages=["EN-AU", "en-au"], search_requires_language=True)
    assert client.search_languages == ["EN-AU", "en-au"]
    list(client.search_transcripts(start=START, end=START + timedelta(hours=1)))
    (body,) = [body_of(c) for c in api_calls(mocked, SEARCH)]
    assert language_criteria(body)[0]["values"] == ["en-au"]


@pytest.mark.parametrize(
    ("page", "complaint"),
    [
        ([{"conversationId": "c1"}], "not a JSON object"),
        ({"results": {"conversationId": "c1"}, "total": 1}, "results is an object, not a list"),
        ({"results": ["c1"], "total": 1}, "results[0] is a string"),
        ({"results": [{"communicationId": "m1"}], "total": 1}, "results[0] has no conversationId"),
        ({"results": [{"conversationId": ""}], "total": 1}, "results[0] has no conversationId"),
        ({"results": [{"conversationId": 7}], "total": 1}, "results[0] has no conversationId"),
        ({"results": [], "total": "many"}, "total is a string"),
        ({"results": [], "total": 1.5}, "total is a number"),
        ({"results": [], "total": True}, "total is a boolean"),
    ],
)
def test_it_rejects_malformed_search_pages(mocked, gx, make_client, page, complaint):
    from genesys.errors import MalformedResponseError

    gx.add_token(mocked)
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", json=page)
    with pytest.raises(MalformedResponseError) as caught:
        list(make_client().search_transcripts(start=START, end=START + timedelta(hours=1)))
    message = str(caught.value)
    assert message.startswith("sta.transcripts.search: page 1") and complaint in message
    assert "c1" not in message and "many" not in message  # never the body's content


def test_it_rejects_a_search_body_that_is_not_json(mocked, gx, make_client):
    from genesys.errors import MalformedResponseError

    gx.add_token(mocked)
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", body="<html>proxy</html>", status=200)
    with pytest.raises(MalformedResponseError, match="not JSON"):
        list(make_client().search_transcripts(start=START, end=START + timedelta(hours=1)))


@pytest.mark.parametrize("page", [{"total": 0}, {"results": None, "total": 0}, {"results": [], "total": "0"}])
def test_it_reads_absent_or_null_results_as_no_hits(mocked, gx, make_client, page):
    gx.add_token(mocked)
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", json=page)
    assert list(make_client().search_transcripts(start=START, end=START + timedelta(hours=1))) == []


def test_it_pages_a_search_without_total_while_pages_are_full(mocked, gx, make_client):
    gx.add_token(mocked)
    pages = iter([[{"conversationId": "a"}, {"conversationId": "b"}], [{"conversationId": "c"}]])
    mocked.add_callback(
        responses.POST, f"{gx.API}{SEARCH}", callback=lambda r: (200, {}, json.dumps({"results": next(pages)}))
    )
    found = list(make_client().search_transcripts(start=START, end=START + timedelta(hours=1), page_size=2))
    assert [r["conversationId"] for r in found] == ["a", "b", "c"]
    assert len(api_calls(mocked, SEARCH)) == 2


def test_it_fails_a_search_fast_on_503_when_asked_but_still_waits_out_429(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", status=503, json={"code": "service.unavailable"})
    client = make_client(max_retries=5, max_retry_seconds=1000)
    with pytest.raises(ServerError):
        list(client.search_transcripts(start=START, end=START + timedelta(hours=1), max_retries=0))
    assert len(api_calls(mocked, SEARCH)) == 1 and sum(clock.sleeps) == 0

    mocked.replace(responses.POST, f"{gx.API}{SEARCH}", status=429, headers={"Retry-After": "4"})
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", json=search_answer())
    found = list(client.search_transcripts(start=START, end=START + timedelta(hours=1), max_retries=0))
    assert [r["conversationId"] for r in found] == ["c1"]
    assert sum(clock.sleeps) >= 4


def test_it_uses_the_clients_retry_budget_when_max_retries_is_none(mocked, gx, make_client):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/recording/batchrequests/j"
    mocked.add(responses.GET, url, status=503)
    client = make_client(max_retries=2, max_retry_seconds=1000)
    with pytest.raises(ServerError):
        client.request("GET", "/api/v2/recording/batchrequests/j", endpoint="recording.batch.get", max_retries=None)
    assert len(api_calls(mocked, "batchrequests/j")) == 3
    with pytest.raises(ServerError):
        client.request("GET", "/api/v2/recording/batchrequests/j", endpoint="recording.batch.get", max_retries=1)
    assert len(api_calls(mocked, "batchrequests/j")) == 5


# --------------------------------------------------------------------------------- 429 budget, login 429


def test_it_caps_the_total_retry_after_wait_of_one_call(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/recording/batchrequests/j"
    mocked.add(responses.GET, url, status=429, headers={"Retry-After": "200"})
    mocked.add(responses.GET, url, status=429, headers={"Retry-After": "200"})
    mocked.add(responses.GET, url, json={"id": "j"})
    client = make_client(max_rate_limit_wait_seconds=300)
    with pytest.raises(RateLimitedError) as caught:
        client.get_batch_download("j")
    assert caught.value.retry_after == 200.0
    assert "300" in str(caught.value)
    assert len(api_calls(mocked, "batchrequests/j")) == 2  # waited the first 200 s, refused the second
    assert sum(clock.sleeps) == pytest.approx(200)
    # Giving up still told the shared limiter: everyone else holds off for the second Retry-After too.
    assert client.rate_limiter.backend.paused_until(client.rate_limiter.key) == pytest.approx(clock.time() + 200)


def test_it_raises_instead_of_sitting_out_a_long_shared_pause(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/j", json={"id": "j"})
    client = make_client(max_rate_limit_wait_seconds=300)
    client.rate_limiter.on_429(3600)  # another worker was told to come back in an hour
    with pytest.raises(RateLimitedError) as caught:
        client.get_batch_download("j")
    assert caught.value.retry_after == pytest.approx(3600)
    assert "recording.batch.get" in str(caught.value)
    assert sum(clock.sleeps) == 0 and not api_calls(mocked, "batchrequests/j")


def test_it_waits_out_a_login_429_and_never_calls_it_bad_credentials(mocked, gx, make_client, clock):
    mocked.add(
        responses.POST,
        gx.TOKEN_URL,
        status=429,
        headers={"Retry-After": "9"},
        json={"error": "too_many_requests", "description": "slow down"},
    )
    mocked.add(responses.POST, gx.TOKEN_URL, status=429, json={})  # no Retry-After: 3 s
    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/j", json={"id": "j"})
    client = make_client()
    assert client.get_batch_download("j") == {"id": "j"}
    assert clock.sleeps[:2] == [9.0, 3.0]
    assert client.stats.token_requests == 3 and client.stats.rate_limited == 2
    assert client.stats.by_endpoint[("oauth.token", 429)] == 2


def test_it_gives_up_on_login_429s_at_the_wait_cap(mocked, gx, make_client, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, status=429, headers={"Retry-After": "200"}, json={})
    client = make_client(max_rate_limit_wait_seconds=300)
    with pytest.raises(RateLimitedError) as caught:
        client.get_batch_download("j")
    assert not isinstance(caught.value, AuthenticationError) and caught.value.retry_after == 200
    assert sum(clock.sleeps) == pytest.approx(200)
    with pytest.raises(RateLimitedError):
        client.check_credentials()


def test_it_checks_credentials_through_a_login_429(mocked, gx, make_client, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, status=429, headers={"Retry-After": "5"}, json={})
    gx.add_token(mocked)
    client = make_client()
    client.check_credentials()
    assert clock.sleeps == [5.0]
    assert client.tokens.token() == "tok-1"


def test_it_shares_a_token_cache_between_clients(mocked, gx, make_client):
    from genesys.auth import MemoryTokenCache

    gx.add_token(mocked)
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/j", json={"id": "j"})
    cache = MemoryTokenCache()
    first, second = make_client(token_cache=cache), make_client(token_cache=cache)
    first.get_batch_download("j")
    second.get_batch_download("j")
    assert first.stats.token_requests == 1 and second.stats.token_requests == 0


def test_it_passes_the_endpoint_family_to_the_limiter(mocked, gx, make_client, clock):
    gx.add_token(mocked)
    small = {"inin-ratelimit-allowed": "30", "inin-ratelimit-count": "1", "inin-ratelimit-reset": "60"}
    big = {"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "1", "inin-ratelimit-reset": "60"}
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", json=search_answer(), headers=small)
    mocked.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/j", json={"id": "j"}, headers=big)
    client = make_client()
    client.get_batch_download("j")
    list(client.search_transcripts(start=START, end=START + timedelta(hours=1)))
    limiter = client.rate_limiter
    assert limiter.family_allowed("sta.transcripts.search") == 30
    assert limiter.family_allowed("recording.batch.get") is None
    assert limiter.allowed_per_minute == 300

    mocked.add(responses.POST, f"{gx.API}{SEARCH}", status=429, headers={"Retry-After": "40", **small})
    mocked.add(responses.POST, f"{gx.API}{SEARCH}", json=search_answer(), headers=small)
    list(client.search_transcripts(start=START + timedelta(hours=1), end=START + timedelta(hours=2)))
    assert limiter.backend.paused_until(limiter.family_key("sta.transcripts.search")) > 0
    assert limiter.backend.paused_until(limiter.key) == 0  # only the search family was told to wait
    assert sum(clock.sleeps) >= 40


# --------------------------------------------------------------------------------- analytics, new endpoints


def test_it_orders_the_details_query_when_asked():
    from genesys.client import conversation_details_body

    default = conversation_details_body(start=START, end=START + timedelta(days=1), page_size=5, page_number=1)
    assert (default["orderBy"], default["order"]) == ("conversationStart", "asc")
    ordered = conversation_details_body(
        start=START, end=START + timedelta(days=1), page_size=5, page_number=1, order_by="conversationEnd", order="desc"
    )
    assert (ordered["orderBy"], ordered["order"]) == ("conversationEnd", "desc")


def ended(conversation_id: str, at: datetime) -> dict:
    return {"conversationId": conversation_id, "conversationEnd": iso_utc(at)}


def test_it_finds_recently_ended_conversations_with_one_page_per_chunk(mocked, gx, make_client):
    gx.add_token(mocked)
    now = START + timedelta(days=9)
    ended_after = now - timedelta(hours=1)
    answers = {
        # latest chunk [May 8, May 10): page 1 is all recent, page 2 reaches older calls: stop there
        ("2026-05-08T00:00:00.000Z", 1): [ended("new-1", now), ended("new-2", now - timedelta(minutes=5))],
        ("2026-05-08T00:00:00.000Z", 2): [
            ended("new-3", now - timedelta(minutes=30)),
            ended("old-1", now - timedelta(hours=2)),
        ],
        ("2026-05-08T00:00:00.000Z", 3): [ended("never-asked", now - timedelta(hours=3))],
        # the earlier chunk: a long call that started on May 7 and ended just now, plus a repeat
        ("2026-05-01T00:00:00.000Z", 1): [
            ended("new-2", now - timedelta(minutes=5)),
            ended("long-call", now - timedelta(minutes=10)),
            {"conversationId": "active"},  # no conversationEnd yet
            ended("old-2", now - timedelta(days=1)),
        ],
    }

    def answer(request):
        body = json.loads(request.body)
        key = (body["interval"].split("/")[0], body["paging"]["pageNumber"])
        return 200, {}, json.dumps({"totalHits": 50, "conversations": answers[key]})

    mocked.add_callback(responses.POST, f"{gx.API}{DETAILS}", callback=answer)
    client = make_client()
    found = list(
        client.recently_ended_conversations(
            interval_start=START, ended_after=ended_after, end=now + timedelta(hours=1), page_size=2
        )
    )
    assert [c["conversationId"] for c in found] == ["new-1", "new-2", "new-3", "long-call"]
    bodies = [body_of(c) for c in api_calls(mocked, DETAILS)]
    assert [(b["interval"], b["paging"]["pageNumber"]) for b in bodies] == [
        ("2026-05-08T00:00:00.000Z/2026-05-10T01:00:00.000Z", 1),
        ("2026-05-08T00:00:00.000Z/2026-05-10T01:00:00.000Z", 2),
        ("2026-05-01T00:00:00.000Z/2026-05-08T00:00:00.000Z", 1),
    ]
    assert {(b["orderBy"], b["order"]) for b in bodies} == {("conversationEnd", "desc")}
    assert bodies[0]["conversationFilters"] == conversation_details_filters()
    assert client.stats.by_endpoint[("analytics.details.query", 200)] == 3


def conversation_details_filters():
    from genesys.client import conversation_details_body

    return conversation_details_body(start=START, end=START, page_size=1, page_number=1)["conversationFilters"]


def test_it_stops_recently_ended_paging_at_total_hits_or_an_empty_page(mocked, gx, make_client):
    gx.add_token(mocked)
    now = START + timedelta(hours=5)
    pages = iter(
        [
            {"totalHits": 3, "conversations": [ended("a", now), ended("b", now)]},
            {"totalHits": 3, "conversations": [ended("c", now)]},
        ]
    )
    mocked.add_callback(responses.POST, f"{gx.API}{DETAILS}", callback=lambda r: (200, {}, json.dumps(next(pages))))
    found = list(
        make_client().recently_ended_conversations(
            interval_start=START, ended_after=START, end=now + timedelta(hours=1), page_size=2
        )
    )
    assert [c["conversationId"] for c in found] == ["a", "b", "c"]
    assert len(api_calls(mocked, DETAILS)) == 2


def test_it_restores_an_archived_recording_with_a_put(mocked, gx, make_client):
    gx.add_token(mocked)
    url = f"{gx.API}/api/v2/conversations/c%201/recordings/r1"
    mocked.add(responses.PUT, url, json={"id": "r1", "fileState": "RESTORING"})
    mocked.add(responses.PUT, url, status=202, body="")
    client = make_client()
    when = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)
    assert client.restore_recording("c 1", "r1", archive_date=when) == {"id": "r1", "fileState": "RESTORING"}
    call = api_calls(mocked, "/recordings/r1")[0]
    assert call.request.method == "PUT" and body_of(call) == {"archiveDate": "2026-06-01T12:30:00.000Z"}
    assert call.request.headers["Content-Type"] == "application/json"
    assert client.restore_recording("c 1", "r1", archive_date=when) is None
    assert client.stats.by_endpoint[("recording.update", 200)] == 1
    assert client.stats.by_endpoint[("recording.update", 202)] == 1


def test_it_reads_the_transcription_settings(mocked, gx, make_client):
    gx.add_token(mocked)
    settings = {"transcription": "EnabledQueueFlow", "contentSearchEnabled": True, "piiRedactionEnabled": False}
    mocked.add(responses.GET, f"{gx.API}/api/v2/routing/settings/transcription", json=settings)
    client = make_client()
    assert client.get_transcription_settings() == settings
    assert api_calls(mocked, "/routing/settings/transcription")[0].request.method == "GET"
    assert client.stats.by_endpoint[("routing.transcription.settings", 200)] == 1
    assert client.stats.api_calls == 1


def test_it_peeks_at_a_presigned_url_with_one_byte_and_no_bearer_token(mocked, make_client):
    url = "https://bucket.s3.test/transcriptsCache/c/comm-transcripts?X-Amz-Signature=abc"
    mocked.get(url, status=206, body=b"{", headers={"Content-Encoding": "gzip", "Content-Range": "bytes 0-0/99"})
    client = make_client()

    with client.peek_download(url) as response:
        assert (response.status_code, response.headers["Content-Encoding"]) == (206, "gzip")

    sent = mocked.calls[-1].request.headers
    assert sent["Range"] == "bytes=0-0" and "Authorization" not in sent
    assert client.stats.by_endpoint[("s3.download", 206)] == 1
    assert client.stats.api_calls == 0  # S3, not the Genesys API allowance
