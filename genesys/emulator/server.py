"""The emulator: one threaded HTTP port serving the login service, the platform API and "S3".

Every time decision (token expiry, rate-limit windows, transcript readiness, transcoding, URL expiry, batch
progress, uploads and restores) reads the injected clock, so tests drive it with a FakeClock.

This module is the dispatcher: login, authentication, rate limits, fault injection, routing and "S3". The
endpoint groups live beside it (analytics.py, transcripts.py, recordings.py) and how the org answers is an
`OrgBehaviour` (behaviour.py). Ground truth for tests (see also data.py):
    emulator.is_restricted(sim) -> bool            every division of the call is denied to the role
    emulator.ready_at(sim, part) -> float | None   epoch seconds the part's transcript becomes available
    emulator.transcript_ready_at(sim)              the same for the customer leg
    emulator.document_bytes(sim, part) -> bytes    the decoded transcript JSON
    emulator.served_bytes(sim, part) -> bytes      what "S3" sends (the gzip under gzip_transcripts)
    emulator.recording_file_state(sim, recording_id) -> str   fileState at the clock's now
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

from genesys.clock import SYSTEM_CLOCK, Clock

from .analytics import AnalyticsEndpoints
from .behaviour import RESTORE_PERMISSION, OrgBehaviour, division_denied
from .data import Dataset, SimConversation, SimPart
from .documents import Blob, BlobStore, iter_part_document, part_object_key
from .faults import FaultInjector, FaultProfile, get_profile
from .protocol import (
    ApiError,
    Response,
    error_body,
    int_query,
    json_response,
    multi_ids,
    parse_json,
    parse_range,
    s3_error,
    s3_time,
)
from .recordings import BATCH_MAX_ITEMS, RECORDING_FORMATS, RecordingEndpoints
from .resources import API_PREFIX, listing, queue_json, user_json
from .transcripts import SEARCH_RESULT_WINDOW, TranscriptEndpoints

logger = logging.getLogger(__name__)

__all__ = [
    "BATCH_MAX_ITEMS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "RECORDING_FORMATS",
    "SEARCH_RESULT_WINDOW",
    "ApiError",
    "Emulator",
    "EmulatorStats",
    "Response",
]

DEFAULT_CLIENT_ID = "transcript-vault-demo"
DEFAULT_CLIENT_SECRET = "transcript-vault-demo-secret"
TOKEN_TTL_S = 86399
URL_TTL_S = 600
RATE_WINDOW_S = 60
LOGIN_RETRY_AFTER_S = 2

# The role the emulated OAuth client holds; `denied_permissions` removes entries from it.
GRANTED_PERMISSIONS = frozenset(
    {
        "analytics:conversationDetail:view",
        "recording:recording:view",
        "speechAndTextAnalytics:data:view",
        "routing:queue:view",
        "directory:user:view",
        RESTORE_PERMISSION,
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
    "recording.update": ("all", (RESTORE_PERMISSION,)),
    "recording.metadata": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "recording.batch.submit": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "recording.batch.get": ("any", ("recording:recording:view", "recording:recordingSegment:view")),
    "routing.queues": ("any", ("routing:queue:view",)),
    "users.list": ("any", ("directory:user:view",)),
    # routing.transcription.settings: the sources name no permission; a valid token is enough here.
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
    ("PUT", re.compile(rf"^{API_PREFIX}/conversations/{_ID}/recordings/{_ID}$"), "recording.update"),
    ("GET", re.compile(rf"^{API_PREFIX}/conversations/{_ID}/recordingmetadata$"), "recording.metadata"),
    ("POST", re.compile(rf"^{API_PREFIX}/recording/batchrequests$"), "recording.batch.submit"),
    ("GET", re.compile(rf"^{API_PREFIX}/recording/batchrequests/{_ID}$"), "recording.batch.get"),
    ("GET", re.compile(rf"^{API_PREFIX}/routing/queues$"), "routing.queues"),
    ("GET", re.compile(rf"^{API_PREFIX}/routing/settings/transcription$"), "routing.transcription.settings"),
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


class Emulator(AnalyticsEndpoints, TranscriptEndpoints, RecordingEndpoints):
    """A faithful, fault-injectable Genesys Cloud for tests and the demo. Thread-safe.

    `behaviour` (an `OrgBehaviour`) makes the API answer like a differently configured real org; None is the
    plain emulator. Fault profiles (`faults`) stay orthogonal: they inject transient misbehaviour on top.
    """

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
        behaviour: OrgBehaviour | None = None,
    ) -> None:
        self.dataset = dataset
        self.behaviour = behaviour or OrgBehaviour()
        self.client_id, self.client_secret = client_id, client_secret
        self.clock = clock
        self.fault_profile = get_profile(faults)
        self.faults = FaultInjector(self.fault_profile, seed)
        self.rate_limit_per_minute = self.fault_profile.rate_limit_per_minute or rate_limit_per_minute
        denied = set(denied_permissions) | ({RESTORE_PERMISSION} if self.behaviour.deny_restore else set())
        self.permissions = GRANTED_PERMISSIONS - denied
        self.token_ttl_s, self.url_ttl_s = token_ttl_s, url_ttl_s
        self.started_at = clock.time()  # "delayed" transcripts count their delay from here at the earliest
        self.base_url: str | None = None
        self._signing_key = hashlib.sha256(f"emulator-s3:{seed}:{client_secret}".encode()).digest()
        self._lock = threading.Lock()
        self._stats = EmulatorStats()
        self._tokens: dict[str, float] = {}  # token -> expires at
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # (token, window) -> (window start, count)
        self._login_posts = 0
        self._transcode_ready: dict[tuple[str, str], tuple[float, float]] = {}  # (cid, format) -> (ready, secs)
        self._jobs: dict = {}  # job id -> BatchJob
        self._first_job_id: str | None = None
        self._restores: dict = {}  # (conversation id, recording id) -> Restore
        self._issued_tokens: Counter = Counter()  # transcript object key -> security tokens issued
        self._expired_tokens: set[str] = set()
        self.denied_division_ids = _last_divisions(dataset, self.behaviour.denied_divisions)
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

    # ------------------------------------------------------------------ ground truth

    def transcript_ready_at(self, conv: SimConversation) -> float | None:
        """Epoch seconds when the conversation's (customer leg's) transcript becomes available; None if never."""
        transcript = conv.transcript
        if transcript is None:
            return None
        base = conv.end.timestamp()
        if transcript.delayed:
            base = max(base, self.started_at)
        return base + transcript.ready_delay_s

    def ready_at(self, conv: SimConversation, part: SimPart) -> float | None:
        """Epoch seconds when `part`'s transcript becomes available: a consult leg has its own delay."""
        if conv.transcript is None:
            return None
        if part.leg == "consult":
            return conv.end.timestamp() + conv.consult.transcript.ready_delay_s
        return self.transcript_ready_at(conv)

    def is_restricted(self, conv: SimConversation) -> bool:
        """Every division the conversation touches is one the role holds no recording/STA rights in."""
        return bool(self.denied_division_ids) and all(d in self.denied_division_ids for d in conv.division_ids)

    def document_bytes(self, conv: SimConversation, part: SimPart) -> bytes:
        """The part's transcript JSON as a client must store it (decoded)."""
        return b"".join(iter_part_document(self.dataset, conv, part))

    def served_bytes(self, conv: SimConversation, part: SimPart) -> bytes:
        """The bytes "S3" sends for the part (gzip-compressed under gzip_transcripts)."""
        return self.blobs.part(conv, part, gzip=self.behaviour.gzip_transcripts).read_all()

    def _visible(self, conv: SimConversation | None) -> SimConversation | None:
        """Conversations that have not started yet do not exist."""
        if conv is None or conv.start.timestamp() > self._now():
            return None
        return conv

    def _require_division_rights(self, conv: SimConversation) -> None:
        if self.is_restricted(conv):
            raise division_denied(self.behaviour, conv.division_id)

    # ------------------------------------------------------------------ login service

    def handle_token(self, method: str, headers, body: bytes) -> Response:
        self._count(token_requests=1)
        correlation = str(uuid.uuid4())
        if method != "POST":
            return json_response(405, {"error": "invalid_request", "description": "method not allowed"})
        limited = self._login_rate_limited(correlation)
        if limited is not None:
            return limited
        form = {k: v[0] for k, v in parse_qs(body.decode("latin-1")).items()}
        if form.get("grant_type") != "client_credentials":
            return _token_error(400, "unsupported_grant_type", "grant type not supported", correlation)
        credentials = _basic_credentials(headers.get("Authorization", ""))
        if credentials is None or not _constant_time_pair(credentials, (self.client_id, self.client_secret)):
            return _token_error(401, "invalid_client", "authentication failed", correlation)
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = self._now() + self.token_ttl_s
        return json_response(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl_s},
            {"ININ-Correlation-Id": correlation, "Cache-Control": "no-store"},
        )

    def _login_rate_limited(self, correlation: str) -> Response | None:
        """Under `login_429_first`, the first N token requests are rate limited (token creation has limits too)."""
        with self._lock:
            self._login_posts += 1
            limited = self._login_posts <= self.behaviour.login_429_first
        if not limited:
            return None
        self._count(rate_limited=1)
        message = f"Rate limit exceeded the maximum. Retry the request in [{LOGIN_RETRY_AFTER_S}] seconds"
        return json_response(
            429,
            {"message": message, "code": "too.many.requests.retry.after", "status": 429},
            {"Retry-After": str(LOGIN_RETRY_AFTER_S), "ININ-Correlation-Id": correlation},
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
            endpoint_headers, retry_after = self._take_endpoint_slot(token, endpoint)
            rate_headers = endpoint_headers or rate_headers  # an endpoint with its own allowance reports its own
            if retry_after is not None:
                raise _too_many_requests(retry_after, endpoint_headers)
            self._inject_faults()
            if handler is None:
                raise ApiError(404, "not.found", "The requested resource was not found.")
            self._authorize(endpoint)
            query = parse_qs(parts.query)
            status, payload = handler(
                *params, query=query, body=parse_json(body) if method in ("POST", "PUT") else None
            )
            response = json_response(status, payload) if payload is not None else Response(status)
        except ApiError as error:
            response = json_response(error.status, error_body(error, correlation), error.headers)
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
            if endpoint == "recording.update" and not self.behaviour.restore:
                continue  # the plain emulator has no restore route
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
        headers, retry_after = self._take_window_slot((token, ""), self.rate_limit_per_minute)
        if retry_after is not None:
            raise _too_many_requests(retry_after, headers)
        return headers

    def _take_endpoint_slot(self, token: str, endpoint: str) -> tuple[dict[str, str] | None, int | None]:
        """(headers, Retry-After when over) of the endpoint's own window; (None, None) without an allowance."""
        allowance = self.behaviour.endpoint_allowances.get(endpoint)
        if allowance is None:
            return None, None
        return self._take_window_slot((token, endpoint), allowance)

    def _take_window_slot(self, key: tuple[str, str], allowed: int) -> tuple[dict[str, str], int | None]:
        now = self._now()
        with self._lock:
            window_start, count = self._windows.get(key, (now, 0))
            if now >= window_start + RATE_WINDOW_S:
                window_start, count = now, 0
            count += 1
            self._windows[key] = (window_start, count)
        reset = max(1, math.ceil(window_start + RATE_WINDOW_S - now))
        headers = {
            "inin-ratelimit-count": str(min(count, allowed)),
            "inin-ratelimit-allowed": str(allowed),
            "inin-ratelimit-reset": str(reset),
        }
        return headers, (reset if count > allowed else None)

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

    # ------------------------------------------------------------------ directory look-ups

    def _api_routing_queues(self, *, query, body) -> tuple[int, dict]:
        ids = multi_ids(query)
        queues = [q for q in self.dataset.queues if not ids or q["id"] in ids]
        page_size = int_query(query, "pageSize", 25, 1, 500)
        page_number = int_query(query, "pageNumber", 1, 1, 10_000)
        return 200, listing([queue_json(self.dataset, q) for q in queues], page_size, page_number)

    def _api_users_list(self, *, query, body) -> tuple[int, dict]:
        ids = multi_ids(query)
        users = [u for u in self.dataset.users if not ids or u["id"] in ids]
        page_size = int_query(query, "pageSize", 25, 1, 500)
        page_number = int_query(query, "pageNumber", 1, 1, 10_000)
        return 200, listing([user_json(self.dataset, u) for u in users], page_size, page_number)

    # ------------------------------------------------------------------ "S3"

    def presign(self, key: str, object_key: str, *, transcript: bool = False) -> str:
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
        if transcript and self.behaviour.expired_token_first_url:
            query += f"&X-Amz-Security-Token={self._security_token(object_key)}"
        return f"{self.base_url or ''}{path}?{query}"

    def _security_token(self, object_key: str) -> str:
        """Temporary-credential session token for a URL; the first one issued per object has already expired."""
        with self._lock:
            issued = self._issued_tokens[object_key]
            self._issued_tokens[object_key] += 1
        token = hmac.new(self._signing_key, f"token:{object_key}:{issued}".encode(), hashlib.sha256).hexdigest()
        if issued == 0:
            with self._lock:
                self._expired_tokens.add(token)
        return token

    def _sign(self, path: str, amz_date: str, expires: str) -> str:
        return hmac.new(self._signing_key, f"{path}\n{amz_date}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def handle_s3(self, method: str, target: str, headers) -> Response:
        self._count(s3_requests=1)
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if headers.get("Authorization"):
            return s3_error(
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
            return s3_error(503, "SlowDown", "Please reduce your request rate.")
        resolved = self._s3_object(parts.path)
        if resolved is None:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        object_key, blob, last_modified = resolved
        return self._s3_object_response(method, headers, object_key, blob, last_modified)

    def _check_signature(self, path: str, query: dict[str, str]) -> Response | None:
        amz_date, expires, signature = query.get("X-Amz-Date"), query.get("X-Amz-Expires"), query.get("X-Amz-Signature")
        if not (amz_date and expires and signature) or query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            return s3_error(403, "AccessDenied", "Access Denied")
        if not hmac.compare_digest(signature, self._sign(path, amz_date, expires)):
            return s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        token = query.get("X-Amz-Security-Token")
        if token is not None:
            with self._lock:
                expired_token = token in self._expired_tokens
            if expired_token:
                return s3_error(400, "ExpiredToken", "The provided token has expired.", **{"Token-0": token})
        issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires_at = issued + timedelta(seconds=int(expires))
        now = self._now_dt()
        if now > expires_at:
            return s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                **{"X-Amz-Expires": expires, "Expires": s3_time(expires_at), "ServerTime": s3_time(now)},
            )
        return None

    def _s3_object(self, path: str) -> tuple[str, Blob, datetime] | None:
        org = re.escape(self.dataset.organization_id)
        match = re.match(rf"^/s3/transcriptsCache/{org}/{_ID}/{_ID}-transcripts$", path)
        if match:
            conv = self.dataset.conversation(match.group(1))
            part = next((p for p in conv.parts if "/s3/" + p.key == path), None) if conv else None
            if part is None:
                return None
            ready_at = self.ready_at(conv, part)
            return (
                part_object_key(conv, part),
                self.blobs.part(conv, part, gzip=self.behaviour.gzip_transcripts),
                datetime.fromtimestamp(ready_at, UTC),
            )
        match = re.match(rf"^/s3/recordings/{org}/{_ID}/{_ID}\.(wav|webm)$", path)
        if match:
            conv = self.dataset.conversation(match.group(1))
            recording = conv.recording(match.group(2)) if conv else None
            if recording is None or (recording.media == "screen") != (match.group(3) == "webm"):
                return None
            object_key = f"recording:{conv.conversation_id}:{recording.recording_id}"
            if recording.media == "screen":
                return object_key, self.blobs.screen(conv, recording.recording_id), conv.end
            return object_key, self.blobs.recording(conv), conv.end
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
            # Stored compressed: S3 serves the stored bytes whatever Accept-Encoding says, ranges included.
            **({"Content-Encoding": blob.content_encoding} if blob.content_encoding else {}),
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Last-Modified": last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "x-amz-request-id": secrets.token_hex(8).upper(),
            "Server": "AmazonS3",
        }
        if_match = headers.get("If-Match")
        if if_match and if_match.strip() not in (etag, "*"):
            return s3_error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        byte_range = None
        range_header = headers.get("Range")
        if_range = headers.get("If-Range")
        if range_header and not self.fault_profile.range_ignored and (not if_range or if_range.strip() == etag):
            byte_range = parse_range(range_header, blob.size)
            if byte_range == "unsatisfiable":
                response = s3_error(416, "InvalidRange", "The requested range is not satisfiable")
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


def _last_divisions(dataset: Dataset, count: int) -> frozenset[str]:
    """The ids of the dataset's last `count` divisions: where the role holds no recording/STA rights."""
    if count <= 0:
        return frozenset()
    return frozenset(d["id"] for d in dataset.divisions[max(0, len(dataset.divisions) - count) :])


def _too_many_requests(retry_after: int, headers: dict[str, str]) -> ApiError:
    return ApiError(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        headers={**headers, "Retry-After": str(retry_after)},
    )


def _token_error(status: int, code: str, description: str, correlation: str) -> Response:
    return json_response(
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
            response = json_response(500, {"message": "Emulator error", "code": "internal.server.error", "status": 500})
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
        return json_response(404, {"message": "Not found", "code": "not.found", "status": 404})

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
