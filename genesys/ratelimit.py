"""A token bucket shared by every caller of one OAuth client, adapted to Genesys's inin-ratelimit-* headers.

The bucket state lives in a backend so several threads (MemoryBackend) or processes (RedisBackend, or the
database backend in reviews/ratelimit_db.py) share one allowance. A 429 pauses everyone sharing the key.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from genesys.clock import SYSTEM_CLOCK, Clock

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
        # What Genesys says this client may do per window; it only ever lowers the configured rate.
        self.allowed_per_minute = per_minute

    @property
    def capacity(self) -> float:
        return max(1.0, self.allowed_per_minute * self.headroom)

    @property
    def refill_per_second(self) -> float:
        return self.capacity / 60.0

    def wait(self) -> float:
        """Block (via clock.sleep) until a request may go; returns the seconds waited."""
        waited = 0.0
        while True:
            delay = self.backend.acquire(
                self.key, now=self.clock.time(), capacity=self.capacity, refill_per_second=self.refill_per_second
            )
            if delay <= 0:
                return waited
            self.clock.sleep(delay)
            waited += delay

    def on_429(self, retry_after: float) -> None:
        """Pause every caller sharing this key until Retry-After has passed."""
        self.backend.pause(self.key, until=self.clock.time() + max(retry_after, 0.0))

    def on_headers(self, headers: Mapping[str, str]) -> None:
        allowed = _header(headers, "inin-ratelimit-allowed")
        count = _header(headers, "inin-ratelimit-count")
        reset = _header(headers, "inin-ratelimit-reset")
        if allowed is None and count is None and reset is None:
            return
        if allowed is not None and 0 < allowed < self.allowed_per_minute:
            self.allowed_per_minute = int(allowed)
        self.backend.observe(
            self.key,
            allowed=int(allowed) if allowed is not None else None,
            count=int(count) if count is not None else None,
            reset=reset,
            now=self.clock.time(),
        )
