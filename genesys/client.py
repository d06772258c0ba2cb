"""GenesysClient: the one HTTP choke point (auth, rate limit, retries, typed errors, metrics) and every endpoint."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from genesys.auth import TOKEN_ENDPOINT, TokenAttempt, TokenCache, TokenProvider
from genesys.backoff import full_jitter, retry_after_seconds
from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.download import DOWNLOAD_ENDPOINT, DownloadAttempt, DownloadResult, presigned_get, stream_download
from genesys.errors import (
    GenesysError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
    error_for_status,
)
from genesys.ratelimit import RateLimiter, endpoint_family

POOL_SIZE = 16
CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
MAX_RATE_LIMITED_RETRIES = 10
DEFAULT_RETRY_AFTER_SECONDS = 3.0  # the Java SDK's retryAfterDefaultMs
# Total Retry-After (and shared-limiter) waiting one request() may do before it raises RateLimitedError:
# a worker should give its slot back rather than sit out a one-hour Retry-After.
DEFAULT_MAX_RATE_LIMIT_WAIT_SECONDS = 300.0
USER_AGENT = "transcript-vault/0.1 (python-requests)"

ANALYTICS_MAX_INTERVAL = timedelta(days=7)
SEARCH_RESULT_WINDOW = 1000  # transcript search pages only through the first 1,000 results
SEARCH_MIN_SPLIT = timedelta(minutes=1)
MAX_IDS_PER_SEARCH = 100
MAX_BATCH_ITEMS = 100
MAX_IDS_PER_LOOKUP = 100  # routing/queues and users take at most 100 repeated `id` parameters per page
SEARCH_DATE_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"
# Voice transcripts: STA calls them "call", and voice callbacks "callback" (genesys-api.md §12).
SEARCH_MEDIA_TYPES = ("call", "callback")
# What 3P code asks the search to return (genesys-api.md §12); everything the pipeline reads from a hit.
SEARCH_RETURN_FIELDS = ("conversationId", "communicationId", "mediaType")
# The `language` values the transcript-search page documents (genesys-api.md §5), sent when an org's search
# insists on a language criterion (400 REQUIRED_SEARCH_FIELD) and no languages were configured.
DEFAULT_SEARCH_LANGUAGES = ("en-us", "en-au", "en-gb", "de-de", "es-us", "fr-ca", "pt-br", "unknown")
_LANGUAGE_REQUIRED_MESSAGE = re.compile(r"required search field.*\blanguage\b", re.IGNORECASE | re.DOTALL)


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


def conversation_details_body(
    *,
    start: datetime,
    end: datetime,
    page_size: int,
    page_number: int,
    order_by: str = "conversationStart",
    order: str = "asc",
) -> dict:
    """The details query for ended, recorded voice conversations in [start, end) (genesys-api.md §7.1)."""
    return {
        "interval": f"{iso_utc(start)}/{iso_utc(end)}",
        "order": order,
        "orderBy": order_by,
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
    *,
    start: datetime,
    end: datetime,
    conversation_ids: Sequence[str] | None,
    page_size: int,
    page_number: int,
    languages: Sequence[str] = (),
) -> dict:
    """The search for voice transcripts (calls and callbacks) by conversation start (genesys-api.md §5, §12).

    Sorted by conversationStartTime: a filter-only query scores every hit the same, so without an explicit
    sort the page order is undefined and paging could skip or repeat hits. `languages` (lower-cased,
    de-duplicated) adds a language criterion; `conversation_ids` narrows to those conversations.
    """
    query: list[dict] = [
        {
            "type": "DATE_RANGE",
            "fields": ["conversationStartTime"],
            "startValue": iso_utc(start),
            "endValue": iso_utc(end),
            "dateFormat": SEARCH_DATE_FORMAT,
        },
        {"type": "EXACT", "fields": ["mediaType"], "values": list(SEARCH_MEDIA_TYPES)},
    ]
    if languages:
        values = list(dict.fromkeys(language.strip().lower() for language in languages if language.strip()))
        if values:
            query.append({"type": "EXACT", "fields": ["language"], "values": values})
    if conversation_ids:
        query.append({"type": "EXACT", "fields": ["conversationId"], "values": list(conversation_ids)})
    return {
        "types": ["transcripts"],
        "pageSize": page_size,
        "pageNumber": page_number,
        "sortBy": "conversationStartTime",
        "sortOrder": "ASC",
        "returnFields": list(SEARCH_RETURN_FIELDS),
        "query": query,
    }


def language_required(error: GenesysError) -> bool:
    """Whether a search 400 says the org requires a `language` criterion (genesys-api.md §3, §5)."""
    if error.status != 400:
        return False
    for detail in error.details:
        if (
            isinstance(detail, dict)
            and detail.get("errorCode") == "REQUIRED_SEARCH_FIELD"
            and str(detail.get("fieldName") or "").lower() == "language"
        ):
            return True
    return bool(_LANGUAGE_REQUIRED_MESSAGE.search(error.message))


def _int_like(value: Any) -> int | None:
    """An int, or a string of digits, as int; None for anything else (bools, floats, other strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_search_page(body: Any, *, endpoint: str, page_number: int) -> tuple[list[dict], int | None]:
    """(results, total) of one transcript search page, or MalformedResponseError naming what is wrong.

    `results` absent or null means no hits; `total` is None when absent. The message never quotes the body.
    """
    where = f"{endpoint}: page {page_number}"
    if not isinstance(body, dict):
        raise MalformedResponseError(f"{where}: the body is {_kind(body)}, not a JSON object")
    raw_total = body.get("total")
    total = None
    if raw_total is not None:
        total = _int_like(raw_total)
        if total is None or total < 0:
            raise MalformedResponseError(f"{where}: total is {_kind(raw_total)}, not a non-negative integer")
    results = body.get("results")
    if results is None:
        return [], total
    if not isinstance(results, list):
        raise MalformedResponseError(f"{where}: results is {_kind(results)}, not a list")
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise MalformedResponseError(f"{where}: results[{index}] is {_kind(result)}, not an object")
        conversation_id = result.get("conversationId")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise MalformedResponseError(f"{where}: results[{index}] has no conversationId string")
    return results, total


def _kind(value: Any) -> str:
    """A JSON type name for error messages (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_time(value: Any) -> datetime | None:
    """An analytics ISO-8601 timestamp ("2026-05-01T10:00:00.000Z") as an aware datetime; None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


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
        search_languages: Sequence[str] = (),
        search_requires_language: bool = False,
        max_rate_limit_wait_seconds: float = DEFAULT_MAX_RATE_LIMIT_WAIT_SECONDS,
        token_cache: TokenCache | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_retries = max_retries
        self.max_retry_seconds = max_retry_seconds
        self.max_rate_limit_wait_seconds = max_rate_limit_wait_seconds
        # The language criterion is sent once an org's search has said it needs one (or when configured so);
        # search_languages empty = DEFAULT_SEARCH_LANGUAGES.
        self.search_languages: list[str] = list(search_languages)
        self.search_requires_language: bool = bool(search_requires_language)
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
            cache=token_cache,
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
            if attempt.status == 429:
                self.stats.rate_limited += 1
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
        max_retries: int | None = None,
    ) -> requests.Response:
        """Send one API request with auth, rate limiting and bounded retries.

        Returns the response for 2xx and for any status in `accept` (e.g. 404 for "not yet");
        raises a typed GenesysError otherwise. 5xx and transport errors are retried up to `max_retries`
        times (None = the client's; 0 = fail fast) within max_retry_seconds. 429s (API or login) are waited
        out separately: at most MAX_RATE_LIMITED_RETRIES of them and max_rate_limit_wait_seconds of waiting
        in total, shared-limiter waits included; beyond that RateLimitedError. A 401 refreshes the token once.
        """
        url = f"{self.api_url}{path}"
        family = endpoint_family(endpoint)
        retries_allowed = self.max_retries if max_retries is None else max_retries
        started = self.clock.monotonic()
        failures = 0  # 5xx and transport errors: bounded by max_retries and max_retry_seconds
        rate_limited = 0
        rate_limit_waited = 0.0  # every Retry-After and limiter wait of this call, against the cap
        refreshed_token = False
        attempt = 0
        while True:
            if attempt:
                self._count_retry()
            is_retry = attempt > 0
            attempt += 1
            try:
                token = self.tokens.token()
            except RateLimitedError as exc:
                # The login service is rate limiting token creation: wait, never report bad credentials.
                rate_limited += 1
                rate_limit_waited += self._wait_out_login_limit(
                    exc, endpoint=endpoint, count=rate_limited, waited=rate_limit_waited
                )
                continue
            except (ServerError, TransportError) as exc:
                # The login service hiccupped: same budget as an API 5xx.
                self._backoff_or_raise(
                    exc, failures=failures, started=started, retry_after=None, max_retries=retries_allowed
                )
                failures += 1
                continue

            rate_limit_waited += self._wait_for_limiter(family, endpoint=endpoint, waited=rate_limit_waited)
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
                self._backoff_or_raise(
                    error, failures=failures, started=started, retry_after=None, max_retries=retries_allowed
                )
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
            self.rate_limiter.on_headers(response.headers, family=family)

            if status == 401 and not refreshed_token:
                # The token may have been revoked or expired early: refresh once, retry once.
                self.tokens.invalidate(token)
                refreshed_token = True
                continue
            if status == 429:
                retry_after = retry_after_seconds(response.headers, now=self.clock.time())
                retry_after = DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after
                # Pause the family (or everyone) even when this call gives up: the others must wait too.
                self.rate_limiter.on_429(retry_after, family=family, headers=response.headers)
                rate_limited += 1
                self._check_rate_limit_budget(
                    self._error(response, endpoint, retry_after=retry_after),
                    endpoint=endpoint,
                    count=rate_limited,
                    waited=rate_limit_waited,
                    retry_after=retry_after,
                )
                continue  # rate_limiter.wait() holds us (and everyone sharing it) until Retry-After passes
            if status >= 500:
                error = self._error(response, endpoint)
                self._backoff_or_raise(
                    error,
                    failures=failures,
                    started=started,
                    retry_after=retry_after_seconds(response.headers, now=self.clock.time()),
                    max_retries=retries_allowed,
                )
                failures += 1
                continue
            if 200 <= status < 300 or status in accept:
                return response
            raise self._error(response, endpoint)

    def _wait_out_login_limit(self, error: RateLimitedError, *, endpoint: str, count: int, waited: float) -> float:
        """Sleep out a login 429 within the call's budget (or raise); returns the seconds slept."""
        self._check_rate_limit_budget(
            error, endpoint=endpoint, count=count, waited=waited, retry_after=error.retry_after
        )
        self.clock.sleep(error.retry_after)
        return error.retry_after

    def _check_rate_limit_budget(
        self, error: RateLimitedError, *, endpoint: str, count: int, waited: float, retry_after: float
    ) -> None:
        """Raise when this call has seen too many 429s, or waiting `retry_after` more would pass the cap."""
        if count > MAX_RATE_LIMITED_RETRIES:
            raise error
        if waited + retry_after > self.max_rate_limit_wait_seconds:
            raise RateLimitedError(
                f"{endpoint}: rate limited; Retry-After {retry_after:g}s would take this call past its "
                f"{self.max_rate_limit_wait_seconds:g}s wait limit ({waited:g}s waited)",
                retry_after=retry_after,
                status=error.status,
                code=error.code,
                context_id=error.context_id,
                details=error.details,
            )

    def _wait_for_limiter(self, family: str, *, endpoint: str, waited: float) -> float:
        """Wait for the shared limiter within what is left of the call's cap; returns the seconds waited."""
        remaining = max(self.max_rate_limit_wait_seconds - waited, 0.0)
        try:
            return self.rate_limiter.wait(family, max_wait=remaining)
        except RateLimitedError as exc:
            raise RateLimitedError(
                f"{endpoint}: rate limited; the shared limiter is paused for {exc.retry_after:g}s, more than the "
                f"{remaining:g}s left of this call's {self.max_rate_limit_wait_seconds:g}s wait limit",
                retry_after=exc.retry_after,
                status=429,
            ) from None

    def _error(self, response: requests.Response, endpoint: str, *, retry_after: float = 0.0) -> GenesysError:
        return error_for_status(
            status=response.status_code,
            body_text=response.text,
            headers=response.headers,
            endpoint=endpoint,
            retry_after=retry_after,
        )

    def _backoff_or_raise(
        self, error: GenesysError, *, failures: int, started: float, retry_after: float | None, max_retries: int
    ) -> None:
        """Sleep before the next attempt, or raise `error` when the retry budget is spent."""
        if failures >= max_retries:
            raise error
        delay = full_jitter(failures, base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS, rng=self.rng)
        if retry_after is not None:
            delay = retry_after  # the server said when to come back
        elapsed = self.clock.monotonic() - started
        if elapsed + delay > self.max_retry_seconds:
            raise error
        self.clock.sleep(delay)

    def _json(self, method: str, path: str, *, endpoint: str, **kwargs: Any) -> Any:
        """The decoded JSON body of a successful request; None when the body is empty."""
        response = self.request(method, path, endpoint=endpoint, **kwargs)
        if not response.content:
            return None
        return self._decode(response, endpoint=endpoint)

    @staticmethod
    def _decode(response: requests.Response, *, endpoint: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise MalformedResponseError(
                f"{endpoint}: HTTP {response.status_code} body is not JSON", status=response.status_code
            ) from None

    # -------------------------------------------------------------------------------- endpoints
    def _details_page(
        self,
        *,
        start: datetime,
        end: datetime,
        page_size: int,
        page_number: int,
        order_by: str = "conversationStart",
        order: str = "asc",
    ) -> tuple[list[dict], int]:
        """(conversations, totalHits) of one details-query page; `conversations` is omitted when empty (§7.1)."""
        endpoint = "analytics.details.query"
        body = self._json(
            "POST",
            "/api/v2/analytics/conversations/details/query",
            endpoint=endpoint,
            json_body=conversation_details_body(
                start=start, end=end, page_size=page_size, page_number=page_number, order_by=order_by, order=order
            ),
        )
        if body is None:
            return [], 0
        if not isinstance(body, dict):
            raise MalformedResponseError(f"{endpoint}: page {page_number}: the body is {_kind(body)}, not an object")
        conversations = body.get("conversations") or []
        if not isinstance(conversations, list):
            raise MalformedResponseError(f"{endpoint}: page {page_number}: conversations is {_kind(conversations)}")
        return [c for c in conversations if isinstance(c, dict)], _int_like(body.get("totalHits")) or 0

    def query_conversation_details(self, *, start: datetime, end: datetime, page_size: int = 100) -> Iterator[dict]:
        """Ended, recorded voice conversations in [start, end), in ≤7-day intervals, all pages, each id once."""
        seen: set[str] = set()  # intervals match by day touched, so neighbours can return the same conversation
        for lower, upper in split_interval(start, end, step=ANALYTICS_MAX_INTERVAL):
            page_number = 1
            while True:
                conversations, total_hits = self._details_page(
                    start=lower, end=upper, page_size=page_size, page_number=page_number
                )
                for conversation in conversations:
                    conversation_id = conversation.get("conversationId")
                    if conversation_id in seen:
                        continue
                    seen.add(conversation_id)
                    yield conversation
                if not conversations or page_number * page_size >= total_hits:
                    break
                page_number += 1

    def recently_ended_conversations(
        self, *, interval_start: datetime, ended_after: datetime, end: datetime, page_size: int = 100
    ) -> Iterator[dict]:
        """Ended, recorded voice conversations that started in [interval_start, end) and ended at or after
        `ended_after`, newest end first within each ≤7-day chunk (latest chunk first), each id once.

        Analytics only returns conversations that started on a day the interval touches (§7.1), so a long
        call that crossed midnight is found only with an interval reaching back to its start. Ordering by
        conversationEnd descending lets such a wide interval cost one page per run: a chunk stops paging
        after the first page holding a conversation that ended before `ended_after`.
        """
        seen: set[str] = set()
        chunks = list(split_interval(interval_start, end, step=ANALYTICS_MAX_INTERVAL))
        for lower, upper in reversed(chunks):
            page_number = 1
            while True:
                conversations, total_hits = self._details_page(
                    start=lower,
                    end=upper,
                    page_size=page_size,
                    page_number=page_number,
                    order_by="conversationEnd",
                    order="desc",
                )
                reached_older = False
                for conversation in conversations:
                    ended = parse_time(conversation.get("conversationEnd"))
                    if ended is None:
                        continue  # still active (or unreadable): not "recently ended"
                    if ended < ended_after:
                        reached_older = True  # sorted by end, descending: the rest of the chunk is older
                        continue
                    conversation_id = conversation.get("conversationId")
                    if conversation_id in seen:
                        continue
                    seen.add(conversation_id)
                    yield conversation
                if reached_older or not conversations or page_number * page_size >= total_hits:
                    break
                page_number += 1

    def search_transcripts(
        self,
        *,
        start: datetime,
        end: datetime,
        conversation_ids: list[str] | None = None,
        page_size: int = 100,
        max_retries: int | None = None,
    ) -> Iterator[dict]:
        """Voice transcripts whose conversation started in [start, end]; ranges over 1,000 hits are bisected.

        Yields hits with a non-empty `conversationId` (and usually `communicationId`), each once. A page of
        the wrong shape raises MalformedResponseError. `max_retries` applies to each page request (0 = fail
        fast on 5xx / transport errors, for a caller with another way to find transcripts); 429s are waited
        as for any request. An org that answers 400 REQUIRED_SEARCH_FIELD language gets the same page again
        with a language criterion, and every later search sends it up front.
        """
        seen: set[tuple] = set()  # bisected ranges share their boundary instant
        id_chunks: list[list[str] | None] = [None]
        if conversation_ids:
            ids = list(dict.fromkeys(conversation_ids))
            id_chunks = [ids[i : i + MAX_IDS_PER_SEARCH] for i in range(0, len(ids), MAX_IDS_PER_SEARCH)]
        for chunk in id_chunks:
            for result in self._search_range(
                start=start, end=end, conversation_ids=chunk, page_size=page_size, max_retries=max_retries
            ):
                key = (result.get("conversationId"), result.get("communicationId"), result.get("transcriptId"))
                if key in seen:
                    continue
                seen.add(key)
                yield result

    def _search_page(
        self,
        *,
        start: datetime,
        end: datetime,
        conversation_ids: list[str] | None,
        page_size: int,
        page_number: int,
        max_retries: int | None = None,
    ) -> tuple[list[dict], int | None]:
        endpoint = "sta.transcripts.search"

        def send(with_language: bool) -> tuple[list[dict], int | None]:
            languages = (self.search_languages or list(DEFAULT_SEARCH_LANGUAGES)) if with_language else ()
            body = self._json(
                "POST",
                "/api/v2/speechandtextanalytics/transcripts/search",
                endpoint=endpoint,
                max_retries=max_retries,
                json_body=transcript_search_body(
                    start=start,
                    end=end,
                    conversation_ids=conversation_ids,
                    page_size=page_size,
                    page_number=page_number,
                    languages=languages,
                ),
            )
            return parse_search_page(body, endpoint=endpoint, page_number=page_number)

        with_language = self.search_requires_language
        try:
            return send(with_language)
        except GenesysError as exc:
            if with_language or not language_required(exc):
                raise
        # One org's search insists on a language criterion, another's works without (§12): learn it once,
        # retry this page once; a second failure is raised as it is.
        self.search_requires_language = True
        return send(True)

    def _search_range(
        self,
        *,
        start: datetime,
        end: datetime,
        conversation_ids: list[str] | None,
        page_size: int,
        max_retries: int | None = None,
    ) -> Iterator[dict]:
        def page(number: int) -> tuple[list[dict], int | None]:
            return self._search_page(
                start=start,
                end=end,
                conversation_ids=conversation_ids,
                page_size=page_size,
                page_number=number,
                max_retries=max_retries,
            )

        results, total = page(1)
        if total is not None and total > SEARCH_RESULT_WINDOW and end - start > SEARCH_MIN_SPLIT:
            # Paging stops at 1,000 results, so split until every range can be paged to its end.
            middle = start + (end - start) / 2
            for lower, upper in ((start, middle), (middle, end)):
                yield from self._search_range(
                    start=lower,
                    end=upper,
                    conversation_ids=conversation_ids,
                    page_size=page_size,
                    max_retries=max_retries,
                )
            return
        page_number = 1
        while True:
            yield from results
            if not results:
                return
            if total is None:
                # No total: keep going while pages come back full, within the pageable window.
                if len(results) < page_size or page_number * page_size >= SEARCH_RESULT_WINDOW:
                    return
            elif page_number * page_size >= min(total, SEARCH_RESULT_WINDOW):
                return
            page_number += 1
            results, total = page(page_number)

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

    def restore_recording(self, conversation_id: str, recording_id: str, *, archive_date: datetime) -> dict | None:
        """Ask Genesys to restore an archived recording: PUT the Recording with a new archiveDate
        (genesys-api.md §6.1, §12). Returns the updated Recording, or None when Genesys answers 202/empty."""
        response = self.request(
            "PUT",
            f"/api/v2/conversations/{quote(conversation_id, safe='')}/recordings/{quote(recording_id, safe='')}",
            endpoint="recording.update",
            json_body={"archiveDate": iso_utc(archive_date)},
        )
        if response.status_code == 202 or not response.content:
            return None
        body = self._decode(response, endpoint="recording.update")
        if not isinstance(body, dict):
            raise MalformedResponseError(f"recording.update: the body is {_kind(body)}, not an object")
        return body

    def get_transcription_settings(self) -> dict:
        """The org's TranscriptionSettings (`transcription`, `contentSearchEnabled`, PII/PCI redaction flags;
        genesys-api.md §4.5): whether a transcript can exist at all, known up front. {} when the body is empty."""
        endpoint = "routing.transcription.settings"
        body = self._json("GET", "/api/v2/routing/settings/transcription", endpoint=endpoint)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise MalformedResponseError(f"{endpoint}: the body is {_kind(body)}, not an object")
        return body

    def peek_download(self, url: str) -> requests.Response:
        """The first byte of a pre-signed URL (`Range: bytes=0-0`): its status and headers without the body
        (S3 signs the URL for GET, so there is no HEAD). The caller closes the response."""
        started = self.clock.monotonic()
        response = presigned_get(
            self.session, url, headers={"Range": "bytes=0-0", "Accept-Encoding": "identity"}, timeout=self.timeout
        )
        self._record_download_attempt(
            DownloadAttempt(response.status_code, self.clock.monotonic() - started, 0, retry=False)
        )
        return response

    def check_credentials(self) -> None:
        """Fetch a token now (raises AuthenticationError / TransportError with what to fix).

        A login 429 is waited out (within max_rate_limit_wait_seconds and MAX_RATE_LIMITED_RETRIES), so a busy
        login service is never reported as bad credentials; past the cap it raises RateLimitedError.
        """
        waited = 0.0
        rate_limited = 0
        while True:
            try:
                self.tokens.token()
                return
            except RateLimitedError as exc:
                rate_limited += 1
                waited += self._wait_out_login_limit(exc, endpoint=TOKEN_ENDPOINT, count=rate_limited, waited=waited)
