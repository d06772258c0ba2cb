"""OAuth client-credentials token provider: cached until shortly before expiry, one refresh at a time."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass

import requests

from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.errors import (
    AUTH_FIX,
    AuthenticationError,
    GenesysError,
    ServerError,
    TransportError,
    parse_error_body,
)

TOKEN_ENDPOINT = "oauth.token"
# Refresh this long before expiry (or 10% of the lifetime for short-lived tokens) so a token never
# expires between being handed out and the request reaching Genesys.
REFRESH_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class TokenAttempt:
    """One HTTP attempt at the login service, reported to the client's metrics hook."""

    status: int | None
    seconds: float
    context_id: str | None


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
    ) -> None:
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self._authorization = basic_authorization(client_id, client_secret)
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock
        self._on_attempt = on_attempt
        self._token: str | None = None
        self._refresh_at = 0.0
        # Held for the whole refresh: concurrent callers queue on it and then find the fresh token.
        self._refresh_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the secret-derived header
        return f"TokenProvider(login_url={self.login_url!r}, client_id={self.client_id!r})"

    def token(self) -> str:
        cached = self._cached()
        if cached is not None:
            return cached
        with self._refresh_lock:
            cached = self._cached()
            if cached is not None:
                return cached
            token, expires_in = self._request_token()
            self._token = token
            self._refresh_at = self._clock.monotonic() + expires_in - refresh_margin(expires_in)
            return token

    def invalidate(self, token: str) -> None:
        """Forget `token` after a 401; a token someone already replaced is left alone (one refresh, not N)."""
        with self._refresh_lock:
            if self._token == token:
                self._token = None

    def _cached(self) -> str | None:
        token = self._token
        if token is not None and self._clock.monotonic() < self._refresh_at:
            return token
        return None

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
