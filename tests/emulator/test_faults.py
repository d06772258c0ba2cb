from __future__ import annotations

import hashlib

import pytest
import requests

from genesys.emulator import FAULT_PROFILES
from genesys.emulator.documents import iter_document
from tests.emulator.support import api_session, make_emulator, ready_conversation, transcript_url


def robust_get(api, url_for, attempts: int = 40) -> bytes:
    """A reference client: resumes with Range + If-Range, restarts on 200, refreshes expired URLs, retries 5xx/429."""
    url, body, etag = url_for(), b"", None
    for _ in range(attempts):
        headers = {"Range": f"bytes={len(body)}-", "If-Range": etag} if body and etag else {}
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=5)
            if response.status_code == 403 and b"Request has expired" in response.content:
                url = url_for()
                continue
            if response.status_code >= 500:
                continue
            if response.status_code == 200:
                body = b""
            assert response.status_code in (200, 206), response.status_code
            etag = response.headers["ETag"]
            for chunk in response.iter_content(65536):
                body += chunk
            if len(body) == int(
                response.headers["Content-Range"].split("/")[1]
                if response.status_code == 206
                else response.headers["Content-Length"]
            ):
                return body
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            continue
    raise AssertionError("download did not complete")


def url_getter(api, conv):
    def get() -> str:
        for _ in range(20):
            response = api.get(
                f"{api.base_url}/api/v2/speechandtextanalytics/conversations/{conv.conversation_id}"
                f"/communications/{conv.communication_ids[0]}/transcripturl"
            )
            if response.status_code == 200:
                return response.json()["url"]
        raise AssertionError("no transcript URL")

    return get


def test_it_offers_every_documented_profile():
    assert set(FAULT_PROFILES) == {
        "none",
        "rate_limit",
        "server_errors",
        "slow",
        "drop_connections",
        "range_ignored",
        "etag_change",
        "expired_urls",
        "transcoding",
        "flaky",
        "chaos",
    }


def test_it_rejects_unknown_profiles(dataset, clock):
    with pytest.raises(ValueError, match="unknown fault profile"):
        make_emulator(dataset, clock, faults="gremlins")


def test_it_answers_some_api_requests_with_5xx_error_bodies(dataset, clock):
    emulator = make_emulator(dataset, clock, faults="server_errors")
    with emulator.serve() as base_url:
        api = api_session(base_url)
        conv = dataset.conversations[0]
        responses = [
            api.get(f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordingmetadata") for _ in range(60)
        ]
    errors = [r for r in responses if r.status_code >= 500]
    assert 1 <= len(errors) <= 20
    assert {r.status_code for r in errors} <= {500, 502, 503}
    assert all(r.json()["status"] == r.status_code and r.json()["contextId"] for r in errors)


def test_it_lowers_the_allowance_under_rate_limit(dataset, clock):
    emulator = make_emulator(dataset, clock, faults="rate_limit")
    with emulator.serve() as base_url:
        api = api_session(base_url)
        conv = dataset.conversations[0]
        statuses = [
            api.get(f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordingmetadata").status_code
            for _ in range(31)
        ]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429


@pytest.mark.parametrize(
    "profile", ["drop_connections", "range_ignored", "etag_change", "expired_urls", "flaky", "chaos"]
)
def test_it_never_corrupts_bytes_for_a_correct_client(dataset, clock, profile):
    emulator = make_emulator(dataset, clock, faults=profile)
    with emulator.serve() as base_url:
        api = api_session(base_url)
        now = clock.time()
        ready = [c for c in dataset.conversations if c.transcript and emulator.transcript_ready_at(c) <= now]
        normal = [c for c in ready if c.transcript.kind == "normal"][:8]
        for conv in [*normal, ready_conversation(dataset, emulator, kind="large")]:
            assert robust_get(api, url_getter(api, conv)) == b"".join(iter_document(dataset, conv))
    if profile in ("drop_connections", "etag_change", "chaos"):
        assert emulator.stats.s3_drops >= 1


def test_it_changes_the_etag_once_after_the_first_cut_download(dataset, clock):
    emulator = make_emulator(dataset, clock, faults="etag_change")
    with emulator.serve() as base_url:
        api = api_session(base_url)
        conv = ready_conversation(dataset, emulator)
        url = transcript_url(api, conv)
        first = requests.get(url, stream=True)
        original_etag = first.headers["ETag"]
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            first.content  # noqa: B018 - reading the body hits the cut
        resumed = requests.get(url, headers={"Range": "bytes=10-", "If-Range": original_etag})
        assert resumed.status_code == 200 and resumed.headers["ETag"] != original_etag
        assert resumed.content == b"".join(iter_document(dataset, conv))
        assert requests.get(url).headers["ETag"] == resumed.headers["ETag"]


def test_it_answers_ranges_with_the_full_body_under_range_ignored(dataset, clock):
    emulator = make_emulator(dataset, clock, faults="range_ignored", seed=99)
    with emulator.serve() as base_url:
        url = transcript_url(api_session(base_url), ready_conversation(dataset, emulator))
        response = requests.get(url, headers={"Range": "bytes=5-"}, stream=True)
        assert response.status_code == 200 and "Content-Range" not in response.headers


def test_it_issues_an_already_expired_first_url(dataset, clock):
    emulator = make_emulator(dataset, clock, faults="expired_urls")
    with emulator.serve() as base_url:
        api = api_session(base_url)
        conv = ready_conversation(dataset, emulator)
        first = requests.get(transcript_url(api, conv))
        assert first.status_code == 403 and b"Request has expired" in first.content
        assert requests.get(transcript_url(api, conv)).status_code == 200


def test_it_transcodes_for_minutes_under_transcoding(dataset, clock):
    emulator = make_emulator(dataset, clock, faults="transcoding")
    with emulator.serve() as base_url:
        api = api_session(base_url)
        conv = ready_conversation(dataset, emulator)
        path = f"{base_url}/api/v2/conversations/{conv.conversation_id}/recordings"
        assert api.get(path, params={"formatId": "WAV"}).status_code == 202
        clock.advance(30)
        assert api.get(path, params={"formatId": "WAV", "maxWaitMs": 0}).status_code == 202
        clock.advance(180)
        recordings = api.get(path, params={"formatId": "WAV", "maxWaitMs": 0}).json()
    assert hashlib.md5(conv.wav_bytes()).hexdigest() and recordings[0]["id"] == conv.recording_ids[0]
