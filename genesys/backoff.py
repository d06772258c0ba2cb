"""When to try again: capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
And Jitter"), and the server's own answer to that question, Retry-After (RFC 9110 §10.2.3).

Retry-After lives here rather than in client.py because the token provider (auth.py) reads it too, and
client.py imports auth.py.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def capped_exponential(attempt: int, *, base: float, cap: float) -> float:
    """The ceiling for retry number `attempt` (0-based): min(cap, base * 2**attempt)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # Bound the exponent so huge attempt counts cannot overflow.
    return min(cap, base * (2 ** min(attempt, 62)))


def full_jitter(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """A delay drawn uniformly from [0, min(cap, base * 2**attempt)]."""
    ceiling = capped_exponential(attempt, base=base, cap=cap)
    return (rng or random).uniform(0, ceiling)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date (RFC 9110 §5.6.7) as an aware UTC datetime; None when absent or unparseable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # "-0000" and obsolete forms parse naive; HTTP dates are always GMT
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def retry_after_seconds(headers: Mapping[str, Any] | Any, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from `now` (epoch): delay-seconds, or an HTTP-date (RFC 9110 §10.2.3).

    None when the header is absent or unreadable (an HTTP-date also needs `now`); never negative.
    """
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
