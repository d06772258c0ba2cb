"""Streaming download of a pre-signed URL (S3) with validated Range resume (RFC 9110 §14, §13.1.5).

One GET streams the body into `dest` while hashing it; only after a dropped connection or a short body do we
ask for the rest with `Range` + `If-Range`. Every answer is checked (status, Content-Range, ETag, length), so
a file is either complete and consistent or the download fails. The body is never held whole in memory.

Bytes are stored exactly as served: an object S3 serves with `Content-Encoding: gzip` is kept compressed
(and reported in DownloadResult.content_encoding), so the hash, the length and every Range offset refer to
the same bytes; the transcript parser decompresses while it reads.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

import requests
import urllib3

from genesys.backoff import full_jitter, parse_http_date
from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.errors import DownloadError, UrlExpiredError

DOWNLOAD_ENDPOINT = "s3.download"
# Upper bound of one read: read1() returns what has arrived (up to this), so a fast link is read in a few
# large pieces and the memory held is one piece at most.
CHUNK_SIZE = 512 * 1024
MAX_ATTEMPTS = 5  # boto3's num_download_attempts
MAX_URL_REFRESHES = 3
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 10.0
# Enough of an error body to recognise S3's expiry answers without reading an unbounded body.
ERROR_BODY_LIMIT = 16 * 1024
# S3 answers an expired pre-signed URL with 403 "Request has expired"; a URL signed with temporary (STS)
# credentials whose session token expired answers 400 ExpiredToken (genesys-api.md §12). Both mean "ask
# Genesys for a fresh URL".
EXPIRED_MARKERS = {403: b"Request has expired", 400: b"<Code>ExpiredToken</Code>"}

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DownloadResult:
    size: int
    sha256: str
    etag: str | None
    content_type: str | None
    seconds: float
    resumes: int
    restarts: int
    url_refreshes: int
    # When the object was written (S3 Last-Modified); for a transcript, when Genesys produced the document.
    last_modified: datetime | None = None
    # Content-Encoding of the served object, lower-cased ("gzip"); None for identity or absent. The stored
    # bytes (and size, sha256) are the encoded ones.
    content_encoding: str | None = None


@dataclass(frozen=True)
class DownloadAttempt:
    """One HTTP attempt, reported to the client's metrics hook."""

    status: int | None
    seconds: float
    bytes: int
    retry: bool


def strong_etag(etag: str | None) -> str | None:
    """If-Range needs a strong validator: a weak (W/) tag must never be sent."""
    if not etag or etag.strip().upper().startswith("W/"):
        return None
    return etag.strip()


def content_encoding_of(headers) -> str | None:
    """The Content-Encoding header, lower-cased; None when absent, empty or identity."""
    value = (headers.get("Content-Encoding") or "").strip().lower()
    return None if value in ("", "identity") else value


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    first, last, total = match.groups()
    return int(first), int(last), None if total == "*" else int(total)


def parse_unsatisfied_range(value: str | None) -> int | None:
    match = _UNSATISFIED_RANGE.match(value or "")
    return int(match.group(1)) if match else None


def expired_url_answer(response: requests.Response) -> bool:
    """Whether S3 answered that the pre-signed URL expired (EXPIRED_MARKERS), reading at most ERROR_BODY_LIMIT
    bytes of the error document."""
    marker = EXPIRED_MARKERS.get(response.status_code)
    if marker is None:
        return False
    body = b""
    for chunk in response.iter_content(chunk_size=4096):
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            break
    return marker in body


def presigned_get(
    session: requests.Session, url: str, *, headers: dict[str, str], timeout: float | tuple[float, float]
) -> requests.Response:
    """GET a pre-signed URL, streamed (the caller reads the body), redirects followed, proxies honoured."""
    prepared = session.prepare_request(requests.Request("GET", url, headers=headers))
    # The URL carries its own signature; a Bearer token (or .netrc credentials) must never go to S3.
    prepared.headers.pop("Authorization", None)
    settings = session.merge_environment_settings(prepared.url, {}, True, None, None)  # proxies, verify, stream
    return session.send(prepared, timeout=timeout, allow_redirects=True, **settings)


class _Retry(Exception):
    """Internal: this attempt failed in a way a new attempt may fix."""

    def __init__(self, reason: str, *, backoff: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.backoff = backoff


class _Download:
    def __init__(
        self,
        *,
        session: requests.Session,
        url: str,
        dest: BinaryIO,
        refresh_url: Callable[[], str] | None,
        timeout: float | tuple[float, float],
        clock: Clock,
        rng: random.Random | None,
        max_attempts: int,
        on_attempt: Callable[[DownloadAttempt], None] | None,
    ) -> None:
        self.session = session
        self.url = url
        self.dest = dest
        self.refresh_url = refresh_url
        self.timeout = timeout
        self.clock = clock
        self.rng = rng
        self.max_attempts = max_attempts
        self.on_attempt = on_attempt
        self.received = 0
        self.hasher = hashlib.sha256()
        self.etag: str | None = None
        self.total: int | None = None
        self.content_type: str | None = None
        self.content_encoding: str | None = None
        self.last_modified: datetime | None = None
        self.resumes = 0
        self.restarts = 0
        self.url_refreshes = 0
        self.complete = False
        self.dest.seek(0)
        self.dest.truncate(0)

    def restart_from_zero(self) -> None:
        if self.received or self.etag:
            self.restarts += 1
        self.dest.seek(0)
        self.dest.truncate(0)
        self.hasher = hashlib.sha256()
        self.received = 0
        self.etag = None
        self.total = None

    def range_headers(self) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}  # byte offsets must count stored bytes, not decoded ones
        if self.received == 0:
            return headers
        etag = strong_etag(self.etag)
        if etag is None:
            # Without a strong validator a resumed part could belong to another version: start over.
            self.restart_from_zero()
            return headers
        headers["Range"] = f"bytes={self.received}-"
        headers["If-Range"] = etag
        return headers

    def run(self) -> DownloadResult:
        started = self.clock.monotonic()
        failures = 0
        attempt = 0
        while True:
            try:
                self.attempt(retry=attempt > 0)
            except _Retry as retry:
                failures += 1
                if failures >= self.max_attempts:
                    raise DownloadError(
                        f"{DOWNLOAD_ENDPOINT}: gave up after {failures} failed attempts ({retry.reason})"
                    ) from None
                if retry.backoff:
                    self.clock.sleep(
                        full_jitter(failures - 1, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS, rng=self.rng)
                    )
            attempt += 1
            if self.complete:
                return DownloadResult(
                    size=self.received,
                    sha256=self.hasher.hexdigest(),
                    etag=self.etag,
                    content_type=self.content_type,
                    seconds=self.clock.monotonic() - started,
                    resumes=self.resumes,
                    restarts=self.restarts,
                    url_refreshes=self.url_refreshes,
                    last_modified=self.last_modified,
                    content_encoding=self.content_encoding,
                )

    def send(self, headers: dict[str, str]) -> requests.Response:
        return presigned_get(self.session, self.url, headers=headers, timeout=self.timeout)

    def attempt(self, *, retry: bool) -> None:
        headers = self.range_headers()
        asked_range = "Range" in headers
        began_at = self.received
        started = self.clock.monotonic()
        status: int | None = None
        try:
            try:
                response = self.send(headers)
            except requests.RequestException as exc:
                raise _Retry(f"connection failed: {type(exc).__name__}") from None
            status = response.status_code
            with response:
                self.handle(response, asked_range=asked_range)
        finally:
            if self.on_attempt is not None:
                transferred = max(self.received - began_at, 0)
                self.on_attempt(DownloadAttempt(status, self.clock.monotonic() - started, transferred, retry))

    def handle(self, response: requests.Response, *, asked_range: bool) -> None:
        status = response.status_code
        if status == 200:
            if asked_range:
                # The server ignored Range (or If-Range failed): this is the full body from byte 0.
                self.restart_from_zero()
            self.etag = response.headers.get("ETag")
            self.content_type = response.headers.get("Content-Type")
            self.content_encoding = content_encoding_of(response.headers)
            self.last_modified = parse_http_date(response.headers.get("Last-Modified"))
            length = response.headers.get("Content-Length")
            self.total = int(length) if length and length.isdigit() else None
            self.stream(response)
            return
        if status == 206:
            self.accept_partial(response, asked_range=asked_range)
            self.last_modified = parse_http_date(response.headers.get("Last-Modified")) or self.last_modified
            self.resumes += 1
            self.stream(response)
            return
        if status == 416:
            total = parse_unsatisfied_range(response.headers.get("Content-Range"))
            if total is not None and total == self.received:
                self.total = total
                self.complete = True
                return
            self.restart_from_zero()
            raise _Retry("416 range not satisfiable", backoff=False)
        if expired_url_answer(response):
            self.refresh(status)
            return
        if status >= 500 or status == 408:
            raise _Retry(f"HTTP {status}")
        raise DownloadError(f"{DOWNLOAD_ENDPOINT}: pre-signed URL answered HTTP {status}", status=status)

    def accept_partial(self, response: requests.Response, *, asked_range: bool) -> None:
        content_range = parse_content_range(response.headers.get("Content-Range"))
        if not asked_range or content_range is None:
            raise DownloadError(
                f"{DOWNLOAD_ENDPOINT}: 206 without a usable Content-Range for bytes={self.received}-", status=206
            )
        first, last, total = content_range
        if first != self.received or last < first:
            raise DownloadError(
                f"{DOWNLOAD_ENDPOINT}: 206 Content-Range starts at {first}, asked for {self.received}", status=206
            )
        etag = response.headers.get("ETag")
        encoding = content_encoding_of(response.headers)
        if "Content-Encoding" in response.headers and encoding != self.content_encoding:
            # Bytes encoded differently cannot continue the ones we hold, whatever the ETag says.
            self.restart_from_zero()
            raise _Retry("Content-Encoding changed between parts", backoff=False)
        if etag is not None and self.etag is not None and etag != self.etag:
            # The object changed between parts: the bytes we hold belong to another version.
            self.restart_from_zero()
            raise _Retry("ETag changed between parts", backoff=False)
        if total is not None:
            if self.total is not None and total != self.total:
                self.restart_from_zero()
                raise _Retry("complete length changed between parts", backoff=False)
            self.total = total

    def stream(self, response: requests.Response) -> None:
        """Read the body straight from urllib3 and hash + write each piece as it comes.

        Identity was asked, so there is nothing to decode (decode_content=False skips urllib3's decoder
        layer), and read1() returns whatever has arrived, up to CHUNK_SIZE: one socket read per piece, no
        iter_content generator, and a dropped connection loses no byte that reached us. self.received only
        counts bytes that are both hashed and written, so a resume continues exactly where they stop.
        """
        self.dest.seek(self.received)
        raw = response.raw
        # urllib3 >= 2.3 has read1; an older one only read(n), which may lose a torn piece (still consistent).
        read = getattr(raw, "read1", None) or raw.read
        write = self.dest.write
        update = self.hasher.update
        try:
            while chunk := read(CHUNK_SIZE, decode_content=False):
                write(chunk)
                update(chunk)
                self.received += len(chunk)
        except (urllib3.exceptions.HTTPError, requests.RequestException) as exc:
            # IncompleteRead/ProtocolError (short body, reset), a read timeout: keep what arrived and resume.
            raise _Retry(f"connection dropped after {self.received} bytes: {type(exc).__name__}") from None
        if self.total is None:
            self.complete = True
            return
        if self.received < self.total:
            raise _Retry(f"short body: {self.received} of {self.total} bytes")
        if self.received > self.total:
            raise DownloadError(
                f"{DOWNLOAD_ENDPOINT}: received {self.received} bytes, the server announced {self.total}"
            )
        self.complete = True

    def refresh(self, status: int) -> None:
        if self.refresh_url is None:
            raise UrlExpiredError(
                f"{DOWNLOAD_ENDPOINT}: pre-signed URL expired (HTTP {status}) and no refresh was given", status=status
            )
        if self.url_refreshes >= MAX_URL_REFRESHES:
            raise UrlExpiredError(
                f"{DOWNLOAD_ENDPOINT}: pre-signed URL still expired (HTTP {status}) after {self.url_refreshes} "
                "refreshes; check the server clock",
                status=status,
            )
        self.url = self.refresh_url()
        self.url_refreshes += 1


def stream_download(
    *,
    session: requests.Session,
    url: str,
    dest: BinaryIO,
    refresh_url: Callable[[], str] | None = None,
    timeout: float | tuple[float, float] = 30.0,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    on_attempt: Callable[[DownloadAttempt], None] | None = None,
) -> DownloadResult:
    """Download `url` into `dest` (a binary file opened w+b: seekable and truncatable)."""
    return _Download(
        session=session,
        url=url,
        dest=dest,
        refresh_url=refresh_url,
        timeout=timeout,
        clock=clock,
        rng=rng,
        max_attempts=max_attempts,
        on_attempt=on_attempt,
    ).run()
