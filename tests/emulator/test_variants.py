"""Every named variant, played over real HTTP: the exact answers a client meets in each real-org case."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import timedelta

import pytest
import requests

from genesys.emulator import VARIANTS, get_variant
from tests.emulator.support import (
    VARIANT_END,
    VARIANT_MIDNIGHT,
    VARIANT_START,
    api_session,
    sta_path,
    variant_dataset,
    variant_emulator,
)

QUERY = "/api/v2/analytics/conversations/details/query"
SEARCH = "/api/v2/speechandtextanalytics/transcripts/search"
BATCH = "/api/v2/recording/batchrequests"
SETTINGS = "/api/v2/routing/settings/transcription"

AGREED_NAMES = {
    "clean",
    "search_requires_language",
    "search_ignores_conversation_filter",
    "search_unavailable",
    "search_malformed",
    "search_empty",
    "multi_segment",
    "consult_transfer",
    "division_restricted",
    "division_restricted_bare",
    "callbacks",
    "outbound_agent_first",
    "recording_states",
    "archived_no_restore",
    "gzip_transcripts",
    "expired_token_urls",
    "login_rate_limited",
    "endpoint_allowances",
    "batch_job_expiry",
    "analytics_day_touched",
    "analytics_7_day_limit",
    "untranscribed_queue",
    "midnight_calls",
}


@pytest.fixture
def world(request):
    """(dataset, emulator, api session) for the variant named by the test's `variant` parameter."""
    name = request.param
    emulator = variant_emulator(name)
    with emulator.serve() as base_url:
        api = api_session(base_url)
        yield emulator.dataset, emulator, api
        api.close()


def variant(name: str):
    return pytest.mark.parametrize("world", [name], indirect=True)


def date_range(start=VARIANT_START, end=VARIANT_END + timedelta(hours=6)) -> dict:
    return {
        "type": "DATE_RANGE",
        "fields": ["conversationStartTime"],
        "startValue": start.isoformat().replace("+00:00", "Z"),
        "endValue": end.isoformat().replace("+00:00", "Z"),
    }


def search(api, *criteria, page_size: int = 100, page_number: int = 1):
    body = {"types": ["transcripts"], "pageSize": page_size, "pageNumber": page_number, "query": [*criteria]}
    return api.post(api.base_url + SEARCH, json=body)


def ready_parts(dataset, emulator) -> list:
    now = emulator.clock.time()
    return [(c, p) for c in dataset.conversations for p in c.parts if emulator.ready_at(c, p) <= now]


def searchable(dataset, emulator) -> set[tuple[str, str]]:
    """(conversationId, communicationId) a complete, unfiltered search returns."""
    return {
        (c.conversation_id, p.communication_id)
        for c, p in ready_parts(dataset, emulator)
        if not emulator.is_restricted(c)
    }


def details(api, start, end, **extra):
    body = {"interval": f"{start.isoformat()}/{end.isoformat()}", "paging": {"pageSize": 100}, **extra}
    return api.post(api.base_url + QUERY, json=body)


def recordings_of(api, conv, **params):
    params = {"formatId": "WAV", "maxWaitMs": 60_000, **params}
    return api.get(f"{api.base_url}/api/v2/conversations/{conv.conversation_id}/recordings", params=params)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["ININ-Correlation-Id"] and response.headers["inin-ratelimit-allowed"]
    body = response.json()
    assert body["status"] == status and body["contextId"] == response.headers["ININ-Correlation-Id"]
    return body


# ---------------------------------------------------------------------------------------------- registry


def test_it_registers_exactly_the_agreed_variants_each_naming_its_section_12_row():
    assert set(VARIANTS) == AGREED_NAMES
    for name, entry in VARIANTS.items():
        assert entry.name == name and "§12" in entry.description and entry.outcome
    assert get_variant("multi_segment") is VARIANTS["multi_segment"]
    with pytest.raises(ValueError, match="unknown emulator variant"):
        get_variant("gremlins")
    assert VARIANTS["clean"].shape.__eq__(type(VARIANTS["clean"].shape)())
    assert [n for n, v in VARIANTS.items() if v.needs_midnight] == ["midnight_calls"]


@pytest.mark.parametrize("name", sorted(AGREED_NAMES))
def test_it_builds_each_variant_with_consistent_ground_truth(name):
    dataset = variant_dataset(name)
    keys = [p.key for c in dataset.conversations for p in c.parts]
    assert len(keys) == len(set(keys))
    for conv in dataset.conversations:
        parts = conv.parts
        assert [p.start_offset_ms for p in parts] == sorted(p.start_offset_ms for p in parts)
        assert len({p.kind for p in parts}) <= 1
        assert conv.audio_recording_ids and set(conv.audio_recording_ids) <= set(conv.recording_ids)
        assert conv.recording_ids == [r.recording_id for r in conv.recordings]
        for part in parts:
            assert part.recording_id in conv.audio_recording_ids and part.communication_id in conv.communication_ids
            assert part.phrase_count == len(part.phrase_indexes)
            assert {leak["phraseIndex"] for leak in part.leaks} <= set(part.phrase_indexes)
        customer = [p for p in parts if p.leg == "customer"]
        if conv.transcript is not None:
            assert sum(p.phrase_count for p in customer) == conv.transcript.phrase_count
            assert sorted(i for p in customer for i in p.phrase_indexes) == list(range(conv.transcript.phrase_count))


# ---------------------------------------------------------------------------------------------- clean


@variant("clean")
def test_it_plays_the_clean_org_exactly_as_the_plain_emulator(world):
    dataset, emulator, api = world
    conv, part = next((c, p) for c, p in ready_parts(dataset, emulator) if c.transcript.kind == "normal")
    assert conv.parts == [part] and part.recording_id == conv.recording_ids[0]
    assert part.phrase_indexes == tuple(range(conv.transcript.phrase_count))
    urls = api.get(api.base_url + sta_path(conv, conv.communication_ids[0], "transcripturls")).json()["urls"]
    assert [u["recording"]["id"] for u in urls] == [conv.recording_ids[0]]
    assert requests.get(urls[0]["url"]).content == emulator.document_bytes(conv, part)
    assert emulator.served_bytes(conv, part) == emulator.document_bytes(conv, part)
    assert api.get(api.base_url + SETTINGS).json()["transcription"] == "EnabledGlobally"
    queues = api.get(api.base_url + "/api/v2/routing/queues", params={"pageSize": 100}).json()["entities"]
    assert all("enableTranscription" not in q for q in queues)


# ---------------------------------------------------------------------------------------------- search


@variant("search_requires_language")
def test_it_requires_a_language_criterion_and_filters_by_it(world):
    dataset, emulator, api = world
    missing = search(api, date_range())
    body = error_of(missing, 400)
    assert body["code"] == "bad.request" and body["message"] == "Required search field is missing: language"
    assert body["details"] == [{"errorCode": "REQUIRED_SEARCH_FIELD", "fieldName": "language"}]
    found = search(api, date_range(), {"type": "EXACT", "fields": ["language"], "value": "EN-us"}).json()
    assert {(h["conversationId"], h["communicationId"]) for h in found["results"]} == searchable(dataset, emulator)
    both = search(api, {"type": "EXACT", "fields": ["language"], "values": ["de-DE", "en-US"]}).json()
    assert both["total"] == found["total"]
    german = search(api, {"type": "EXACT", "fields": ["language"], "values": ["de-de"]}).json()
    assert german["total"] == 0 and german["results"] == []


@variant("search_ignores_conversation_filter")
def test_it_ignores_the_conversation_id_criterion(world):
    dataset, emulator, api = world
    conv, _ = ready_parts(dataset, emulator)[0]
    body = search(api, {"type": "EXACT", "fields": ["conversationId"], "values": [conv.conversation_id]}).json()
    assert body["total"] == len(searchable(dataset, emulator)) > 1
    assert conv.conversation_id in {h["conversationId"] for h in body["results"]}


@variant("search_unavailable")
def test_it_answers_every_search_with_503_and_no_retry_after(world):
    _, _, api = world
    for _ in range(2):
        response = search(api, date_range())
        assert error_of(response, 503)["code"] == "service.unavailable"
        assert "Retry-After" not in response.headers


@variant("search_malformed")
def test_it_answers_search_with_results_as_an_object(world):
    dataset, emulator, api = world
    body = search(api, date_range()).json()
    assert isinstance(body["results"], dict) and list(body["results"]) == ["transcripts"]
    hits = body["results"]["transcripts"]
    assert {(h["conversationId"], h["communicationId"]) for h in hits} == searchable(dataset, emulator)


@variant("search_empty")
def test_it_finds_nothing_when_content_search_is_disabled(world):
    _, _, api = world
    body = search(api, date_range()).json()
    assert body["total"] == 0 and body["results"] == [] and body["pageCount"] == 0
    settings = api.get(api.base_url + SETTINGS)
    assert settings.status_code == 200 and settings.json()["contentSearchEnabled"] is False


# ---------------------------------------------------------------------------------------------- several parts


@variant("multi_segment")
def test_it_lists_one_url_per_recording_segment_each_its_own_document(world):
    dataset, emulator, api = world
    conv = next(c for c in dataset.conversations if len(c.parts) > 1)
    customer = conv.communication_ids[0]
    body = api.get(api.base_url + sta_path(conv, customer, "transcripturls")).json()
    assert body["communicationId"] == customer
    assert [u["recording"]["id"] for u in body["urls"]] == [p.recording_id for p in conv.parts]
    paths = [u["url"].split("?")[0] for u in body["urls"]]
    assert len(set(paths)) == len(paths) == len(conv.parts)
    for url, part in zip(body["urls"], conv.parts, strict=True):
        assert url["recording"]["selfUri"].endswith(f"/recordings/{part.recording_id}")
        content = requests.get(url["url"]).content
        assert content == emulator.document_bytes(conv, part)
        document = json.loads(content)
        phrases = document["transcripts"][0]["phrases"]
        assert tuple(p["phraseIndex"] for p in phrases) == part.phrase_indexes and phrases
        assert document["startTime"] == document["conversationStartTime"] + part.start_offset_ms
        assert document["communicationId"] == customer and document["transcripts"][0]["transcriptId"]
    single = api.get(api.base_url + sta_path(conv, customer)).json()["url"]
    assert single.split("?")[0] == paths[0]
    listed = recordings_of(api, conv).json()
    assert [(r["id"], r["sessionId"]) for r in listed] == [(p.recording_id, customer) for p in conv.parts]
    assert [r["startTime"] for r in listed] == sorted(r["startTime"] for r in listed)


@variant("consult_transfer")
def test_it_adds_a_consult_leg_with_its_own_transcript_readiness_and_division(world):
    dataset, emulator, api = world
    conv = next(c for c in dataset.conversations if c.consult)
    consult = next(p for p in conv.parts if p.leg == "consult")
    assert consult.communication_id == conv.consult.session_id == conv.communication_ids[2]
    assert conv.agent_user_ids == [conv.user_id, conv.consult.user_id] and len(conv.division_ids) == 2
    hits = search(api, date_range(), {"type": "EXACT", "fields": ["conversationId"], "value": conv.conversation_id})
    assert sorted(h["communicationId"] for h in hits.json()["results"]) == sorted(
        p.communication_id for p in conv.parts
    )
    document = json.loads(
        requests.get(api.get(api.base_url + sta_path(conv, consult.communication_id)).json()["url"]).content
    )
    assert document["communicationId"] == consult.communication_id
    assert len(document["transcripts"][0]["phrases"]) == consult.phrase_count
    assert {p["participantPurpose"] for p in document["transcripts"][0]["phrases"]} == {"internal", "external"}
    analytics = details(api, VARIANT_START, VARIANT_END).json()["conversations"]
    shown = next(c for c in analytics if c["conversationId"] == conv.conversation_id)
    assert shown["divisionIds"] == conv.division_ids
    second = [p for p in shown["participants"] if p.get("userId") == conv.consult.user_id]
    assert second[0]["sessions"][0]["sessionId"] == consult.communication_id and second[0]["sessions"][0]["recording"]
    listed = recordings_of(api, conv).json()
    assert (consult.recording_id, consult.communication_id) in {(r["id"], r["sessionId"]) for r in listed}
    # Its own ready time: not yet there just after the call, there after its own delay.
    early = variant_emulator("consult_transfer", clock=type(emulator.clock)(conv.end.timestamp() + 1))
    with early.serve() as base_url:
        early_api = api_session(base_url)
        path = base_url + sta_path(conv, consult.communication_id)
        assert early_api.get(path).status_code == 404
        early.clock.advance(emulator.ready_at(conv, consult) - early.clock.time())
        assert early_api.get(path).status_code == 200


# ---------------------------------------------------------------------------------------------- divisions


def restricted_conversation(dataset, emulator):
    return next(c for c in dataset.conversations if emulator.is_restricted(c) and c.parts)


@variant("division_restricted")
def test_it_denies_restricted_conversations_naming_the_division(world):
    dataset, emulator, api = world
    conv = restricted_conversation(dataset, emulator)
    denied = dataset.divisions[-1]["id"]
    assert conv.division_ids == [denied] and emulator.denied_division_ids == {denied}
    expected = {
        "code": "missing.division.permissions",
        "message": "Unable to perform the requested action. You are missing the following permission(s) in "
        f"division [{denied}]: [recording:recording:view]",
        "messageParams": {"division": denied, "permissions": "recording:recording:view"},
        "status": 403,
        "details": [],
        "errors": [],
    }
    base = f"{api.base_url}/api/v2/conversations/{conv.conversation_id}"
    for response in (
        api.get(api.base_url + sta_path(conv, conv.communication_ids[0])),
        api.get(api.base_url + sta_path(conv, conv.communication_ids[0], "transcripturls")),
        recordings_of(api, conv),
        api.get(f"{base}/recordings/{conv.recording_ids[0]}"),
        api.get(f"{base}/recordingmetadata"),
    ):
        body = error_of(response, 403)
        body.pop("contextId")
        assert body == expected
    found = {h["conversationId"] for h in search(api, date_range()).json()["results"]}
    assert conv.conversation_id not in found and found
    listed = {c["conversationId"] for c in details(api, VARIANT_START, VARIANT_END).json()["conversations"]}
    assert conv.conversation_id in listed
    job = api.post(api.base_url + BATCH, json={"batchDownloadRequestList": [{"conversationId": conv.conversation_id}]})
    emulator.clock.advance(10)
    results = api.get(f"{api.base_url}{BATCH}/{job.json()['id']}").json()["results"]
    assert results == [
        {"conversationId": conv.conversation_id, "recordingId": rid, "errorMsg": "Access denied"}
        for rid in conv.recording_ids
    ]


@variant("division_restricted_bare")
def test_it_denies_restricted_conversations_with_a_bare_not_authorized(world):
    dataset, emulator, api = world
    conv = restricted_conversation(dataset, emulator)
    body = error_of(api.get(api.base_url + sta_path(conv, conv.communication_ids[0])), 403)
    assert (body["code"], body["message"]) == (
        "not.authorized",
        "You are not authorized to perform the requested action.",
    )
    assert "messageParams" not in body and conv.division_id not in json.dumps(body)
    free = next(c for c in dataset.conversations if not emulator.is_restricted(c) and c.parts)
    assert api.get(api.base_url + sta_path(free, free.communication_ids[0])).status_code == 200


# ---------------------------------------------------------------------------------------------- callbacks, outbound


@variant("callbacks")
def test_it_serves_voice_callbacks_as_media_type_callback(world):
    dataset, emulator, api = world
    conv = next(c for c in dataset.conversations if c.media_type == "callback" and c.parts)
    assert {p.media_type for p in conv.parts} == {"callback"}
    only_calls = search(api, date_range(), {"type": "EXACT", "fields": ["mediaType"], "value": "call"}).json()
    assert conv.conversation_id not in {h["conversationId"] for h in only_calls["results"]}
    both = search(api, date_range(), {"type": "EXACT", "fields": ["mediaType"], "values": ["call", "CALLBACK"]}).json()
    everything = search(api, date_range()).json()
    assert both["total"] == everything["total"] == len(searchable(dataset, emulator)) > only_calls["total"]
    hit = next(h for h in everything["results"] if h["conversationId"] == conv.conversation_id)
    assert hit["mediaType"] == "callback" and hit["communicationId"] == conv.communication_ids[0]
    document = requests.get(api.get(api.base_url + sta_path(conv, conv.communication_ids[0])).json()["url"]).json()
    assert document["mediaType"] == "callback"
    shown = next(
        c
        for c in details(api, VARIANT_START, VARIANT_END).json()["conversations"]
        if c["conversationId"] == conv.conversation_id
    )
    customer = next(p for p in shown["participants"] if p["purpose"] in ("customer", "external"))
    assert [(s["sessionId"], s["mediaType"], s["recording"]) for s in customer["sessions"]] == [
        (conv.callback_session_id, "callback", False),
        (conv.communication_ids[0], "voice", True),
    ]


@variant("outbound_agent_first")
def test_it_shows_the_agent_first_on_outbound_calls_with_purpose_user(world):
    dataset, emulator, api = world
    conv = next(c for c in dataset.conversations if c.direction == "outbound" and c.parts)
    assert conv.agent_first and conv.agent_purpose == "user"
    shown = next(
        c
        for c in details(api, VARIANT_START, VARIANT_END).json()["conversations"]
        if c["conversationId"] == conv.conversation_id
    )
    agent, external = shown["participants"]
    assert agent["purpose"] == "user" and agent["userId"] == conv.user_id and external["purpose"] == "external"
    assert agent["sessions"][0]["segments"][0]["segmentStart"] == shown["conversationStart"]
    assert external["sessions"][0]["segments"][0]["segmentStart"] > shown["conversationStart"]
    document = requests.get(api.get(api.base_url + sta_path(conv, conv.communication_ids[0])).json()["url"]).json()
    first, second = document["participants"][:2]
    assert (first["participantPurpose"], first["startTimeMs"]) == ("agent", document["conversationStartTime"])
    assert second["participantPurpose"] == "external" and second["startTimeMs"] > first["startTimeMs"]
    greeting = document["transcripts"][0]["phrases"][0]
    assert greeting["participantPurpose"] == "internal" and "calling from northwind bank" in greeting["text"]
    inbound = next(c for c in shown_all(api) if c["originatingDirection"] == "inbound")
    assert next(p for p in inbound["participants"] if p.get("userId"))["purpose"] == "user"


def shown_all(api) -> list[dict]:
    return details(api, VARIANT_START, VARIANT_END).json()["conversations"]


# ---------------------------------------------------------------------------------------------- recordings


def with_state(dataset, state: str):
    return next(c for c in dataset.conversations if any(r.file_state == state for r in c.recordings))


@variant("recording_states")
def test_it_answers_non_available_recordings_with_their_state_at_once(world):
    dataset, emulator, api = world
    for state, dates in (("ARCHIVED", {"archiveDate", "archiveMedium"}), ("DELETED", {"deleteDate"}), ("ERROR", set())):
        conv = with_state(dataset, state)
        response = recordings_of(api, conv, maxWaitMs=0)
        assert response.status_code == 200, state
        audio = [r for r in response.json() if r["media"] == "audio"]
        assert [r["fileState"] for r in audio] == [state] and "mediaUris" not in audio[0]
        assert dates <= set(audio[0]) and audio[0]["outputSizeInBytes"] == 0
        single = api.get(f"{api.base_url}/api/v2/conversations/{conv.conversation_id}/recordings/{audio[0]['id']}")
        assert single.status_code == 200 and single.json()["fileState"] == state
    messages = batch_messages(api, emulator, [with_state(dataset, s) for s in ("ARCHIVED", "DELETED", "ERROR")])
    assert messages == {"Recording is archived", "Recording is deleted", "Recording is in an error state"}


def batch_messages(api, emulator, convs) -> set[str]:
    items = [{"conversationId": c.conversation_id, "recordingId": c.audio_recording_ids[0]} for c in convs]
    job = api.post(api.base_url + BATCH, json={"batchDownloadRequestList": items}).json()
    emulator.clock.advance(10)
    results = api.get(f"{api.base_url}{BATCH}/{job['id']}").json()["results"]
    assert all("resultUrl" not in r and "contentType" not in r for r in results if "errorMsg" in r)
    return {r.get("errorMsg") for r in results}


@variant("recording_states")
def test_it_finishes_uploading_recordings_after_the_upload_time(world):
    dataset, emulator, api = world
    conv = with_state(dataset, "UPLOADING")
    emulator.clock.advance(-(emulator.clock.time() - conv.end.timestamp()) + 60)  # a minute after the call
    audio_id = conv.audio_recording_ids[0]
    first = next(r for r in recordings_of(api, conv, maxWaitMs=0).json() if r["id"] == audio_id)
    assert first["fileState"] == "UPLOADING" and "mediaUris" not in first
    assert batch_messages(api, emulator, [conv]) == {"Recording is uploading"}
    emulator.clock.advance(dataset.shape.uploading_seconds)
    listed = next(r for r in recordings_of(api, conv).json() if r["id"] == audio_id)
    assert listed["fileState"] == "AVAILABLE" and emulator.recording_file_state(conv, audio_id) == "AVAILABLE"
    assert requests.get(listed["mediaUris"]["S"]["mediaUri"]).content == conv.wav_bytes()


@variant("recording_states")
def test_it_restores_archived_recordings_through_restoring_to_restored(world):
    dataset, emulator, api = world
    conv = with_state(dataset, "ARCHIVED")
    audio_id = conv.audio_recording_ids[0]
    path = f"{api.base_url}/api/v2/conversations/{conv.conversation_id}/recordings/{audio_id}"
    future = (emulator._now_dt() + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    past = error_of(api.put(path, json={"archiveDate": VARIANT_START.isoformat()}), 400)
    assert past["details"] == [{"errorCode": "invalid.value", "fieldName": "archiveDate"}]
    restoring = api.put(path, json={"archiveDate": future})
    assert restoring.status_code == 200 and restoring.headers["inin-ratelimit-allowed"]
    assert restoring.json()["fileState"] == "RESTORING" and "mediaUris" not in restoring.json()
    assert api.get(path, params={"formatId": "WAV"}).json()["fileState"] == "RESTORING"
    emulator.clock.advance(get_variant("recording_states").behaviour.restore_seconds)
    restored = api.get(path, params={"formatId": "WAV", "maxWaitMs": 60_000}).json()
    assert restored["fileState"] == "RESTORED" and restored["restoreExpirationTime"]
    assert requests.get(restored["mediaUris"]["S"]["mediaUri"]).content == conv.wav_bytes()
    other = next(c for c in dataset.conversations if c.parts)
    unchanged = api.put(
        f"{api.base_url}/api/v2/conversations/{other.conversation_id}/recordings/{other.audio_recording_ids[0]}",
        json={"archiveDate": future},
    )
    assert unchanged.status_code == 200 and unchanged.json()["fileState"] == "AVAILABLE"


@variant("recording_states")
def test_it_lists_screen_recordings_first_and_serves_them_as_webm(world):
    dataset, emulator, api = world
    conv = next(c for c in dataset.conversations if c.recordings[0].media == "screen")
    screen = conv.recordings[0]
    assert screen.session_id == conv.communication_ids[1] and screen.recording_id not in conv.audio_recording_ids
    listed = recordings_of(api, conv).json()
    assert (listed[0]["id"], listed[0]["media"], listed[0]["mediaSubtype"]) == (screen.recording_id, "screen", "Screen")
    assert listed[0]["sessionId"] == conv.communication_ids[1] and [r["media"] for r in listed[1:]] == ["audio"]
    video = requests.get(listed[0]["mediaUris"]["S"]["mediaUri"])
    assert video.headers["Content-Type"] == "video/webm" and video.content[:4] == b"\x1a\x45\xdf\xa3"
    assert len(video.content) == listed[0]["outputSizeInBytes"]
    job = api.post(api.base_url + BATCH, json={"batchDownloadRequestList": [{"conversationId": conv.conversation_id}]})
    emulator.clock.advance(10)
    results = api.get(f"{api.base_url}{BATCH}/{job.json()['id']}").json()["results"]
    assert [r["contentType"] for r in results] == ["video/webm", "audio/wav"]
    assert requests.get(results[0]["resultUrl"]).content == video.content


@variant("archived_no_restore")
def test_it_refuses_restores_without_the_edit_retention_permission(world):
    dataset, emulator, api = world
    never = [c for c in dataset.conversations if c.transcript is None]
    assert never and all(r.file_state == "ARCHIVED" for c in never for r in c.recordings)
    conv = never[0]
    response = api.put(
        f"{api.base_url}/api/v2/conversations/{conv.conversation_id}/recordings/{conv.audio_recording_ids[0]}",
        json={"archiveDate": "2030-01-01T00:00:00.000Z"},
    )
    body = error_of(response, 403)
    assert body["code"] == "missing.permissions" and "[recording:recording:editRetention]" in body["message"]
    assert recordings_of(api, conv, maxWaitMs=0).json()[0]["fileState"] == "ARCHIVED"


# ---------------------------------------------------------------------------------------------- "S3"


@variant("gzip_transcripts")
def test_it_serves_gzip_transcripts_whose_headers_and_ranges_refer_to_the_gzip_bytes(world):
    dataset, emulator, api = world
    conv, part = next((c, p) for c, p in ready_parts(dataset, emulator) if p.kind == "normal")
    url = api.get(api.base_url + sta_path(conv, part.communication_id)).json()["url"]
    served = emulator.served_bytes(conv, part)
    assert gzip.decompress(served) == emulator.document_bytes(conv, part) != served
    full = requests.get(url, headers={"Accept-Encoding": "identity"}, stream=True)
    raw = full.raw.read(decode_content=False)
    assert full.headers["Content-Encoding"] == "gzip" and raw == served
    assert full.headers["Content-Length"] == str(len(served))
    assert full.headers["ETag"] == f'"{hashlib.md5(served).hexdigest()}"'
    tail = requests.get(url, headers={"Range": "bytes=100-", "If-Range": full.headers["ETag"]}, stream=True)
    assert tail.status_code == 206 and tail.raw.read(decode_content=False) == served[100:]
    assert tail.headers["Content-Range"] == f"bytes 100-{len(served) - 1}/{len(served)}"
    assert requests.get(url).json() == json.loads(emulator.document_bytes(conv, part))  # requests decodes it


@variant("expired_token_urls")
def test_it_answers_the_first_url_of_each_transcript_with_expired_token(world):
    dataset, emulator, api = world
    conv, part = ready_parts(dataset, emulator)[0]
    path = api.base_url + sta_path(conv, part.communication_id)
    first = requests.get(api.get(path).json()["url"])
    assert first.status_code == 400 and first.headers["Content-Type"] == "application/xml"
    assert b"<Code>ExpiredToken</Code><Message>The provided token has expired.</Message>" in first.content
    again = requests.get(api.get(path).json()["url"])
    assert again.status_code == 200 and again.content == emulator.served_bytes(conv, part)


# ---------------------------------------------------------------------------------------------- limits


def test_it_rate_limits_the_first_two_logins_then_issues_tokens():
    emulator = variant_emulator("login_rate_limited")
    with emulator.serve() as base_url:
        form, auth = {"grant_type": "client_credentials"}, ("test-client", "test-secret")
        answers = [requests.post(f"{base_url}/oauth/token", data=form, auth=auth) for _ in range(3)]
    for limited in answers[:2]:
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        assert limited.json() == {
            "message": "Rate limit exceeded the maximum. Retry the request in [2] seconds",
            "code": "too.many.requests.retry.after",
            "status": 429,
        }
    assert answers[2].status_code == 200 and answers[2].json()["access_token"]
    assert emulator.stats.token_requests == 3 and emulator.stats.rate_limited == 2


@variant("endpoint_allowances")
def test_it_limits_an_endpoint_by_its_own_allowance_and_headers(world):
    dataset, emulator, api = world
    answers = [search(api, date_range(), page_size=1) for _ in range(21)]
    assert [r.status_code for r in answers[:20]] == [200] * 20
    assert answers[0].headers["inin-ratelimit-allowed"] == "20" and answers[19].headers["inin-ratelimit-count"] == "20"
    limited = answers[20]
    assert error_of(limited, 429)["code"] == "too.many.requests.retry.after"
    assert limited.headers["inin-ratelimit-allowed"] == "20" and limited.headers["Retry-After"] == "60"
    other = details(api, VARIANT_START, VARIANT_END)
    assert other.status_code == 200 and other.headers["inin-ratelimit-allowed"] == "300"
    assert other.headers["inin-ratelimit-count"] == "22"  # every request counted client-wide too
    conv, part = ready_parts(dataset, emulator)[0]
    urls = api.get(api.base_url + sta_path(conv, part.communication_id, "transcripturls"))
    assert urls.status_code == 200 and urls.headers["inin-ratelimit-allowed"] == "120"
    emulator.clock.advance(60)
    assert search(api, date_range(), page_size=1).status_code == 200


@variant("batch_job_expiry")
def test_it_loses_the_first_batch_job_and_expires_the_others(world):
    dataset, emulator, api = world
    conv = next(c for c in dataset.conversations if c.parts)
    items = {"batchDownloadRequestList": [{"conversationId": conv.conversation_id}]}
    lost = api.post(api.base_url + BATCH, json=items).json()["id"]
    assert error_of(api.get(f"{api.base_url}{BATCH}/{lost}"), 404)["code"] == "not.found"
    kept = api.post(api.base_url + BATCH, json=items).json()["id"]
    emulator.clock.advance(10)
    assert api.get(f"{api.base_url}{BATCH}/{kept}").json()["status"] == "Completed"
    emulator.clock.advance(590)
    assert error_of(api.get(f"{api.base_url}{BATCH}/{kept}"), 404)["code"] == "not.found"


# ---------------------------------------------------------------------------------------------- analytics


def test_it_returns_calls_active_on_a_touched_day_but_not_yesterdays_midnight_crossers():
    dataset = variant_dataset("midnight_calls")
    crosser = next(
        c for c in dataset.conversations if c.start < VARIANT_MIDNIGHT and c.end > VARIANT_MIDNIGHT + timedelta(hours=2)
    )
    for semantics, expect_active_same_day in (("started", False), ("active_day_touched", True)):
        behaviour = type(get_variant("analytics_day_touched").behaviour)(analytics_interval_semantics=semantics)
        emulator = variant_emulator("midnight_calls", behaviour=behaviour)
        with emulator.serve() as base_url:
            api = api_session(base_url)
            today = {c["conversationId"] for c in details(api, VARIANT_MIDNIGHT, VARIANT_END).json()["conversations"]}
            same_day = details(api, crosser.start + timedelta(minutes=1), VARIANT_MIDNIGHT).json()
        assert crosser.conversation_id not in today, semantics
        ids = {c["conversationId"] for c in same_day.get("conversations", [])}
        assert (crosser.conversation_id in ids) is expect_active_same_day, semantics
    assert get_variant("analytics_day_touched").behaviour.analytics_interval_semantics == "active_day_touched"


@variant("analytics_day_touched")
def test_it_pages_by_conversation_end_descending_consistently(world):
    dataset, emulator, api = world
    seen = []
    for page in range(1, 8):
        body = {
            "interval": f"{VARIANT_START.isoformat()}/{VARIANT_END.isoformat()}",
            "order": "desc",
            "orderBy": "conversationEnd",
            "paging": {"pageSize": 7, "pageNumber": page},
        }
        seen += api.post(api.base_url + QUERY, json=body).json().get("conversations", [])
    ends = [c["conversationEnd"] for c in seen]
    assert ends == sorted(ends, reverse=True) and len({c["conversationId"] for c in seen}) == len(seen) == 40


@variant("analytics_7_day_limit")
def test_it_rejects_intervals_over_seven_days_only_when_the_org_does(world):
    _, _, api = world
    too_long = details(api, VARIANT_START, VARIANT_START + timedelta(days=7, seconds=1))
    body = error_of(too_long, 400)
    assert (body["code"], body["message"]) == ("bad.request", "The interval must not be longer than 7 days.")
    assert details(api, VARIANT_START, VARIANT_START + timedelta(days=7)).json()["totalHits"] == 40


@variant("midnight_calls")
def test_it_has_transcribed_calls_crossing_midnight_found_by_the_day_they_started(world):
    dataset, emulator, api = world
    crossers = [
        c
        for c in dataset.conversations
        if c.start < VARIANT_MIDNIGHT and c.end - VARIANT_MIDNIGHT >= timedelta(hours=2)
    ]
    assert len(crossers) == 3
    for conv in crossers:
        assert conv.end - VARIANT_MIDNIGHT <= timedelta(hours=4) and conv.start >= VARIANT_START
        assert conv.transcript.kind == "normal" and not conv.transcript.delayed and len(conv.parts) == 1
    before = {c["conversationId"] for c in details(api, VARIANT_START, VARIANT_MIDNIGHT).json()["conversations"]}
    assert {c.conversation_id for c in crossers} <= before
    conv = crossers[0]
    document = requests.get(api.get(api.base_url + sta_path(conv, conv.communication_ids[0])).json()["url"]).json()
    last = document["transcripts"][0]["phrases"][-1]
    assert last["startTimeMs"] > int(VARIANT_MIDNIGHT.timestamp() * 1000)  # the goodbye comes after midnight


# ---------------------------------------------------------------------------------------------- transcription settings


@variant("untranscribed_queue")
def test_it_has_a_queue_without_transcription_and_says_so_up_front(world):
    dataset, emulator, api = world
    silent = dataset.untranscribed_queue_id
    queues = api.get(api.base_url + "/api/v2/routing/queues", params={"pageSize": 100}).json()["entities"]
    assert {q["id"]: q["enableTranscription"] for q in queues} == {q["id"]: q["id"] != silent for q in dataset.queues}
    settings = api.get(api.base_url + SETTINGS)
    assert settings.json() == {
        "transcription": "EnabledQueueFlow",
        "transcriptionConfidenceThreshold": 0,
        "lowLatencyTranscriptionEnabled": False,
        "contentSearchEnabled": True,
        "pciDssRedactionEnabled": True,
        "piiRedactionEnabled": True,
    }
    assert settings.headers["ININ-Correlation-Id"] and settings.headers["inin-ratelimit-count"]
    muted = [c for c in dataset.conversations if c.queue_id == silent]
    assert muted and all(c.transcript is None and c.parts == [] for c in muted)
    emulator.clock.advance(23 * 3600)  # long after every other transcript (the token lives a day)
    assert api.get(api.base_url + sta_path(muted[0], muted[0].communication_ids[0])).status_code == 404
