"""The emulator: one threaded HTTP port serving the login service, the platform API and "S3".

Every time decision (token expiry, rate-limit windows, transcript readiness, transcoding, URL expiry, batch
progress) reads the injected clock, so tests drive it with a FakeClock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import shutil
import socket
import tempfile
import threading
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from genesys.clock import SYSTEM_CLOCK, Clock

from .data import Dataset, SimConversation, iso_ms
from .documents import Blob, BlobStore
from .faults import FaultInjector, FaultProfile, get_profile
from .resources import (
    API_PREFIX,
    analytics_conversation,
    listing,
    queue_json,
    recording_json,
    recording_metadata_json,
    user_json,
)

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "transcript-vault-demo"
DEFAULT_CLIENT_SECRET = "transcript-vault-demo-secret"
TOKEN_TTL_S = 86399
URL_TTL_S = 600
RATE_WINDOW_S = 60
MAX_INTERVAL = timedelta(days=7)
SEARCH_RESULT_WINDOW = 1000
BATCH_MAX_ITEMS = 100
RECORDING_FORMATS = ("WAV", "WEBM", "WAV_ULAW", "OGG_VORBIS", "OGG_OPUS", "MP3", "NONE")

# The role the emulated OAuth client holds; `denied_permissions` removes entries from it.
GRANTED_PERMISSIONS = frozenset(
    {
        "analytics:conversationDetail:view",
        "recording:recording:view",
        "speechAndTextAnalytics:data:view",
        "routing:queue:view",
        "directory:user:view",
    }
)
# endpoint -> ("any"|"all", permissions), per the SDK docs (genesys-api.md §4-§7).
ENDPOINT_PERMISSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "analytics.details.query": ("any", ("analytics:conversationDetail:view",)),
    "sta.transcripts.search": (
        "any",
        ("analytics:conversationDetail:view", "recording:recording:view", "recording:recordingSegment:view"),
    ),
    "sta.transcripturl": ("all", ("recording:recording:view", "speechAndTextAnalytics:data:view")),
    "sta.transcripturls": ("all", ("recording:recording:view", "speechAndTextAnalytics:data:view")),
    "recording.list": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "recording.get": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "recording.metadata": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "recording.batch.submit": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "recording.batch.get": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "routing.queues": ("any", ("routing:queue:view",)),
    "users.list": ("any", ("directory:user:view",)),
}

_ID = r"([A-Za-z0-9-]+)"
ROUTES: list[tuple[str, re.Pattern, str]] = [
    ("POST", re.compile(rf"^{API_PREFIX}/analytics/conversations/details/query$"), "analytics.details.query"),
    ("POST", re.compile(rf"^{API_PREFIX}/speechandtextanalytics/transcripts/search$"), "sta.transcripts.search"),
    (
        "GET",
        re.compile(rf"^{API_PREFIX}/speechandtextanalytics/conversations/{_ID}/communications/{_ID}/transcripturl$"),
        "sta.transcripturl",
    ),
    (
        "GET",
        re.compile(rf"^{API_PREFIX}/speechandtextanalytics/conversations/{_ID}/communications/{_ID}/transcripturls$"),
        "sta.transcripturls",
    ),
    ("GET", re.compile(rf"^{API_PREFIX}/conversations/{_ID}/recordings$"), "recording.list"),
    ("GET", re.compile(rf"^{API_PREFIX}/conversations/{_ID}/recordings/{_ID}$"), "recording.get"),
    ("GET", re.compile(rf"^{API_PREFIX}/conversations/{_ID}/recordingmetadata$"), "recording.metadata"),
    ("POST", re.compile(rf"^{API_PREFIX}/recording/batchrequests$"), "recording.batch.submit"),
    ("GET", re.compile(rf"^{API_PREFIX}/recording/batchrequests/{_ID}$"), "recording.batch.get"),
    ("GET", re.compile(rf"^{API_PREFIX}/routing/queues$"), "routing.queues"),
    ("GET", re.compile(rf"^{API_PREFIX}/users$"), "users.list"),
]


@dataclass
class EmulatorStats:
    api_calls: int = 0  # every /api/v2 request, whatever its status (oauth and s3 excluded)
    by_endpoint: Counter = field(default_factory=Counter)  # endpoint name -> requests
    by_status: Counter = field(default_factory=Counter)  # (endpoint name, status) -> responses
    token_requests: int = 0
    rate_limited: int = 0  # 429s sent, window overflow and injected bursts
    server_errors: int = 0  # injected 5xx (API and S3)
    s3_requests: int = 0
    s3_bytes: int = 0  # body bytes actually written by S3, including cut bodies
    s3_drops: int = 0

    def copy(self) -> EmulatorStats:
        return EmulatorStats(
            self.api_calls,
            Counter(self.by_endpoint),
            Counter(self.by_status),
            self.token_requests,
            self.rate_limited,
            self.server_errors,
            self.s3_requests,
            self.s3_bytes,
            self.s3_drops,
        )


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    blob: Blob | None = None  # streamed instead of `body`
    range: tuple[int, int] | None = None  # inclusive byte range of `blob` to send
    drop_after: int | None = None  # cut the connection after this many body bytes
    on_drop: Callable[[], None] | None = None

    @property
    def content_length(self) -> int:
        if self.blob is not None and self.range is not None:
            return self.range[1] - self.range[0] + 1
        return len(self.body)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list | None = None, headers=None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}


@dataclass
class _Job:
    id: str
    created_at: float
    done_at: float
    results: list[dict]  # {"conversationId", "recordingId", "errorMsg"|None}


class Emulator:
    """A faithful, fault-injectable Genesys Cloud for tests and the demo. Thread-safe."""

    def __init__(
        self,
        dataset: Dataset,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        clock: Clock = SYSTEM_CLOCK,
        faults: str | FaultProfile = "none",
        rate_limit_per_minute: int = 300,
        seed: int = 0,
        denied_permissions: tuple[str, ...] | frozenset[str] | set[str] = (),
        *,
        token_ttl_s: int = TOKEN_TTL_S,
        url_ttl_s: int = URL_TTL_S,
    ) -> None:
        self.dataset = dataset
        self.client_id, self.client_secret = client_id, client_secret
        self.clock = clock
        self.fault_profile = get_profile(faults)
        self.faults = FaultInjector(self.fault_profile, seed)
        self.rate_limit_per_minute = self.fault_profile.rate_limit_per_minute or rate_limit_per_minute
        self.permissions = GRANTED_PERMISSIONS - set(denied_permissions)
        self.token_ttl_s, self.url_ttl_s = token_ttl_s, url_ttl_s
        self.started_at = clock.time()  # "delayed" transcripts count their delay from here at the earliest
        self.base_url: str | None = None
        self._signing_key = hashlib.sha256(f"emulator-s3:{seed}:{client_secret}".encode()).digest()
        self._lock = threading.Lock()
        self._stats = EmulatorStats()
        self._tokens: dict[str, float] = {}  # token -> expires at
        self._windows: dict[str, tuple[float, int]] = {}  # token -> (window start, count)
        self._transcode_ready: dict[tuple[str, str], tuple[float, float]] = {}  # (cid, format) -> (ready, secs)
        self._jobs: dict[str, _Job] = {}
        self._tempdir = tempfile.mkdtemp(prefix="genesys-emulator-")
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._tempdir, True)
        self.blobs = BlobStore(dataset, self._tempdir)

    # ------------------------------------------------------------------ lifecycle and stats

    @property
    def stats(self) -> EmulatorStats:
        with self._lock:
            return self._stats.copy()

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = EmulatorStats()

    def close(self) -> None:
        """Remove spooled documents; the emulator stays usable and re-spools on demand."""
        self._finalizer()

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        server = _Server((host, port), _handler_for(self))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.base_url = f"http://{url_host}:{server.server_address[1]}"
        try:
            yield self.base_url
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self.base_url = None

    def _now(self) -> float:
        return self.clock.time()

    def _now_dt(self) -> datetime:
        return datetime.fromtimestamp(self._now(), UTC)

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self._stats, name, getattr(self._stats, name) + value)

    # ------------------------------------------------------------------ ground truth helpers

    def transcript_ready_at(self, conv: SimConversation) -> float | None:
        """Epoch seconds when the conversation's transcript becomes available; None if it never does."""
        transcript = conv.transcript
        if transcript is None:
            return None
        base = conv.end.timestamp()
        if transcript.delayed:
            base = max(base, self.started_at)
        return base + transcript.ready_delay_s

    def _transcript_ready(self, conv: SimConversation) -> bool:
        ready_at = self.transcript_ready_at(conv)
        return ready_at is not None and ready_at <= self._now()

    def _visible(self, conv: SimConversation | None) -> SimConversation | None:
        """Conversations that have not started yet do not exist."""
        if conv is None or conv.start.timestamp() > self._now():
            return None
        return conv

    # ------------------------------------------------------------------ login service

    def handle_token(self, method: str, headers, body: bytes) -> Response:
        self._count(token_requests=1)
        correlation = str(uuid.uuid4())
        if method != "POST":
            return _json_response(405, {"error": "invalid_request", "description": "method not allowed"})
        form = {k: v[0] for k, v in parse_qs(body.decode("latin-1")).items()}
        if form.get("grant_type") != "client_credentials":
            return _token_error(400, "unsupported_grant_type", "grant type not supported", correlation)
        credentials = _basic_credentials(headers.get("Authorization", ""))
        if credentials is None or not _constant_time_pair(credentials, (self.client_id, self.client_secret)):
            return _token_error(401, "invalid_client", "authentication failed", correlation)
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = self._now() + self.token_ttl_s
        return _json_response(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl_s},
            {"ININ-Correlation-Id": correlation, "Cache-Control": "no-store"},
        )

    # ------------------------------------------------------------------ platform API

    def handle_api(self, method: str, target: str, headers, body: bytes) -> Response:
        correlation = str(uuid.uuid4())
        parts = urlsplit(target)
        endpoint, params, handler = self._route(method, parts.path)
        with self._lock:
            self._stats.api_calls += 1
            self._stats.by_endpoint[endpoint] += 1
        self.faults.delay()
        rate_headers = {"inin-ratelimit-count": "0", "inin-ratelimit-allowed": str(self.rate_limit_per_minute)}
        rate_headers["inin-ratelimit-reset"] = str(RATE_WINDOW_S)
        try:
            token = self._authenticate(headers.get("Authorization", ""))
            rate_headers = self._take_rate_slot(token)
            self._inject_faults()
            if handler is None:
                raise ApiError(404, "not.found", "The requested resource was not found.")
            self._authorize(endpoint)
            query = parse_qs(parts.query)
            status, payload = handler(*params, query=query, body=_parse_json(body) if method == "POST" else None)
            response = _json_response(status, payload) if payload is not None else Response(status)
        except ApiError as error:
            response = _json_response(error.status, _error_body(error, correlation), error.headers)
            if error.status == 429:
                self._count(rate_limited=1)
            elif error.status >= 500:
                self._count(server_errors=1)
        response.headers.update(rate_headers)
        response.headers["ININ-Correlation-Id"] = correlation
        with self._lock:
            self._stats.by_status[(endpoint, response.status)] += 1
        return response

    def _route(self, method: str, path: str):
        for route_method, pattern, endpoint in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                return endpoint, match.groups(), getattr(self, "_api_" + endpoint.replace(".", "_"))
        return "unknown", (), None

    def _authenticate(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401, "authentication.required", "No authentication bearer token specified in authorization header."
            )
        with self._lock:
            expires_at = self._tokens.get(token.strip())
        if expires_at is None or expires_at <= self._now():
            raise ApiError(401, "bad.credentials", "Invalid login credentials.")
        return token.strip()

    def _take_rate_slot(self, token: str) -> dict[str, str]:
        """Fixed 60 s window per token, like Genesys' per-client-credentials limit."""
        now = self._now()
        with self._lock:
            window_start, count = self._windows.get(token, (now, 0))
            if now >= window_start + RATE_WINDOW_S:
                window_start, count = now, 0
            count += 1
            self._windows[token] = (window_start, count)
        reset = max(1, math.ceil(window_start + RATE_WINDOW_S - now))
        headers = {
            "inin-ratelimit-count": str(min(count, self.rate_limit_per_minute)),
            "inin-ratelimit-allowed": str(self.rate_limit_per_minute),
            "inin-ratelimit-reset": str(reset),
        }
        if count > self.rate_limit_per_minute:
            raise ApiError(
                429,
                "too.many.requests.retry.after",
                f"Rate limit exceeded the maximum. Retry the request in [{reset}] seconds",
                headers={**headers, "Retry-After": str(reset)},
            )
        return headers

    def _inject_faults(self) -> None:
        retry_after = self.faults.burst_429()
        if retry_after is not None:
            raise ApiError(
                429,
                "too.many.requests.retry.after",
                f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
                headers={"Retry-After": str(retry_after)},
            )
        status = self.faults.server_error()
        if status == 500:
            raise ApiError(500, "internal.server.error", "The server encountered an unexpected condition.")
        if status == 502:
            raise ApiError(502, "bad.gateway", "The server received an invalid response from an upstream server.")
        if status == 503:
            raise ApiError(503, "service.unavailable", "Service Unavailable", headers={"Retry-After": "1"})

    def _authorize(self, endpoint: str) -> None:
        mode, required = ENDPOINT_PERMISSIONS.get(endpoint, ("any", ()))
        if not required:
            return
        if mode == "any" and not self.permissions.intersection(required):
            listed = ", ".join(required)
            raise ApiError(
                403,
                "missing.any.permissions",
                f"Unable to perform the requested action. You must have at least one of the following permissions assigned: [{listed}]",
            )
        missing = [p for p in required if p not in self.permissions]
        if mode == "all" and missing:
            raise ApiError(
                403,
                "missing.permissions",
                f"Unable to perform the requested action. You are missing the following permission(s): [{', '.join(missing)}]",
            )

    # ------------------------------------------------------------------ analytics

    def _api_analytics_details_query(self, *, query, body) -> tuple[int, dict]:
        body = _require_object(body)
        start, end = _parse_interval(body.get("interval"))
        if end - start > MAX_INTERVAL:
            raise ApiError(400, "bad.request", "The interval must not be longer than 7 days.")
        paging = body.get("paging") or {}
        page_size = _int_field(paging, "pageSize", 25, 1, 100)
        page_number = _int_field(paging, "pageNumber", 1, 1, 10_000)
        now = self._now_dt()
        ended_only = _has_predicate(body.get("conversationFilters"), "conversationEnd", "exists")
        media_values = _predicate_values(body.get("segmentFilters"), "mediaType")
        matches = []
        for conv in self.dataset.conversations:
            if not (start <= conv.start < end) or conv.start > now:
                continue
            if ended_only and conv.end > now:
                continue
            if media_values and "voice" not in media_values:
                continue
            matches.append(conv)
        if body.get("order") == "desc":
            matches.reverse()
        if body.get("orderBy") == "conversationEnd":
            matches.sort(key=lambda c: c.end, reverse=body.get("order") == "desc")
        page = matches[(page_number - 1) * page_size : page_number * page_size]
        response: dict = {"totalHits": len(matches)}
        if page:  # Genesys omits `conversations` entirely when a page has no hits
            response["conversations"] = [analytics_conversation(self.dataset, c, now) for c in page]
        return 200, response

    # ------------------------------------------------------------------ speech and text analytics

    def _api_sta_transcripts_search(self, *, query, body) -> tuple[int, dict]:
        body = _require_object(body)
        if "transcripts" not in (body.get("types") or []):
            raise ApiError(
                400,
                "bad.request",
                "types must contain a supported search type.",
                [{"errorCode": "REQUIRED_SEARCH_FIELD", "fieldName": "types"}],
            )
        page_size = _int_field(body, "pageSize", 25, 1, 100)
        page_number = _int_field(body, "pageNumber", 1, 1, 1_000_000)
        if (page_number - 1) * page_size >= SEARCH_RESULT_WINDOW:
            raise ApiError(
                400,
                "bad.request",
                f"Pagination is only supported through the first {SEARCH_RESULT_WINDOW} results.",
                [{"errorCode": "INVALID_PAGE", "fieldName": "pageNumber"}],
            )
        date_from, date_to, media_types, conversation_ids, language = _search_criteria(body.get("query") or [])
        hits = []
        for conv in self.dataset.conversations:
            if not self._transcript_ready(conv):
                continue
            if date_from and conv.start < date_from or date_to and conv.start >= date_to:
                continue
            if media_types is not None and "call" not in media_types:
                continue
            if conversation_ids is not None and conv.conversation_id not in conversation_ids:
                continue
            if language is not None and language != "en-us":
                continue
            hits.append(conv)
        if body.get("sortOrder") == "DESC":
            hits.reverse()
        end_index = min(page_number * page_size, SEARCH_RESULT_WINDOW)
        page = hits[(page_number - 1) * page_size : end_index]
        return 200, {
            "types": ["transcripts"],
            "total": len(hits),
            "pageCount": max(1, -(-min(len(hits), SEARCH_RESULT_WINDOW) // page_size)) if hits else 0,
            "pageSize": page_size,
            "pageNumber": page_number,
            "results": [self._search_hit(c) for c in page],
        }

    def _search_hit(self, conv: SimConversation) -> dict:
        return {
            "conversationId": conv.conversation_id,
            "communicationId": conv.transcript.communication_id,
            "transcriptId": conv.transcript.transcript_id,
            "language": "en-US",
            "mediaType": "call",
            "conversationStartTime": iso_ms(conv.start),
        }

    def _ready_transcript(self, conversation_id: str, communication_id: str) -> SimConversation:
        conv = self._visible(self.dataset.conversation(conversation_id))
        if (
            conv is None
            or conv.transcript is None
            or conv.transcript.communication_id != communication_id
            or not self._transcript_ready(conv)
        ):
            raise ApiError(404, "not.found", "The requested resource was not found.")
        return conv

    def _transcript_url(self, conv: SimConversation) -> str:
        key = f"transcriptsCache/{self.dataset.organization_id}/{conv.conversation_id}/{conv.transcript.communication_id}-transcripts"
        return self.presign(key, f"transcript:{conv.conversation_id}")

    def _api_sta_transcripturl(self, conversation_id, communication_id, *, query, body) -> tuple[int, dict]:
        conv = self._ready_transcript(conversation_id, communication_id)
        return 200, {"url": self._transcript_url(conv)}

    def _api_sta_transcripturls(self, conversation_id, communication_id, *, query, body) -> tuple[int, dict]:
        conv = self._ready_transcript(conversation_id, communication_id)
        recording_id = conv.recording_ids[0]
        return 200, {
            "conversation": {
                "id": conv.conversation_id,
                "selfUri": f"{API_PREFIX}/conversations/{conv.conversation_id}",
            },
            "communicationId": communication_id,
            "urls": [
                {
                    "recording": {
                        "id": recording_id,
                        "selfUri": f"{API_PREFIX}/conversations/{conv.conversation_id}/recordings/{recording_id}",
                    },
                    "url": self._transcript_url(conv),
                }
            ],
        }

    # ------------------------------------------------------------------ recordings

    def _conversation_or_404(self, conversation_id: str) -> SimConversation:
        conv = self._visible(self.dataset.conversation(conversation_id))
        if conv is None:
            raise ApiError(404, "not.found", "The requested resource was not found.")
        return conv

    def _transcoded(self, conv: SimConversation, format_id: str, max_wait_ms: int) -> int | None:
        """Transcode time in ms once AVAILABLE, else None (202). The first request starts the transcode."""
        now = self._now()
        key = (conv.conversation_id, format_id)
        with self._lock:
            if key not in self._transcode_ready:
                seconds = self.faults.transcode_seconds()
                self._transcode_ready[key] = (now + seconds, seconds)
            ready_at, seconds = self._transcode_ready[key]
        remaining = ready_at - now
        if remaining > 0:
            if remaining > max_wait_ms / 1000:
                return None
            self.clock.sleep(remaining)  # the server holds the request up to maxWaitMs, as Genesys does
        return int(seconds * 1000)

    def _media_uri(self, conv: SimConversation, recording_id: str, format_id: str) -> str | None:
        if format_id == "NONE":
            return None
        key = f"recordings/{self.dataset.organization_id}/{conv.conversation_id}/{recording_id}.wav"
        return self.presign(key, f"recording:{conv.conversation_id}:{recording_id}")

    def _api_recording_list(self, conversation_id, *, query, body) -> tuple[int, list | None]:
        conv = self._conversation_or_404(conversation_id)
        if conv.end.timestamp() > self._now():
            return 200, []  # still in progress: nothing recorded to hand out yet
        format_id = _format_id(query)
        transcode_ms = self._transcoded(conv, format_id, _max_wait_ms(query))
        if transcode_ms is None:
            return 202, None
        return 200, [
            recording_json(self.dataset, conv, rid, self._media_uri(conv, rid, format_id), transcode_ms)
            for rid in conv.recording_ids
        ]

    def _api_recording_get(self, conversation_id, recording_id, *, query, body) -> tuple[int, dict | None]:
        conv = self._conversation_or_404(conversation_id)
        if recording_id not in conv.recording_ids or conv.end.timestamp() > self._now():
            raise ApiError(404, "not.found", "The requested resource was not found.")
        format_id = _format_id(query)
        transcode_ms = self._transcoded(conv, format_id, _max_wait_ms(query, default=0))
        if transcode_ms is None:
            return 202, None
        return 200, recording_json(
            self.dataset, conv, recording_id, self._media_uri(conv, recording_id, format_id), transcode_ms
        )

    def _api_recording_metadata(self, conversation_id, *, query, body) -> tuple[int, list]:
        conv = self._conversation_or_404(conversation_id)
        if conv.end.timestamp() > self._now():
            return 200, []
        return 200, [recording_metadata_json(self.dataset, conv, rid) for rid in conv.recording_ids]

    def _api_recording_batch_submit(self, *, query, body) -> tuple[int, dict]:
        items = _require_object(body).get("batchDownloadRequestList")
        if not isinstance(items, list) or not items or len(items) > BATCH_MAX_ITEMS:
            raise ApiError(
                400,
                "invalid.value",
                f"batchDownloadRequestList must contain between 1 and {BATCH_MAX_ITEMS} items.",
                [{"errorCode": "INVALID_VALUE", "fieldName": "batchDownloadRequestList"}],
            )
        results = []
        for item in items:
            results.extend(self._batch_results(item if isinstance(item, dict) else {}))
        now = self._now()
        job = _Job(str(uuid.uuid4()), now, now + 2.0 + 0.05 * len(results), results)
        with self._lock:
            self._jobs[job.id] = job
        return 200, {"id": job.id, "selfUri": f"{API_PREFIX}/recording/batchrequests/{job.id}"}

    def _batch_results(self, item: dict) -> list[dict]:
        conversation_id, recording_id = item.get("conversationId"), item.get("recordingId")
        conv = self._visible(self.dataset.conversation(str(conversation_id)))
        if conv is None or conv.end.timestamp() > self._now():
            return [
                {"conversationId": conversation_id, "recordingId": recording_id, "errorMsg": "Conversation not found"}
            ]
        if recording_id is None:
            return [
                {"conversationId": conv.conversation_id, "recordingId": rid, "errorMsg": None}
                for rid in conv.recording_ids
            ]
        if recording_id not in conv.recording_ids:
            return [{"conversationId": conversation_id, "recordingId": recording_id, "errorMsg": "Recording not found"}]
        return [{"conversationId": conversation_id, "recordingId": recording_id, "errorMsg": None}]

    def _api_recording_batch_get(self, job_id, *, query, body) -> tuple[int, dict]:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not.found", "The requested resource was not found.")
        now = self._now()
        span = max(job.done_at - job.created_at, 1e-9)
        revealed = (
            len(job.results) if now >= job.done_at else int(len(job.results) * max(0.0, now - job.created_at) / span)
        )
        results = []
        for result in job.results[:revealed]:
            entry = {"conversationId": result["conversationId"], "recordingId": result["recordingId"]}
            if result["errorMsg"]:
                entry["errorMsg"] = result["errorMsg"]
            else:
                conv = self.dataset.conversation(result["conversationId"])
                entry["resultUrl"] = self._media_uri(conv, result["recordingId"], "WAV")
                entry["contentType"] = "audio/wav"
            results.append(entry)
        return 200, {
            "id": job.id,
            "jobId": job.id,
            "expectedResultCount": len(job.results),
            "resultCount": revealed,
            "errorCount": sum(1 for r in results if "errorMsg" in r),
            "status": "Completed" if revealed == len(job.results) else "InProgress",
            "results": results,
            "selfUri": f"{API_PREFIX}/recording/batchrequests/{job.id}",
        }

    # ------------------------------------------------------------------ directory look-ups

    def _api_routing_queues(self, *, query, body) -> tuple[int, dict]:
        ids = _multi_ids(query)
        queues = [q for q in self.dataset.queues if not ids or q["id"] in ids]
        page_size = _int_query(query, "pageSize", 25, 1, 500)
        page_number = _int_query(query, "pageNumber", 1, 1, 10_000)
        return 200, listing([queue_json(self.dataset, q) for q in queues], page_size, page_number)

    def _api_users_list(self, *, query, body) -> tuple[int, dict]:
        ids = _multi_ids(query)
        users = [u for u in self.dataset.users if not ids or u["id"] in ids]
        page_size = _int_query(query, "pageSize", 25, 1, 500)
        page_number = _int_query(query, "pageNumber", 1, 1, 10_000)
        return 200, listing([user_json(self.dataset, u) for u in users], page_size, page_number)

    # ------------------------------------------------------------------ "S3"

    def presign(self, key: str, object_key: str) -> str:
        """A SigV4-looking pre-signed URL for /s3/<key> on this emulator, valid for url_ttl_s."""
        issued = self._now()
        if self.faults.issue_expired_url(object_key):
            issued -= self.url_ttl_s + 5  # as if the client had held the URL past its expiry
        amz_date = datetime.fromtimestamp(int(issued), UTC).strftime("%Y%m%dT%H%M%SZ")
        path = "/s3/" + quote(key)
        signature = self._sign(path, amz_date, str(self.url_ttl_s))
        credential = quote(f"ASIAEMULATOR/{amz_date[:8]}/us-east-1/s3/aws4_request", safe="")
        query = (
            f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={amz_date}"
            f"&X-Amz-Expires={self.url_ttl_s}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )
        return f"{self.base_url or ''}{path}?{query}"

    def _sign(self, path: str, amz_date: str, expires: str) -> str:
        return hmac.new(self._signing_key, f"{path}\n{amz_date}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def handle_s3(self, method: str, target: str, headers) -> Response:
        self._count(s3_requests=1)
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if headers.get("Authorization"):
            return _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                "parameter or the Authorization header should be specified",
                ArgumentName="Authorization",
            )
        denied = self._check_signature(parts.path, query)
        if denied is not None:
            return denied
        if self.faults.s3_error():
            self._count(server_errors=1)
            return _s3_error(503, "SlowDown", "Please reduce your request rate.")
        resolved = self._s3_object(parts.path)
        if resolved is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        object_key, blob, last_modified = resolved
        return self._s3_object_response(method, headers, object_key, blob, last_modified)

    def _check_signature(self, path: str, query: dict[str, str]) -> Response | None:
        amz_date, expires, signature = query.get("X-Amz-Date"), query.get("X-Amz-Expires"), query.get("X-Amz-Signature")
        if not (amz_date and expires and signature) or query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            return _s3_error(403, "AccessDenied", "Access Denied")
        if not hmac.compare_digest(signature, self._sign(path, amz_date, expires)):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires_at = issued + timedelta(seconds=int(expires))
        now = self._now_dt()
        if now > expires_at:
            return _s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                **{"X-Amz-Expires": expires, "Expires": _s3_time(expires_at), "ServerTime": _s3_time(now)},
            )
        return None

    def _s3_object(self, path: str) -> tuple[str, Blob, datetime] | None:
        org = re.escape(self.dataset.organization_id)
        match = re.match(rf"^/s3/transcriptsCache/{org}/{_ID}/{_ID}-transcripts$", path)
        if match:
            conv = self.dataset.conversation(match.group(1))
            if conv is None or conv.transcript is None or conv.transcript.communication_id != match.group(2):
                return None
            ready_at = self.transcript_ready_at(conv)
            return (
                f"transcript:{conv.conversation_id}",
                self.blobs.transcript(conv),
                datetime.fromtimestamp(ready_at, UTC),
            )
        match = re.match(rf"^/s3/recordings/{org}/{_ID}/{_ID}\.wav$", path)
        if match:
            conv = self.dataset.conversation(match.group(1))
            if conv is None or match.group(2) not in conv.recording_ids:
                return None
            return f"recording:{conv.conversation_id}:{match.group(2)}", self.blobs.recording(conv), conv.end
        return None

    def _etag(self, object_key: str, blob: Blob) -> str:
        if self.faults.etag_generation(object_key) == 0:
            return f'"{blob.md5_hex}"'
        # Re-uploaded with identical content as a one-part multipart upload: S3 then reports md5(md5)-1.
        return f'"{hashlib.md5(bytes.fromhex(blob.md5_hex)).hexdigest()}-1"'

    def _s3_object_response(
        self, method: str, headers, object_key: str, blob: Blob, last_modified: datetime
    ) -> Response:
        etag = self._etag(object_key, blob)
        base_headers = {
            "Content-Type": blob.content_type,
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Last-Modified": last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "x-amz-request-id": secrets.token_hex(8).upper(),
            "Server": "AmazonS3",
        }
        if_match = headers.get("If-Match")
        if if_match and if_match.strip() not in (etag, "*"):
            return _s3_error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        byte_range = None
        range_header = headers.get("Range")
        if_range = headers.get("If-Range")
        if range_header and not self.fault_profile.range_ignored and (not if_range or if_range.strip() == etag):
            byte_range = _parse_range(range_header, blob.size)
            if byte_range == "unsatisfiable":
                response = _s3_error(416, "InvalidRange", "The requested range is not satisfiable")
                response.headers.update(
                    {"Content-Range": f"bytes */{blob.size}", "ETag": etag, "Accept-Ranges": "bytes"}
                )
                return response
        if byte_range is None:
            status, first, last = 200, 0, blob.size - 1
        else:
            status, (first, last) = 206, byte_range
            base_headers["Content-Range"] = f"bytes {first}-{last}/{blob.size}"
        response = Response(status, base_headers, blob=blob, range=(first, last))
        if method == "HEAD":
            response.blob = None
            response.headers["Content-Length"] = str(last - first + 1)
            return response
        length = last - first + 1
        response.drop_after = self.faults.drop_at(object_key, length)
        if response.drop_after is not None:
            response.on_drop = lambda: self._after_drop(object_key)
        return response

    def _after_drop(self, object_key: str) -> None:
        self._count(s3_drops=1)
        self.faults.after_cut(object_key)

    def record_s3_bytes(self, count: int) -> None:
        self._count(s3_bytes=count)


# ---------------------------------------------------------------------------------------------- helpers


def _json_response(status: int, payload, headers: dict | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, body)


def _error_body(error: ApiError, correlation: str) -> dict:
    return {
        "message": error.message,
        "code": error.code,
        "status": error.status,
        "contextId": correlation,
        "details": error.details,
        "errors": [],
    }


def _token_error(status: int, code: str, description: str, correlation: str) -> Response:
    return _json_response(
        status,
        {"error": code, "description": description, "error_description": description},
        {"ININ-Correlation-Id": correlation},
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _constant_time_pair(given: tuple[str, str], expected: tuple[str, str]) -> bool:
    id_ok = hmac.compare_digest(given[0].encode(), expected[0].encode())
    secret_ok = hmac.compare_digest(given[1].encode(), expected[1].encode())
    return id_ok and secret_ok


def _parse_json(body: bytes):
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            400, "bad.request", "The request could not be understood by the server due to malformed syntax."
        ) from None


def _require_object(body) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "bad.request", "The request could not be understood by the server due to malformed syntax.")
    return body


def _parse_datetime(value) -> datetime:
    if not isinstance(value, str) or "T" not in value:
        raise ValueError(value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Genesys reads zone-less interval bounds as UTC
    return parsed


def _parse_interval(interval) -> tuple[datetime, datetime]:
    try:
        start_text, end_text = str(interval).split("/")
        start, end = _parse_datetime(start_text), _parse_datetime(end_text)
    except ValueError:
        raise ApiError(
            400,
            "invalid.date",
            "Dates must be specified as ISO-8601 strings. For example: yyyy-MM-ddTHH:mm:ss.SSSZ",
            [{"errorCode": "invalid.date", "fieldName": "interval"}],
        ) from None
    if end <= start:
        raise ApiError(400, "bad.request", "The interval end must be after its start.")
    return start, end


def _int_field(container: dict, name: str, default: int, low: int, high: int) -> int:
    value = container.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(
            400,
            "invalid.value",
            f"Value [{value}] is not valid for field [{name}]. It must be between {low} and {high}.",
            [{"errorCode": "invalid.value", "fieldName": name}],
        )
    return value


def _int_query(query: dict, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [str(default)])[0]
    try:
        return _int_field({name: int(raw)}, name, default, low, high)
    except ValueError:
        raise ApiError(400, "invalid.value", f"Value [{raw}] is not valid for field [{name}].") from None


def _predicates(filters) -> Iterator[dict]:
    for flt in filters or []:
        if not isinstance(flt, dict):
            continue
        yield from (p for p in flt.get("predicates") or [] if isinstance(p, dict))
        for clause in flt.get("clauses") or []:
            if isinstance(clause, dict):
                yield from (p for p in clause.get("predicates") or [] if isinstance(p, dict))


def _has_predicate(filters, dimension: str, operator: str) -> bool:
    return any(p.get("dimension") == dimension and p.get("operator") == operator for p in _predicates(filters))


def _predicate_values(filters, dimension: str) -> set[str]:
    return {
        str(p.get("value")).lower()
        for p in _predicates(filters)
        if p.get("dimension") == dimension and p.get("operator", "matches") == "matches"
    }


def _search_criteria(criteria: list):
    date_from = date_to = None
    media_types = conversation_ids = language = None
    for criterion in criteria:
        if not isinstance(criterion, dict):
            continue
        fields = criterion.get("fields") or []
        values = criterion.get("values") or ([criterion["value"]] if "value" in criterion else [])
        if criterion.get("type") == "DATE_RANGE" and "conversationStartTime" in fields:
            try:
                date_from = _parse_datetime(criterion["startValue"]) if criterion.get("startValue") else None
                date_to = _parse_datetime(criterion["endValue"]) if criterion.get("endValue") else None
            except ValueError:
                raise ApiError(
                    400,
                    "invalid.date",
                    "Dates must be specified as ISO-8601 strings. For example: yyyy-MM-ddTHH:mm:ss.SSSZ",
                    [{"errorCode": "invalid.date", "fieldName": "conversationStartTime"}],
                ) from None
        elif criterion.get("type") == "EXACT" and "mediaType" in fields:
            media_types = {str(v).lower() for v in values}
        elif criterion.get("type") == "EXACT" and "conversationId" in fields:
            conversation_ids = {str(v) for v in values}
        elif criterion.get("type") == "EXACT" and "language" in fields and values:
            language = str(values[0]).lower()
    return date_from, date_to, media_types, conversation_ids, language


def _format_id(query: dict) -> str:
    media_formats = query.get("mediaFormats")
    value = media_formats[0].split(",")[0] if media_formats else query.get("formatId", ["WEBM"])[0]
    if value not in RECORDING_FORMATS:
        raise ApiError(400, "invalid.value", f"Value [{value}] is not valid for field type [formatId].")
    return value


def _max_wait_ms(query: dict, default: int = 5000) -> int:
    try:
        return max(0, int(query.get("maxWaitMs", [str(default)])[0]))
    except ValueError:
        raise ApiError(400, "invalid.value", "maxWaitMs must be an integer.") from None


def _multi_ids(query: dict) -> set[str]:
    # The SDK joins list parameters with commas; browsers and requests repeat the parameter.
    return {part for value in query.get("id", []) for part in value.split(",") if part}


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """Single byte range -> (first, last); "unsatisfiable"; None when the header is ignored (as S3 does)."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first_text, last_text = match.groups()
    if not first_text:  # suffix range: the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size:
        return "unsatisfiable"
    if last < first:
        return None  # syntactically invalid: S3 ignores the header
    return first, min(last, size - 1)


def _s3_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _s3_error(status: int, code: str, message: str, **extra: str) -> Response:
    request_id = secrets.token_hex(8).upper()
    fields = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>{fields}"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_hex(16)}</HostId></Error>"
    ).encode()
    return Response(
        status, {"Content-Type": "application/xml", "x-amz-request-id": request_id, "Server": "AmazonS3"}, body
    )


# ---------------------------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.emulator = emulator
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services; every response has Content-Length
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out in separate writes; avoid 40 ms delayed-ACK stalls
    emulator: Emulator

    def version_string(self) -> str:
        return "GenesysEmulator/1.0"

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        pass  # quiet by default; transcripts and tokens must never end up in logs

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        try:
            response = self._respond(method, body)
        except Exception:  # an emulator bug must surface as a 500, not a hung client
            logger.exception("emulator failed to answer %s %s", method, urlsplit(self.path).path)
            response = _json_response(
                500, {"message": "Emulator error", "code": "internal.server.error", "status": 500}
            )
        self._send(method, response)

    def _respond(self, method: str, body: bytes) -> Response:
        path = urlsplit(self.path).path
        emulator = self.emulator
        if path == "/oauth/token":
            return emulator.handle_token(method, self.headers, body)
        if path.startswith("/s3/"):
            return emulator.handle_s3(method, self.path, self.headers)
        if path.startswith(API_PREFIX + "/"):
            return emulator.handle_api(method, self.path, self.headers, body)
        return _json_response(404, {"message": "Not found", "code": "not.found", "status": 404})

    def _send(self, method: str, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                if name.lower() not in ("server", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", response.headers.get("Content-Length") or str(response.content_length))
            self.end_headers()
            if method == "HEAD":
                return
            if response.blob is not None:
                self._stream(response)
            elif response.body:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _stream(self, response: Response) -> None:
        first, last = response.range
        budget = response.drop_after if response.drop_after is not None else last - first + 1
        sent = 0
        try:
            for chunk in response.blob.iter_range(first, last):
                piece = chunk[: budget - sent]
                self.wfile.write(piece)
                sent += len(piece)
                if sent >= budget:
                    break
        finally:
            self.emulator.record_s3_bytes(sent)
        if response.drop_after is not None:
            self._drop_connection()
            if response.on_drop:
                response.on_drop()

    def _drop_connection(self) -> None:
        # Headers promised the full Content-Length; closing now is what a reset mid-transfer looks like.
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
