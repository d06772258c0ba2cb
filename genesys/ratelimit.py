"""Token buckets shared by every caller of one OAuth client, adapted to Genesys's inin-ratelimit-* headers.

The bucket state lives in a backend so several threads (MemoryBackend) or processes (RedisBackend, or the
database backend in reviews/ratelimit_db.py) share one allowance.

Genesys reports an allowance per resource (`inin-ratelimit-allowed` is 180 on one endpoint and 300 on
another, genesys-api.md §2.3, §12), so allowances are tracked per endpoint family:

- the client-wide bucket (key `key`) runs at the configured rate, lowered only to the largest allowance any
  family reports (the client may do at least that much somewhere);
- a family whose allowance is below the client-wide one also gets its own bucket (key `key|family`), and
  its requests take a token from both. Other families cost no extra backend call;
- a 429 or a nearly used window pauses that family's bucket when it has its own, otherwise everyone.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from genesys.clock import SYSTEM_CLOCK, Clock
from genesys.errors import RateLimitedError

DEFAULT_PER_MINUTE = 300
DEFAULT_HEADROOM = 0.9
# When Genesys says we used this share of the window's allowance, wait for the window to reset.
NEAR_LIMIT_FRACTION = 0.95
# Backend keys outlive any realistic pause or bucket refill, then disappear on their own.
KEY_TTL_SECONDS = 3600
TOKEN_EPSILON = 1e-9
MIN_WAIT_SECONDS = 0.001


class RateLimitBackend(Protocol):
    def acquire(self, key: str, *, now: float, capacity: float, refill_per_second: float) -> float: ...

    def pause(self, key: str, *, until: float) -> None: ...

    def paused_until(self, key: str) -> float: ...

    def observe(self, key: str, *, allowed: int | None, count: int | None, reset: float | None, now: float) -> None: ...


def near_limit_pause_until(*, allowed: int | None, count: int | None, reset: float | None, now: float) -> float | None:
    """When the window is nearly used up, the time its reset arrives; else None."""
    if not allowed or count is None or reset is None:
        return None
    if count >= allowed * NEAR_LIMIT_FRACTION:
        return now + max(reset, 0.0)
    return None


@dataclass
class _Bucket:
    tokens: float
    updated: float
    paused_until: float = 0.0
    allowed: int | None = None


def _new_bucket() -> _Bucket:
    # Full until first used, like a Redis hash that does not exist yet; take_token clamps it to capacity.
    return _Bucket(tokens=math.inf, updated=0.0)


def take_token(bucket: _Bucket, *, now: float, capacity: float, refill_per_second: float) -> float:
    """The token bucket rule shared by the in-process backends: 0.0 when taken, else seconds to wait."""
    if now < bucket.paused_until:
        return bucket.paused_until - now
    elapsed = max(now - bucket.updated, 0.0)
    bucket.tokens = min(capacity, bucket.tokens + elapsed * refill_per_second)
    bucket.updated = max(bucket.updated, now)
    # The epsilon absorbs float rounding: 0.9999999 tokens must not become a sleep too small to move the clock.
    if bucket.tokens >= 1.0 - TOKEN_EPSILON:
        bucket.tokens = max(bucket.tokens - 1.0, 0.0)
        return 0.0
    return max((1.0 - bucket.tokens) / refill_per_second, MIN_WAIT_SECONDS)


class MemoryBackend:
    """Thread-safe, one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, *, now: float, capacity: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=capacity, updated=now)
        return bucket

    def acquire(self, key: str, *, now: float, capacity: float, refill_per_second: float) -> float:
        with self._lock:
            bucket = self._bucket(key, now=now, capacity=capacity)
            return take_token(bucket, now=now, capacity=capacity, refill_per_second=refill_per_second)

    def pause(self, key: str, *, until: float) -> None:
        with self._lock:
            bucket = self._buckets.setdefault(key, _new_bucket())
            bucket.paused_until = max(bucket.paused_until, until)

    def paused_until(self, key: str) -> float:
        with self._lock:
            bucket = self._buckets.get(key)
            return bucket.paused_until if bucket else 0.0

    def observe(self, key: str, *, allowed: int | None, count: int | None, reset: float | None, now: float) -> None:
        until = near_limit_pause_until(allowed=allowed, count=count, reset=reset, now=now)
        with self._lock:
            bucket = self._buckets.setdefault(key, _new_bucket())
            if allowed:
                bucket.allowed = allowed
            if until is not None:
                bucket.paused_until = max(bucket.paused_until, until)


# Atomic in Redis: refill, pause check and take happen in one script. Floats travel as strings because
# Lua numbers returned to Redis are truncated to integers.
_ACQUIRE_LUA = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated', 'paused_until')
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local paused = tonumber(state[3]) or 0
if now < paused then
  return tostring(paused - now)
end
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = capacity
  updated = now
end
if now > updated then
  tokens = tokens + (now - updated) * rate
  updated = now
end
if tokens > capacity then tokens = capacity end
local wait = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(tokens - 1, 0)
else
  wait = math.max((1 - tokens) / rate, 0.001)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(updated))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(wait)
"""

_PAUSE_LUA = """
local current = tonumber(redis.call('HGET', KEYS[1], 'paused_until')) or 0
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('HSET', KEYS[1], 'paused_until', tostring(wanted))
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


class RedisBackend:
    """Shared across processes through one Redis hash per key; every write refreshes the key's TTL."""

    def __init__(self, redis_client, *, prefix: str = "", ttl_seconds: int = KEY_TTL_SECONDS) -> None:
        self._redis = redis_client
        self._prefix = prefix
        self._ttl = int(ttl_seconds)
        self._acquire = redis_client.register_script(_ACQUIRE_LUA)
        self._pause = redis_client.register_script(_PAUSE_LUA)

    def _key(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def acquire(self, key: str, *, now: float, capacity: float, refill_per_second: float) -> float:
        result = self._acquire(
            keys=[self._key(key)], args=[repr(now), repr(capacity), repr(refill_per_second), self._ttl]
        )
        return float(result)

    def pause(self, key: str, *, until: float) -> None:
        self._pause(keys=[self._key(key)], args=[repr(until), self._ttl])

    def paused_until(self, key: str) -> float:
        value = self._redis.hget(self._key(key), "paused_until")
        return float(value) if value is not None else 0.0

    def observe(self, key: str, *, allowed: int | None, count: int | None, reset: float | None, now: float) -> None:
        if allowed:
            pipe = self._redis.pipeline()
            pipe.hset(self._key(key), "allowed", str(allowed))
            pipe.expire(self._key(key), self._ttl)
            pipe.execute()
        until = near_limit_pause_until(allowed=allowed, count=count, reset=reset, now=now)
        if until is not None:
            self.pause(key, until=until)


def _header(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(str(raw).strip())
    except ValueError:
        return None


def endpoint_family(endpoint: str) -> str:
    """The rate-limit family of a client endpoint name (e.g. "sta.transcripts.search").

    Identity today: Genesys limits per resource and every endpoint name is one resource. This is the one
    place to group endpoints later if an org turns out to share an allowance between them.
    """
    return endpoint


class RateLimiter:
    def __init__(
        self,
        backend: RateLimitBackend | None = None,
        key: str = "genesys:default",
        per_minute: int = DEFAULT_PER_MINUTE,
        headroom: float = DEFAULT_HEADROOM,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if per_minute <= 0 or not 0 < headroom <= 1:
            raise ValueError("per_minute must be > 0 and headroom in (0, 1]")
        self.backend = backend if backend is not None else MemoryBackend()
        self.key = key
        self.per_minute = per_minute
        self.headroom = headroom
        self.clock = clock
        # The latest inin-ratelimit-allowed each family reported (None: a caller that named no family).
        # This process's own knowledge; the buckets themselves live in the shared backend.
        self._allowances: dict[str | None, int] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ allowances
    @property
    def allowed_per_minute(self) -> int:
        """The client-wide allowance: the configured rate, or the largest allowance reported when lower."""
        with self._lock:
            largest = max(self._allowances.values(), default=None)
        if largest is None or largest >= self.per_minute:
            return self.per_minute
        return largest

    def family_allowed(self, family: str | None) -> int | None:
        """The family's own allowance when it is below the client-wide one (it then has a bucket); else None."""
        if family is None:
            return None
        with self._lock:
            allowed = self._allowances.get(family)
        if allowed is not None and allowed < self.allowed_per_minute:
            return allowed
        return None

    def family_key(self, family: str) -> str:
        return f"{self.key}|{family}"

    def _capacity_for(self, allowed: int) -> float:
        return max(1.0, allowed * self.headroom)

    @property
    def capacity(self) -> float:
        """Client-wide bucket size (a minute's worth at the client-wide allowance, less headroom)."""
        return self._capacity_for(self.allowed_per_minute)

    @property
    def refill_per_second(self) -> float:
        return self.capacity / 60.0

    def _learn(self, family: str | None, allowed: float | None) -> None:
        if allowed is not None and allowed > 0:
            with self._lock:
                self._allowances[family] = int(allowed)

    def _pause_key(self, family: str | None) -> str:
        """The key a family's pause applies to: its own bucket when it has one, else everyone's."""
        if family is not None and self.family_allowed(family) is not None:
            return self.family_key(family)
        return self.key

    # ------------------------------------------------------------------------------------ wait
    def wait(self, family: str | None = None, *, max_wait: float | None = None) -> float:
        """Block (via clock.sleep) until a request of `family` may go; returns the seconds waited.

        Takes a token from the client-wide bucket and, when the family has its own lower allowance, from the
        family's bucket too. With `max_wait`, raises RateLimitedError (retry_after = the pause ahead) instead
        of sleeping when the total wait would pass it, so a caller never blocks on a one-hour Retry-After.
        """
        buckets: list[tuple[str, float]] = []
        family_allowed = self.family_allowed(family)
        if family is not None and family_allowed is not None:
            buckets.append((self.family_key(family), self._capacity_for(family_allowed)))
        buckets.append((self.key, self.capacity))
        waited = 0.0
        taken = 0  # buckets are taken in order; a token already granted is never taken twice
        while taken < len(buckets):
            key, capacity = buckets[taken]
            delay = self.backend.acquire(key, now=self.clock.time(), capacity=capacity, refill_per_second=capacity / 60)
            if delay <= 0:
                taken += 1
                continue
            if max_wait is not None and waited + delay > max_wait:
                raise RateLimitedError(
                    f"rate limited: the shared limiter would hold this request {waited + delay:.0f}s "
                    f"(more than the {max(max_wait, 0.0):.0f}s it may wait)",
                    status=429,
                    retry_after=delay,
                )
            self.clock.sleep(delay)
            waited += delay
        return waited

    # ------------------------------------------------------------------------------- feedback
    def on_429(self, retry_after: float, family: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        """Pause until Retry-After has passed: only `family` when the 429 carries an allowance below the
        client-wide one (that resource is the one exhausted), otherwise every caller sharing this key."""
        allowed = _header(headers, "inin-ratelimit-allowed") if headers is not None else None
        key = self.key
        if family is not None and allowed is not None and allowed > 0:
            self._learn(family, allowed)
            key = self._pause_key(family)
        self.backend.pause(key, until=self.clock.time() + max(retry_after, 0.0))

    def on_headers(self, headers: Mapping[str, str], family: str | None = None) -> None:
        """Learn `family`'s allowance from inin-ratelimit-*; pause its key when the window is nearly used."""
        allowed = _header(headers, "inin-ratelimit-allowed")
        count = _header(headers, "inin-ratelimit-count")
        reset = _header(headers, "inin-ratelimit-reset")
        if allowed is None and count is None and reset is None:
            return
        self._learn(family, allowed)
        self.backend.observe(
            self._pause_key(family),
            allowed=int(allowed) if allowed is not None else None,
            count=int(count) if count is not None else None,
            reset=reset,
            now=self.clock.time(),
        )
