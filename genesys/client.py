"""GenesysClient: the one HTTP choke point (auth, rate limit, retries, typed errors, metrics) and every endpoint."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from genesys.auth import TOKEN_ENDPOINT, TokenAttempt, TokenProvider
from genesys.backoff import full_jitter
from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.download import DOWNLOAD_ENDPOINT, DownloadAttempt, DownloadResult, parse_http_date, stream_download
from genesys.errors import (
    GenesysError,
    ServerError,
    TransportError,
    error_for_status,
)
from genesys.ratelimit import RateLimiter

POOL_SIZE = 16
CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
MAX_RATE_LIMITED_RETRIES = 10
DEFAULT_RETRY_AFTER_SECONDS = 3.0  # the Java SDK's retryAfterDefaultMs
USER_AGENT = "transcript-vault/0.1 (python-requests)"

ANALYTICS_MAX_INTERVAL = timedelta(days=7)
SEARCH_RESULT_WINDOW = 1000  # transcript search pages only through the first 1,000 results
SEARCH_MIN_SPLIT = timedelta(minutes=1)
MAX_IDS_PER_SEARCH = 100
MAX_BATCH_ITEMS = 100
MAX_IDS_PER_LOOKUP = 100  # routing/queues and users take at most 100 repeated `id` parameters per page
SEARCH_DATE_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"


@dataclass(frozen=True)
class RequestEvent:
    endpoint: str
    method: str
    status: int | None
    seconds: float
    retry: bool
    bytes: int
    context_id: str | None


@dataclass
class ClientStats:
    api_calls: int = 0  # Genesys API attempts; oauth and pre-signed downloads are counted separately
    by_endpoint: Counter = field(default_factory=Counter)  # (endpoint, status) for every attempt, oauth/s3 too
    token_requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    bytes_downloaded: int = 0


def iso_utc(moment: datetime) -> str:
    """2026-05-01T00:00:00.000Z: the format Genesys documents for intervals and search dates."""
    if moment.tzinfo is None:
        raise ValueError("Genesys dates must be timezone-aware datetimes")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def split_interval(start: datetime, end: datetime, *, step: timedelta) -> Iterator[tuple[datetime, datetime]]:
    if end <= start:
        return
    cursor = start
    while cursor < end:
        upper = min(cursor + step, end)
        yield cursor, upper
        cursor = upper


def retry_after_seconds(headers: Any, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from `now` (epoch): delay-seconds, or an HTTP-date (RFC 9110 §10.2.3)."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(float(str(raw).strip()), 0.0)
    except ValueError:
        pass
    when = parse_http_date(str(raw))
    if when is None or now is None:
        return None
    return max(when.timestamp() - now, 0.0)


def conversation_details_body(*, start: datetime, end: datetime, page_size: int, page_number: int) -> dict:
    """Ended, recorded voice conversations (genesys-api.md §7.1)."""
    return {
        "interval": f"{iso_utc(start)}/{iso_utc(end)}",
        "order": "asc",
        "orderBy": "conversationStart",
        "paging": {"pageSize": page_size, "pageNumber": page_number},
        "conversationFilters": [
            {"type": "and", "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}]}
        ],
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


def transcript_search_body(
    *, start: datetime, end: datetime, conversation_ids: list[str] | None, page_size: int, page_number: int
) -> dict:
    """Voice transcripts by conversation start (genesys-api.md §5)."""
    query: list[dict] = [
        {
            "type": "DATE_RANGE",
            "fields": ["conversationStartTime"],
            "startValue": iso_utc(start),
            "endValue": iso_utc(end),
            "dateFormat": SEARCH_DATE_FORMAT,
        },
        {"type": "EXACT", "fields": ["mediaType"], "value": "call"},
    ]
    if conversation_ids:
        query.append({"type": "EXACT", "fields": ["conversationId"], "values": list(conversation_ids)})
    return {"types": ["transcripts"], "pageSize": page_size, "pageNumber": page_number, "query": query}


class GenesysClient:
    def __init__(
        self,
        *,
        api_url: str,
        login_url: str,
        client_id: str,
        client_secret: str,
        rate_limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_retry_seconds: float = 120.0,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        on_request: Callable[[RequestEvent], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_retries = max_retries
        self.max_retry_seconds = max_retry_seconds
        self.timeout = (min(CONNECT_TIMEOUT_SECONDS, timeout), timeout)
        self.on_request = on_request
        self.rate_limiter = rate_limiter or RateLimiter(key=f"genesys:{client_id}", clock=clock)
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()
        self.session = session or self._new_session()
        self.tokens = TokenProvider(
            login_url=self.login_url,
            client_id=client_id,
            client_secret=client_secret,
            session=self.session,
            timeout=self.timeout,
            clock=clock,
            on_attempt=self._record_token_attempt,
        )

    def __repr__(self) -> str:
        return f"GenesysClient(api_url={self.api_url!r}, client_id={self.client_id!r})"

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        return session

    # ----------------------------------------------------------------------------------- metrics
    def _emit(self, event: RequestEvent) -> None:
        if self.on_request is not None:
            self.on_request(event)

    def _record_token_attempt(self, attempt: TokenAttempt) -> None:
        with self._stats_lock:
            self.stats.token_requests += 1
            self.stats.by_endpoint[(TOKEN_ENDPOINT, attempt.status)] += 1
        self._emit(RequestEvent(TOKEN_ENDPOINT, "POST", attempt.status, attempt.seconds, False, 0, attempt.context_id))

    def _record_api_attempt(self, event: RequestEvent) -> None:
        with self._stats_lock:
            self.stats.api_calls += 1
            self.stats.by_endpoint[(event.endpoint, event.status)] += 1
            if event.status == 429:
                self.stats.rate_limited += 1
        self._emit(event)

    def _record_download_attempt(self, attempt: DownloadAttempt) -> None:
        with self._stats_lock:
            self.stats.by_endpoint[(DOWNLOAD_ENDPOINT, attempt.status)] += 1
            self.stats.bytes_downloaded += attempt.bytes
            if attempt.retry:
                self.stats.retries += 1
        self._emit(
            RequestEvent(DOWNLOAD_ENDPOINT, "GET", attempt.status, attempt.seconds, attempt.retry, attempt.bytes, None)
        )

    def _count_retry(self) -> None:
        with self._stats_lock:
            self.stats.retries += 1

    # ------------------------------------------------------------------------------ choke point
    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: dict | None = None,
        json_body: Any = None,
        accept: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one API request with auth, rate limiting and bounded retries.

        Returns the response for 2xx and for any status in `accept` (e.g. 404 for "not yet");
        raises a typed GenesysError otherwise.
        """
        url = f"{self.api_url}{path}"
        started = self.clock.monotonic()
        failures = 0  # 5xx and transport errors: bounded by max_retries and max_retry_seconds
        rate_limited = 0
        refreshed_token = False
        attempt = 0
        while True:
            if attempt:
                self._count_retry()
            is_retry = attempt > 0
            attempt += 1
            try:
                token = self.tokens.token()
            except (ServerError, TransportError) as exc:
                # The login service hiccupped: same budget as an API 5xx.
                self._backoff_or_raise(exc, failures=failures, started=started, retry_after=None)
                failures += 1
                continue

            self.rate_limiter.wait()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if json_body is not None:
                headers["Content-Type"] = "application/json"
            sent_at = self.clock.monotonic()
            try:
                response = self.session.request(
                    method, url, params=params, json=json_body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                self._record_api_attempt(
                    RequestEvent(endpoint, method, None, self.clock.monotonic() - sent_at, is_retry, 0, None)
                )
                error = TransportError(f"{endpoint}: {type(exc).__name__} talking to {self.api_url}")
                self._backoff_or_raise(error, failures=failures, started=started, retry_after=None)
                failures += 1
                continue

            status = response.status_code
            context_id = response.headers.get("ININ-Correlation-Id")
            self._record_api_attempt(
                RequestEvent(
                    endpoint,
                    method,
                    status,
                    self.clock.monotonic() - sent_at,
                    is_retry,
                    len(response.content or b""),
                    context_id,
                )
            )
            self.rate_limiter.on_headers(response.headers)

            if status == 401 and not refreshed_token:
                # The token may have been revoked or expired early: refresh once, retry once.
                self.tokens.invalidate(token)
                refreshed_token = True
                continue
            if status == 429:
                retry_after = retry_after_seconds(response.headers)
                retry_after = DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after
                self.rate_limiter.on_429(retry_after)
                rate_limited += 1
                if rate_limited <= MAX_RATE_LIMITED_RETRIES:
                    continue  # rate_limiter.wait() holds us (and everyone sharing it) until Retry-After passes
                raise self._error(response, endpoint, retry_after=retry_after)
            if status >= 500:
                error = self._error(response, endpoint)
                self._backoff_or_raise(
                    error, failures=failures, started=started, retry_after=retry_after_seconds(response.headers)
                )
                failures += 1
                continue
            if 200 <= status < 300 or status in accept:
                return response
            raise self._error(response, endpoint)

    def _error(self, response: requests.Response, endpoint: str, *, retry_after: float = 0.0) -> GenesysError:
        return error_for_status(
            status=response.status_code,
            body_text=response.text,
            headers=response.headers,
            endpoint=endpoint,
            retry_after=retry_after,
        )

    def _backoff_or_raise(
        self, error: GenesysError, *, failures: int, started: float, retry_after: float | None
    ) -> None:
        """Sleep before the next attempt, or raise `error` when the retry budget is spent."""
        if failures >= self.max_retries:
            raise error
        delay = full_jitter(failures, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS, rng=self.rng)
        if retry_after is not None:
            delay = retry_after  # the server said when to come back
        elapsed = self.clock.monotonic() - started
        if elapsed + delay > self.max_retry_seconds:
            raise error
        self.clock.sleep(delay)

    def _json(self, method: str, path: str, *, endpoint: str, **kwargs: Any) -> Any:
        response = self.request(method, path, endpoint=endpoint, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise GenesysError(
                f"{endpoint}: HTTP {response.status_code} body is not JSON", status=response.status_code
            ) from None

    # -------------------------------------------------------------------------------- endpoints
    def query_conversation_details(self, *, start: datetime, end: datetime, page_size: int = 100) -> Iterator[dict]:
        """Ended, recorded voice conversations in [start, end), in ≤7-day intervals, all pages."""
        seen: set[str] = set()  # intervals match by day touched, so neighbours can return the same conversation
        for lower, upper in split_interval(start, end, step=ANALYTICS_MAX_INTERVAL):
            page_number = 1
            while True:
                body = (
                    self._json(
                        "POST",
                        "/api/v2/analytics/conversations/details/query",
                        endpoint="analytics.details.query",
                        json_body=conversation_details_body(
                            start=lower, end=upper, page_size=page_size, page_number=page_number
                        ),
                    )
                    or {}
                )
                conversations = body.get("conversations") or []
                for conversation in conversations:
                    conversation_id = conversation.get("conversationId")
                    if conversation_id in seen:
                        continue
                    seen.add(conversation_id)
                    yield conversation
                total_hits = int(body.get("totalHits") or 0)
                if not conversations or page_number * page_size >= total_hits:
                    break
                page_number += 1

    def search_transcripts(
        self,
        *,
        start: datetime,
        end: datetime,
        conversation_ids: list[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[dict]:
        """Voice transcripts whose conversation started in [start, end]; ranges over 1,000 hits are bisected."""
        seen: set[tuple] = set()  # bisected ranges share their boundary instant
        id_chunks: list[list[str] | None] = [None]
        if conversation_ids:
            ids = list(dict.fromkeys(conversation_ids))
            id_chunks = [ids[i : i + MAX_IDS_PER_SEARCH] for i in range(0, len(ids), MAX_IDS_PER_SEARCH)]
        for chunk in id_chunks:
            for result in self._search_range(start=start, end=end, conversation_ids=chunk, page_size=page_size):
                key = (result.get("conversationId"), result.get("communicationId"), result.get("transcriptId"))
                if key in seen:
                    continue
                seen.add(key)
                yield result

    def _search_page(
        self, *, start: datetime, end: datetime, conversation_ids: list[str] | None, page_size: int, page_number: int
    ) -> dict:
        return (
            self._json(
                "POST",
                "/api/v2/speechandtextanalytics/transcripts/search",
                endpoint="sta.transcripts.search",
                json_body=transcript_search_body(
                    start=start,
                    end=end,
                    conversation_ids=conversation_ids,
                    page_size=page_size,
                    page_number=page_number,
                ),
            )
            or {}
        )

    def _search_range(
        self, *, start: datetime, end: datetime, conversation_ids: list[str] | None, page_size: int
    ) -> Iterator[dict]:
        first = self._search_page(
            start=start, end=end, conversation_ids=conversation_ids, page_size=page_size, page_number=1
        )
        total = int(first.get("total") or 0)
        if total > SEARCH_RESULT_WINDOW and end - start > SEARCH_MIN_SPLIT:
            # Paging stops at 1,000 results, so split until every range can be paged to its end.
            middle = start + (end - start) / 2
            yield from self._search_range(
                start=start, end=middle, conversation_ids=conversation_ids, page_size=page_size
            )
            yield from self._search_range(start=middle, end=end, conversation_ids=conversation_ids, page_size=page_size)
            return
        reachable = min(total, SEARCH_RESULT_WINDOW)
        page, page_number = first, 1
        while True:
            results = page.get("results") or []
            yield from results
            if not results or page_number * page_size >= reachable:
                return
            page_number += 1
            page = self._search_page(
                start=start, end=end, conversation_ids=conversation_ids, page_size=page_size, page_number=page_number
            )

    @staticmethod
    def _communication_path(conversation_id: str, communication_id: str) -> str:
        return (
            f"/api/v2/speechandtextanalytics/conversations/{quote(conversation_id, safe='')}"
            f"/communications/{quote(communication_id, safe='')}"
        )

    def get_transcript_url(self, conversation_id: str, communication_id: str) -> str | None:
        response = self.request(
            "GET",
            self._communication_path(conversation_id, communication_id) + "/transcripturl",
            endpoint="sta.transcripturl",
            accept=(404,),
        )
        if response.status_code == 404:
            return None
        return (response.json() or {}).get("url")

    def get_transcript_urls(self, conversation_id: str, communication_id: str) -> list[dict] | None:
        response = self.request(
            "GET",
            self._communication_path(conversation_id, communication_id) + "/transcripturls",
            endpoint="sta.transcripturls",
            accept=(404,),
        )
        if response.status_code == 404:
            return None
        body = response.json() or {}
        return [
            {"url": item.get("url"), "recordingId": (item.get("recording") or {}).get("id")}
            for item in body.get("urls") or []
        ]

    def list_recordings(
        self, conversation_id: str, *, format_id: str = "WAV", max_wait_ms: int = 5000
    ) -> list[dict] | None:
        """None while Genesys is still transcoding (202); the caller reschedules instead of sleeping here."""
        response = self.request(
            "GET",
            f"/api/v2/conversations/{quote(conversation_id, safe='')}/recordings",
            endpoint="recording.list",
            params={"formatId": format_id, "maxWaitMs": max_wait_ms},
        )
        if response.status_code == 202:
            return None
        return response.json() if response.content else []

    def get_recording(self, conversation_id: str, recording_id: str, *, format_id: str = "WAV") -> dict | None:
        response = self.request(
            "GET",
            f"/api/v2/conversations/{quote(conversation_id, safe='')}/recordings/{quote(recording_id, safe='')}",
            endpoint="recording.get",
            params={"formatId": format_id},
        )
        if response.status_code == 202:
            return None
        return response.json() if response.content else None

    def list_recording_metadata(self, conversation_id: str) -> list[dict]:
        body = self._json(
            "GET",
            f"/api/v2/conversations/{quote(conversation_id, safe='')}/recordingmetadata",
            endpoint="recording.metadata",
        )
        return body or []

    def submit_batch_download(self, items: list[tuple[str, str | None]]) -> str:
        if not items:
            raise ValueError("a batch download needs at least one (conversation_id, recording_id) item")
        if len(items) > MAX_BATCH_ITEMS:
            raise ValueError(f"a batch download takes at most {MAX_BATCH_ITEMS} items, got {len(items)}")
        body = self._json(
            "POST",
            "/api/v2/recording/batchrequests",
            endpoint="recording.batch.submit",
            json_body={
                "batchDownloadRequestList": [
                    {"conversationId": conversation_id, "recordingId": recording_id}
                    for conversation_id, recording_id in items
                ]
            },
        )
        job_id = (body or {}).get("id")
        if not job_id:
            raise GenesysError("recording.batch.submit: response has no job id")
        return job_id

    def get_batch_download(self, job_id: str) -> dict:
        return (
            self._json(
                "GET", f"/api/v2/recording/batchrequests/{quote(job_id, safe='')}", endpoint="recording.batch.get"
            )
            or {}
        )

    def _lookup(self, path: str, *, endpoint: str, ids: Iterable[str], extra: dict | None = None) -> list[dict]:
        """Entities for `ids` from a directory listing that filters by repeated `id` parameters, ≤100 per call."""
        unique = list(dict.fromkeys(i for i in ids if i))
        entities: list[dict] = []
        for first in range(0, len(unique), MAX_IDS_PER_LOOKUP):
            chunk = unique[first : first + MAX_IDS_PER_LOOKUP]
            # requests repeats a list parameter: ?id=a&id=b (the SDK's collection format "multi").
            params = {"id": chunk, "pageSize": MAX_IDS_PER_LOOKUP, **(extra or {})}
            body = self._json("GET", path, endpoint=endpoint, params=params)
            entities.extend(e for e in (body or {}).get("entities") or [] if isinstance(e, dict) and e.get("id"))
        return entities

    def get_queues(self, queue_ids: Iterable[str]) -> list[dict]:
        """GET /api/v2/routing/queues?id=…: [{id, name, division: {id, name}}]; unknown ids are simply absent.
        Needs routing:queue:view."""
        return self._lookup("/api/v2/routing/queues", endpoint="routing.queues", ids=queue_ids)

    def get_users(self, user_ids: Iterable[str]) -> list[dict]:
        """GET /api/v2/users?id=…: [{id, name, division?}]; unknown ids are simply absent. Needs directory:user:view."""
        # state=any: agents who have since left still handled the calls we archive.
        return self._lookup("/api/v2/users", endpoint="users.list", ids=user_ids, extra={"state": "any"})

    def download(self, url: str, dest: BinaryIO, *, refresh_url: Callable[[], str] | None = None) -> DownloadResult:
        """Stream a pre-signed URL into dest (no Authorization header; not rate limited: it is S3, not Genesys)."""
        return stream_download(
            session=self.session,
            url=url,
            dest=dest,
            refresh_url=refresh_url,
            timeout=self.timeout,
            clock=self.clock,
            rng=self.rng,
            on_attempt=self._record_download_attempt,
        )

    def check_credentials(self) -> None:
        """Fetch a token now (raises AuthenticationError / TransportError with what to fix)."""
        self.tokens.token()
