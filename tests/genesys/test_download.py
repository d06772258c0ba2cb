from __future__ import annotations

import gzip
import hashlib
import os
import random

import pytest
import requests

from genesys.download import stream_download, strong_etag
from genesys.errors import DownloadError, UrlExpiredError

BODY = os.urandom(300_000)  # several 64 KiB chunks
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def dest(tmp_path):
    with open(tmp_path / "out.bin", "w+b") as handle:
        yield handle


def contents(handle) -> bytes:
    handle.seek(0)
    return handle.read()


def download(url, dest, clock, **kwargs):
    return stream_download(
        session=requests.Session(), url=url, dest=dest, clock=clock, rng=random.Random(1), timeout=5, **kwargs
    )


def test_it_streams_one_get_with_a_hash_and_no_authorization(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    result = download(s3.url, dest, clock)
    assert result.size == len(BODY) and result.sha256 == SHA and result.etag == '"v1"'
    assert (result.resumes, result.restarts, result.url_refreshes) == (0, 0, 0)
    assert contents(dest) == BODY
    assert len(s3.requests) == 1
    assert "Authorization" not in s3.requests[0]["headers"] and "Range" not in s3.requests[0]["headers"]


def test_it_never_forwards_a_session_authorization_header(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    session = requests.Session()
    session.headers["Authorization"] = "Bearer must-not-leak"
    stream_download(session=session, url=s3.url, dest=dest, clock=clock, timeout=5)
    assert "Authorization" not in s3.requests[0]["headers"]


def test_it_resumes_after_a_dropped_connection_with_range_and_if_range(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 140_000}, {}]
    result = download(s3.url, dest, clock)
    assert result.sha256 == SHA and result.resumes == 1 and result.restarts == 0
    second = s3.requests[1]["headers"]
    # Every byte that arrived before the drop is kept (read1 hands over what came, no torn chunk is lost).
    assert second["Range"] == "bytes=140000-"
    assert second["If-Range"] == '"v1"'
    assert contents(dest) == BODY
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= 0.5  # full jitter on the first retry


def test_it_restarts_from_zero_when_range_is_ignored(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 150_000}, {"ignore_range": True}]
    result = download(s3.url, dest, clock)
    assert "Range" in s3.requests[1]["headers"]
    assert result.sha256 == SHA and result.restarts == 1 and result.resumes == 0
    assert contents(dest) == BODY  # truncated and rewritten, never appended


def test_it_restarts_without_range_when_the_etag_is_weak(fake_s3, dest, clock):
    s3 = fake_s3(BODY, etag='W/"weak"')
    s3.plan = [{"drop_after": 140_000}, {}]
    result = download(s3.url, dest, clock)
    assert result.sha256 == SHA and result.restarts == 1
    assert "Range" not in s3.requests[1]["headers"] and "If-Range" not in s3.requests[1]["headers"]
    assert strong_etag('W/"x"') is None and strong_etag('"x"') == '"x"'


def test_it_restarts_when_the_etag_changes_between_parts(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 140_000}, {"etag": '"v2"', "force_206": True}, {"etag": '"v2"'}]
    result = download(s3.url, dest, clock)
    assert result.sha256 == SHA and result.restarts == 1 and result.etag == '"v2"'
    assert s3.requests[1]["headers"]["If-Range"] == '"v1"'
    assert "Range" not in s3.requests[2]["headers"]
    assert contents(dest) == BODY


def test_it_restarts_on_416_when_bytes_are_missing(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 140_000}, {"status": 416}, {}]
    result = download(s3.url, dest, clock)
    assert result.sha256 == SHA and result.restarts == 1
    assert "Range" not in s3.requests[2]["headers"]


def test_it_treats_416_as_complete_when_every_byte_arrived(fake_s3, dest, clock):
    body = BODY[: 4 * 65536]  # whole chunks, so every byte sent before the hang-up reaches the file
    s3 = fake_s3(body)
    # The first answer announces 10 bytes more than the object holds, sends it all and hangs up; the resume
    # asks for bytes=262144- and the server answers 416 bytes */262144: the file is already complete.
    s3.plan = [{"length_extra": 10}, {"status": 416}]
    result = download(s3.url, dest, clock)
    assert s3.requests[1]["headers"]["Range"] == f"bytes={len(body)}-"
    assert result.size == len(body) and result.sha256 == hashlib.sha256(body).hexdigest() and result.restarts == 0
    assert len(s3.requests) == 2


def test_it_rejects_a_206_that_starts_at_the_wrong_offset(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 100_000}, {"content_range_first": 0}]
    with pytest.raises(DownloadError, match="Content-Range"):
        download(s3.url, dest, clock)


def test_it_refreshes_an_expired_url_and_resumes(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 140_000}, {"expired": True}, {}]
    refreshed = []

    def refresh_url():
        refreshed.append(1)
        return s3.url + "&fresh=1"

    result = download(s3.url, dest, clock, refresh_url=refresh_url)
    assert result.sha256 == SHA and result.url_refreshes == 1 and result.resumes == 1
    assert "fresh=1" in s3.requests[2]["path"] and s3.requests[2]["headers"]["Range"] == "bytes=140000-"


def test_it_raises_url_expired_without_a_refresh(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"expired": True}]
    with pytest.raises(UrlExpiredError):
        download(s3.url, dest, clock)


def test_it_gives_up_after_bounded_attempts(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"status": 500}]
    with pytest.raises(DownloadError, match="5 failed attempts"):
        download(s3.url, dest, clock)
    assert len(s3.requests) == 5
    for attempt, slept in enumerate(clock.sleeps):
        assert 0 <= slept <= min(10.0, 0.5 * 2**attempt)


def test_it_gives_up_when_the_body_keeps_coming_up_short(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 140_000}, {"drop_after": 10}]
    with pytest.raises(DownloadError, match="failed attempts"):
        download(s3.url, dest, clock)


def test_it_counts_downloads_in_client_stats_not_api_calls(fake_s3, dest, make_client):
    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 140_000}, {}]
    events = []
    client = make_client(on_request=events.append)
    result = client.download(s3.url, dest)
    assert result.sha256 == SHA
    assert client.stats.api_calls == 0 and client.stats.token_requests == 0
    assert client.stats.bytes_downloaded == len(BODY)
    assert [e.endpoint for e in events] == ["s3.download", "s3.download"]
    assert client.stats.by_endpoint[("s3.download", 206)] == 1


def test_it_reports_last_modified_as_an_aware_utc_datetime(fake_s3, dest, clock):
    from datetime import UTC, datetime

    s3 = fake_s3(BODY)
    s3.plan = [{"last_modified": "Mon, 04 May 2026 11:02:03 GMT"}]
    result = download(s3.url, dest, clock)
    assert result.last_modified == datetime(2026, 5, 4, 11, 2, 3, tzinfo=UTC)


def test_it_keeps_last_modified_across_a_resume(fake_s3, dest, clock):
    from datetime import UTC, datetime

    s3 = fake_s3(BODY)
    s3.plan = [{"drop_after": 140_000, "last_modified": "Mon, 04 May 2026 11:02:03 GMT"}, {}]
    result = download(s3.url, dest, clock)
    assert result.resumes == 1 and result.sha256 == SHA
    assert result.last_modified == datetime(2026, 5, 4, 11, 2, 3, tzinfo=UTC)


@pytest.mark.parametrize("header", [None, "", "yesterday-ish", "Mon, 99 Foo 2026 25:61:00 GMT"])
def test_it_tolerates_a_missing_or_garbled_last_modified(fake_s3, dest, clock, header):
    s3 = fake_s3(BODY)
    s3.plan = [{"last_modified": header}]
    result = download(s3.url, dest, clock)
    assert result.last_modified is None and result.sha256 == SHA


def test_it_parses_http_dates_leniently():
    from datetime import UTC, datetime

    from genesys.download import parse_http_date

    assert parse_http_date("Mon, 04 May 2026 11:02:03 -0000") == datetime(2026, 5, 4, 11, 2, 3, tzinfo=UTC)
    assert parse_http_date("Mon, 04 May 2026 13:02:03 +0200") == datetime(2026, 5, 4, 11, 2, 3, tzinfo=UTC)
    assert parse_http_date("not a date") is None and parse_http_date(None) is None


BIG = os.urandom(3 * 1024 * 1024 + 12_345)  # several 512 KiB reads


def test_it_resumes_exactly_where_hash_and_file_stop_when_a_big_body_drops(fake_s3, dest, clock):
    s3 = fake_s3(BIG)
    s3.plan = [{"drop_after": 2_000_001}, {}]
    result = download(s3.url, dest, clock)
    assert result.sha256 == hashlib.sha256(BIG).hexdigest() and result.size == len(BIG)
    assert (result.resumes, result.restarts) == (1, 0)
    assert s3.requests[1]["headers"]["Range"] == "bytes=2000001-"
    assert contents(dest) == BIG


def test_it_detects_a_big_body_one_byte_short_and_fetches_that_byte(fake_s3, dest, clock):
    s3 = fake_s3(BIG)
    s3.plan = [{"drop_after": len(BIG) - 1}, {}]  # Content-Length promised one byte more than arrived
    result = download(s3.url, dest, clock)
    assert result.sha256 == hashlib.sha256(BIG).hexdigest() and contents(dest) == BIG
    assert len(s3.requests) == 2 and s3.requests[1]["headers"]["Range"] == f"bytes={len(BIG) - 1}-"


class _DiskFull:
    """A dest file that fails like a full disk once `room` bytes are written."""

    def __init__(self, handle, room):
        self.handle = handle
        self.room = room

    def write(self, data):
        if self.handle.tell() + len(data) > self.room:
            raise OSError(28, "No space left on device")
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)


@pytest.mark.parametrize("body", [BODY, BIG], ids=["small", "big"])
def test_a_write_error_is_raised_as_is_and_never_retried(fake_s3, dest, clock, body):
    s3 = fake_s3(body)
    with pytest.raises(OSError, match="No space left"):
        download(s3.url, _DiskFull(dest, room=len(body) // 2), clock)
    assert len(s3.requests) == 1


GZIPPED = gzip.compress(b'{"transcripts": []}' * 40_000, mtime=0)


def test_it_keeps_a_gzip_body_as_served_and_reports_its_encoding(fake_s3, dest, clock):
    s3 = fake_s3(GZIPPED)
    s3.plan = [{"headers": {"Content-Encoding": "gzip"}}]
    result = download(s3.url, dest, clock)
    assert result.content_encoding == "gzip"
    assert contents(dest) == GZIPPED  # never decoded: the stored bytes are the served bytes
    assert result.size == len(GZIPPED) and result.sha256 == hashlib.sha256(GZIPPED).hexdigest()
    assert s3.requests[0]["headers"]["Accept-Encoding"] == "identity"


@pytest.mark.parametrize("header", [None, "identity", ""])
def test_it_reports_no_content_encoding_for_identity(fake_s3, dest, clock, header):
    s3 = fake_s3(BODY)
    s3.plan = [{"headers": {} if header is None else {"Content-Encoding": header}}]
    assert download(s3.url, dest, clock).content_encoding is None


def test_it_resumes_a_gzip_body_at_the_served_byte_offset(fake_s3, dest, clock):
    body = os.urandom(200_000)  # stands in for compressed bytes
    s3 = fake_s3(body)
    s3.plan = [
        {"drop_after": 90_000, "headers": {"Content-Encoding": "gzip"}},
        {"headers": {"Content-Encoding": "gzip"}},
    ]
    result = download(s3.url, dest, clock)
    assert s3.requests[1]["headers"]["Range"] == "bytes=90000-"
    assert result.content_encoding == "gzip" and result.resumes == 1
    assert contents(dest) == body and result.sha256 == hashlib.sha256(body).hexdigest()


def test_it_restarts_when_the_content_encoding_changes_between_parts(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [
        {"drop_after": 140_000, "headers": {"Content-Encoding": "gzip"}},
        {"force_206": True, "headers": {"Content-Encoding": "br"}},
        {},
    ]
    result = download(s3.url, dest, clock)
    assert result.restarts == 1 and result.content_encoding is None and contents(dest) == BODY


def test_it_refreshes_a_url_whose_temporary_credentials_expired(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"expired_token": True}, {"expired_token": True}, {}]
    refreshed = []

    def refresh_url():
        refreshed.append(1)
        return s3.url + f"&fresh={len(refreshed)}"

    result = download(s3.url, dest, clock, refresh_url=refresh_url)
    assert result.sha256 == SHA and result.url_refreshes == 2 and len(refreshed) == 2
    assert "fresh=2" in s3.requests[2]["path"]


def test_it_bounds_refreshes_for_expired_tokens_too(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"expired_token": True}]
    with pytest.raises(UrlExpiredError) as caught:
        download(s3.url, dest, clock, refresh_url=lambda: s3.url)
    assert caught.value.status == 400 and "after 3 refreshes" in str(caught.value)
    assert len(s3.requests) == 4


def test_it_does_not_refresh_on_another_400(fake_s3, dest, clock):
    s3 = fake_s3(BODY)
    s3.plan = [{"status": 400}]
    with pytest.raises(DownloadError) as caught:
        download(s3.url, dest, clock, refresh_url=lambda: pytest.fail("refreshed on a plain 400"))
    assert not isinstance(caught.value, UrlExpiredError) and caught.value.status == 400
