"""Build the GenesysClient from Django settings (the one place settings meet the pure genesys package).

Every task of a worker process shares one client (shared_client): one connection pool, one view of the
rate-limit allowances, and one OAuth token, which the token cache also shares across processes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable

from django.conf import settings

from genesys.client import GenesysClient, RequestEvent
from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.ratelimit import RateLimiter
from reviews.observability import genesys_request_hook
from reviews.ratelimit_db import limiter_from_settings
from reviews.token_cache import token_cache_from_settings

_shared_lock = threading.Lock()
_shared: dict[tuple, GenesysClient] = {}


def rate_limit_key(client_id: str) -> str:
    return f"genesys:{client_id}"


def build_rate_limiter(*, clock: Clock = SYSTEM_CLOCK) -> RateLimiter:
    """The limiter every worker shares: GENESYS_RATE_LIMIT_BACKEND picks memory, database or redis."""
    return limiter_from_settings(clock=clock)


def build_client(
    *,
    clock: Clock | None = None,
    on_request: Callable[[RequestEvent], None] | None = None,
    rate_limiter: RateLimiter | None = None,
) -> GenesysClient:
    clock = clock or SYSTEM_CLOCK
    return GenesysClient(
        api_url=settings.GENESYS_API_URL,
        login_url=settings.GENESYS_LOGIN_URL,
        client_id=settings.GENESYS_CLIENT_ID,
        client_secret=settings.GENESYS_CLIENT_SECRET,
        rate_limiter=rate_limiter or build_rate_limiter(clock=clock),
        timeout=settings.GENESYS_TIMEOUT_SECONDS,
        max_retries=settings.GENESYS_MAX_RETRIES,
        max_retry_seconds=settings.GENESYS_MAX_RETRY_SECONDS,
        clock=clock,
        on_request=on_request or genesys_request_hook,
        token_cache=token_cache_from_settings(),
    )


def _identity() -> tuple:
    secret = hashlib.sha256(settings.GENESYS_CLIENT_SECRET.encode()).hexdigest()
    # The pid: a forked worker must not reuse its parent's connections.
    return (os.getpid(), settings.GENESYS_API_URL, settings.GENESYS_LOGIN_URL, settings.GENESYS_CLIENT_ID, secret)


def shared_client() -> GenesysClient:
    """This process's client, built on first use (and again if the Genesys settings changed)."""
    identity = _identity()
    with _shared_lock:
        client = _shared.get(identity)
        if client is None:
            _shared.clear()
            client = _shared[identity] = build_client(clock=SYSTEM_CLOCK)
        return client
