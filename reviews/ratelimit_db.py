"""Database backend for genesys.ratelimit: one RateLimitState row per key, shared by every worker process.

Each operation is one short transaction that reads, changes and writes the row while holding a lock:
on SQLite the project's IMMEDIATE transaction mode takes the write lock at BEGIN; on PostgreSQL
select_for_update() locks the row. Two workers therefore never both take the last token.

Keys are the limiter's: `genesys:<client id>` for the client-wide bucket and `genesys:<client id>|<family>`
for an endpoint family with its own lower allowance (genesys.ratelimit). A key longer than the column is
stored under a hashed form, so any family name fits.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction

from genesys.clock import SYSTEM_CLOCK
from genesys.ratelimit import MemoryBackend, RateLimiter, RedisBackend, _Bucket, near_limit_pause_until, take_token
from reviews.models import RateLimitState

logger = logging.getLogger(__name__)

# SQLite answers "database is locked"/"table is locked" at once (not after busy_timeout) in a few
# situations, e.g. shared-cache in-memory test databases; a short retry keeps the limiter usable there.
_LOCKED_RETRIES = 50
_LOCKED_RETRY_SECONDS = 0.02
KEY_MAX_LENGTH = RateLimitState._meta.get_field("key").max_length


def row_key(key: str) -> str:
    """`key` when it fits the column; else a readable prefix plus a hash of the whole key (still unique)."""
    if len(key) <= KEY_MAX_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"{key[: KEY_MAX_LENGTH - len(digest) - 1]}#{digest}"


class DatabaseBackend:
    def acquire(self, key: str, *, now: float, capacity: float, refill_per_second: float) -> float:
        def take(row: RateLimitState) -> float:
            bucket = _Bucket(tokens=row.tokens, updated=row.updated_at, paused_until=row.paused_until)
            wait = take_token(bucket, now=now, capacity=capacity, refill_per_second=refill_per_second)
            if bucket.tokens != row.tokens or bucket.updated != row.updated_at:
                row.tokens, row.updated_at = bucket.tokens, bucket.updated
                row.save(update_fields=["tokens", "updated_at"])
            return wait

        return self._with_row(key, take, defaults={"tokens": capacity, "updated_at": now})

    def pause(self, key: str, *, until: float) -> None:
        def extend(row: RateLimitState) -> None:
            row.throttled_total += 1
            row.paused_until = max(row.paused_until, until)
            row.save(update_fields=["paused_until", "throttled_total"])

        self._with_row(key, extend, defaults={"tokens": 0.0, "updated_at": until})

    def paused_until(self, key: str) -> float:
        value = RateLimitState.objects.filter(key=row_key(key)).values_list("paused_until", flat=True).first()
        return float(value or 0.0)

    def observe(self, key: str, *, allowed: int | None, count: int | None, reset: float | None, now: float) -> None:
        until = near_limit_pause_until(allowed=allowed, count=count, reset=reset, now=now)

        def record(row: RateLimitState) -> None:
            if allowed:
                row.allowed = allowed
            if count is not None:
                row.count = count
            if reset is not None:
                row.reset_at = now + reset
            if until is not None:
                row.paused_until = max(row.paused_until, until)
            row.save(update_fields=["allowed", "count", "reset_at", "paused_until"])

        # A family's bucket usually comes into being here, when its allowance is first reported: updated_at 0
        # makes the new row full at its first acquire, like a missing Memory/Redis bucket.
        self._with_row(key, record, defaults={"tokens": 0.0, "updated_at": 0.0})

    def _with_row(self, key: str, change, *, defaults: dict):
        key = row_key(key)
        for attempt in range(_LOCKED_RETRIES):
            try:
                with transaction.atomic():
                    return change(self._locked_row(key, defaults=defaults))
            except OperationalError as exc:
                if "locked" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                    raise
                time.sleep(_LOCKED_RETRY_SECONDS)
        raise AssertionError("unreachable")

    @staticmethod
    def _locked_row(key: str, *, defaults: dict) -> RateLimitState:
        row = RateLimitState.objects.select_for_update().filter(key=key).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                return RateLimitState.objects.create(key=key, **defaults)
        except IntegrityError:
            # Another worker created the row between our read and insert (PostgreSQL); lock theirs.
            return RateLimitState.objects.select_for_update().get(key=key)


def limiter_from_settings(*, clock=None) -> RateLimiter:
    """The shared Genesys rate limiter chosen by GENESYS_RATE_LIMIT_BACKEND (memory | database | redis).

    Every worker process builds its own RateLimiter, but with the database or Redis backend they all
    share one bucket under the key genesys:<client id> (plus one per endpoint family that reports a lower
    allowance), so together they stay inside the allowances and a 429 pauses all of them.
    """
    choice = settings.GENESYS_RATE_LIMIT_BACKEND
    if choice == "redis":
        import redis

        backend = RedisBackend(redis.from_url(settings.REDIS_URL), prefix="transcript-vault:")
    elif choice == "database":
        backend = DatabaseBackend()
    else:
        backend = MemoryBackend()
    return RateLimiter(
        backend,
        key=f"genesys:{settings.GENESYS_CLIENT_ID}",  # = genesys_factory.rate_limit_key
        per_minute=settings.GENESYS_RATE_LIMIT_PER_MINUTE,
        headroom=settings.GENESYS_RATE_LIMIT_HEADROOM,
        clock=clock or SYSTEM_CLOCK,
    )
