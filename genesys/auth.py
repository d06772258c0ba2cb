"""OAuth client-credentials token provider: cached until shortly before expiry, one refresh at a time.

The token is kept in-process and, optionally, in a TokenCache shared by every process of the deployment, so
N workers log in once rather than N times (token creation is rate limited too, genesys-api.md §12).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

import requests

from genesys.backoff import retry_after_seconds
from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.errors import (
    AUTH_FIX,
    AuthenticationError,
    GenesysError,
    RateLimitedError,
    ServerError,
    TransportError,
    parse_error_body,
)

TOKEN_ENDPOINT = "oauth.token"
# Refresh this long before expiry (or 10% of the lifetime for short-lived tokens) so a token never
# expires between being handed out and the request reaching Genesys.
REFRESH_MARGIN_SECONDS = 60.0
# A login 429 without Retry-After: the Java SDK's retryAfterDefaultMs (genesys-api.md §2.5).
DEFAULT_LOGIN_RETRY_AFTER_SECONDS = 3.0


@dataclass(frozen=True)
class TokenAttempt:
    """One HTTP attempt at the login service, reported to the client's metrics hook."""

    status: int | None
    seconds: float
    context_id: str | None


class TokenCache(Protocol):
    """Where processes share an access token. Times are epoch seconds (clock.time())."""

    def get(self, key: str) -> tuple[str, float] | None:
        """(access_token, refresh_at) when a token is cached under `key`, else None."""
        ...

    def set(self, key: str, token: str, refresh_at: float) -> None: ...

    def discard(self, key: str, token: str) -> None:
        """Forget the cached token only if it is still `token` (a replacement is left alone)."""
        ...

    def lock(self, key: str) -> AbstractContextManager[None]:
        """Cross-process single flight around one token request for `key`."""
        ...


class MemoryTokenCache:
    """A thread-safe TokenCache for one process (and for tests standing in for several)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> tuple[str, float] | None:
        with self._guard:
            return self._tokens.get(key)

    def set(self, key: str, token: str, refresh_at: float) -> None:
        with self._guard:
            self._tokens[key] = (token, float(refresh_at))

    def discard(self, key: str, token: str) -> None:
        with self._guard:
            cached = self._tokens.get(key)
            if cached is not None and cached[0] == token:
                del self._tokens[key]

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


def token_cache_key(login_url: str, client_id: str, client_secret: str) -> str:
    """The TokenCache key of one set of credentials: never the secret in clear; a changed secret gets a new key
    (so a token issued to the old secret is never reused)."""
    digest = hashlib.sha256(f"{login_url}|{client_id}|{client_secret}".encode()).hexdigest()
    return "genesys-token:" + digest[:32]


def basic_authorization(client_id: str, client_secret: str) -> str:
    raw = f"{client_id}:{client_secret}".encode("ascii")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def refresh_margin(expires_in: float) -> float:
    return min(REFRESH_MARGIN_SECONDS, expires_in * 0.1)


class TokenProvider:
    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        client_secret: str,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = 30.0,
        clock: Clock = SYSTEM_CLOCK,
        on_attempt: Callable[[TokenAttempt], None] | None = None,
        cache: TokenCache | None = None,
    ) -> None:
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self._authorization = basic_authorization(client_id, client_secret)
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock
        self._on_attempt = on_attempt
        self._cache = cache
        self.cache_key = token_cache_key(self.login_url, client_id, client_secret)
        self._token: str | None = None
        self._refresh_at = 0.0  # monotonic
        # Held for the whole refresh: concurrent callers queue on it and then find the fresh token.
        self._refresh_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the secret-derived header
        return f"TokenProvider(login_url={self.login_url!r}, client_id={self.client_id!r})"

    def token(self) -> str:
        """A valid access token: the in-process copy, else the shared cache, else one new token request
        (one at a time per process, and per key across processes when a cache is given).

        Raises AuthenticationError (rejected credentials / wrong login URL), RateLimitedError (login 429),
        ServerError or TransportError.
        """
        cached = self._cached()
        if cached is not None:
            return cached
        with self._refresh_lock:
            cached = self._cached()
            if cached is not None:
                return cached
            if self._cache is None:
                token, expires_in = self._request_token()
                self._keep(token, self._clock.monotonic() + expires_in - refresh_margin(expires_in))
                return token
            shared = self._from_cache()
            if shared is not None:
                return shared
            with self._cache.lock(self.cache_key):
                # Another process may have logged in while we waited for the lock.
                shared = self._from_cache()
                if shared is not None:
                    return shared
                token, expires_in = self._request_token()
                lifetime = expires_in - refresh_margin(expires_in)
                self._cache.set(self.cache_key, token, self._clock.time() + lifetime)
                self._keep(token, self._clock.monotonic() + lifetime)
                return token

    def invalidate(self, token: str) -> None:
        """Forget `token` after a 401; a token someone already replaced is left alone (one refresh, not N)."""
        with self._refresh_lock:
            if self._token == token:
                self._token = None
        if self._cache is not None:
            self._cache.discard(self.cache_key, token)

    def _keep(self, token: str, refresh_at_monotonic: float) -> None:
        self._token = token
        self._refresh_at = refresh_at_monotonic

    def _cached(self) -> str | None:
        token = self._token
        if token is not None and self._clock.monotonic() < self._refresh_at:
            return token
        return None

    def _from_cache(self) -> str | None:
        assert self._cache is not None
        entry = self._cache.get(self.cache_key)
        if entry is None:
            return None
        token, refresh_at = entry
        remaining = refresh_at - self._clock.time()
        if not token or remaining <= 0:
            return None
        # The in-process copy runs on the monotonic clock; convert the cache's epoch deadline once.
        self._keep(token, self._clock.monotonic() + remaining)
        return token

    def _request_token(self) -> tuple[str, float]:
        url = f"{self.login_url}/oauth/token"
        started = self._clock.monotonic()
        try:
            response = self._session.post(
                url,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": self._authorization, "Accept": "application/json"},
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            self._report(None, started, None)
            raise TransportError(
                f"{TOKEN_ENDPOINT}: cannot reach the Genesys login service at {self.login_url} "
                f"({type(exc).__name__}); check GENESYS_REGION / GENESYS_LOGIN_URL and the network"
            ) from None
        context_id = response.headers.get("ININ-Correlation-Id")
        self._report(response.status_code, started, context_id)
        return self._token_from(response, context_id)

    def _token_from(self, response: requests.Response, context_id: str | None) -> tuple[str, float]:
        status = response.status_code
        body = parse_error_body(response.text)
        if status == 429:
            # Token creation is rate limited too: a 429 says "later", never "wrong credentials".
            retry_after = retry_after_seconds(response.headers, now=self._clock.time())
            retry_after = DEFAULT_LOGIN_RETRY_AFTER_SECONDS if retry_after is None else retry_after
            code = body.get("code") or body.get("error")
            raise RateLimitedError(
                f"{TOKEN_ENDPOINT}: the login service is rate limiting token requests (HTTP 429); "
                f"retry after {retry_after:g}s",
                retry_after=retry_after,
                status=status,
                code=code if isinstance(code, str) else None,
                context_id=context_id,
            )
        if status >= 500:
            raise ServerError(
                f"{TOKEN_ENDPOINT}: login service error HTTP {status}", status=status, context_id=context_id
            )
        if status >= 400:
            error = body.get("error") or body.get("code")
            description = body.get("error_description") or body.get("description") or body.get("message") or ""
            reason = f"{error}: {description}" if error and description else (error or f"HTTP {status}")
            if status == 404:
                fix = f"{self.login_url}/oauth/token does not exist; check GENESYS_REGION / GENESYS_LOGIN_URL"
            else:
                fix = AUTH_FIX
            raise AuthenticationError(
                f"{TOKEN_ENDPOINT}: login rejected ({reason}); {fix}",
                status=status,
                code=error if isinstance(error, str) else None,
                context_id=context_id,
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                f"{TOKEN_ENDPOINT}: {self.login_url} answered HTTP {status} without an access_token; "
                "check GENESYS_REGION / GENESYS_LOGIN_URL",
                status=status,
                context_id=context_id,
            )
        try:
            expires_in = float(body.get("expires_in", 86400))
        except (TypeError, ValueError):
            raise GenesysError(f"{TOKEN_ENDPOINT}: expires_in is not a number", status=status) from None
        return token, max(expires_in, 1.0)

    def _report(self, status: int | None, started: float, context_id: str | None) -> None:
        if self._on_attempt is not None:
            self._on_attempt(TokenAttempt(status, self._clock.monotonic() - started, context_id))
