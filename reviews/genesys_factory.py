"""Build the GenesysClient from Django settings (the one place settings meet the pure genesys package)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from genesys.client import GenesysClient, RequestEvent
from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.ratelimit import RateLimiter
from reviews.observability import genesys_request_hook


def rate_limit_key(client_id: str) -> str:
    return f"genesys:{client_id}"


def build_rate_limiter(*, clock: Clock = SYSTEM_CLOCK) -> RateLimiter:
    """The limiter every worker shares: GENESYS_RATE_LIMIT_BACKEND picks memory, database or redis."""
    from reviews.ratelimit_db import limiter_from_settings

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
        max_retries=getattr(settings, "GENESYS_MAX_RETRIES", 5),
        max_retry_seconds=getattr(settings, "GENESYS_MAX_RETRY_SECONDS", 120.0),
        clock=clock,
        on_request=on_request or genesys_request_hook,
    )
