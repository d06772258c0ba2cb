"""Fault profiles: named, seeded misbehaviour that a correct client must survive without corrupting data.

Faults change status codes, timing, headers and where a body stops, never the bytes that are delivered:
a drop sends a correct prefix, an ETag change keeps the content, an expired URL is refreshed by the client.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class FaultProfile:
    name: str
    rate_limit_per_minute: int | None = None  # overrides the emulator's allowance (429 storms)
    server_error_rate: float = 0.0  # share of API requests answered 500/502/503
    s3_error_rate: float = 0.0  # share of S3 requests answered 503 SlowDown
    burst_429_rate: float = 0.0  # share of API requests hit by a short, random 429 burst
    latency_ms: tuple[int, int] = (0, 0)  # real added latency per request (kept small on purpose)
    drop_rate: float = 0.0  # share of S3 bodies cut mid-stream
    range_ignored: bool = False  # S3 answers Range requests with 200 and the full body
    etag_change: bool = False  # each document's first download is cut and its ETag then changes once
    expired_first_url: bool = False  # the first URL issued for each object is already expired
    expired_url_rate: float = 0.0  # share of later URLs issued already expired (never twice in a row)
    transcode_seconds: tuple[float, float] = (3.0, 8.0)  # clock seconds from first request to AVAILABLE


FAULT_PROFILES: dict[str, FaultProfile] = {}


def _register(profile: FaultProfile) -> FaultProfile:
    FAULT_PROFILES[profile.name] = profile
    return profile


NONE = _register(FaultProfile("none"))
RATE_LIMIT = _register(FaultProfile("rate_limit", rate_limit_per_minute=30))
SERVER_ERRORS = _register(FaultProfile("server_errors", server_error_rate=0.10, s3_error_rate=0.05))
SLOW = _register(FaultProfile("slow", latency_ms=(5, 50)))
DROP_CONNECTIONS = _register(FaultProfile("drop_connections", drop_rate=0.20))
RANGE_IGNORED = _register(FaultProfile("range_ignored", range_ignored=True, drop_rate=0.20))
ETAG_CHANGE = _register(FaultProfile("etag_change", etag_change=True))
EXPIRED_URLS = _register(FaultProfile("expired_urls", expired_first_url=True))
TRANSCODING = _register(FaultProfile("transcoding", transcode_seconds=(60.0, 180.0)))
FLAKY = _register(
    FaultProfile(
        "flaky",
        server_error_rate=0.08,
        s3_error_rate=0.03,
        burst_429_rate=0.03,
        drop_rate=0.20,
        expired_url_rate=0.25,
    )
)
CHAOS = _register(replace(FLAKY, name="chaos", range_ignored=True, etag_change=True, latency_ms=(0, 20)))


def get_profile(name: str | FaultProfile) -> FaultProfile:
    if isinstance(name, FaultProfile):
        return name
    try:
        return FAULT_PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r}; choose from {', '.join(FAULT_PROFILES)}") from None


class FaultInjector:
    """Seeded, thread-safe decisions for one emulator run."""

    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self.profile = profile
        self._rng = random.Random(f"faults:{profile.name}:{seed}")
        self._lock = threading.Lock()
        self._issued_urls: dict[str, int] = {}
        self._last_url_expired: dict[str, bool] = {}
        self._etag_generation: dict[str, int] = {}
        self._etag_cut_done: set[str] = set()

    def _chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def server_error(self) -> int | None:
        if not self._chance(self.profile.server_error_rate):
            return None
        with self._lock:
            return self._rng.choice((500, 502, 503))

    def s3_error(self) -> bool:
        return self._chance(self.profile.s3_error_rate)

    def burst_429(self) -> int | None:
        """Retry-After seconds for an injected 429, or None."""
        if not self._chance(self.profile.burst_429_rate):
            return None
        with self._lock:
            return self._rng.randint(1, 3)

    def delay(self) -> None:
        low, high = self.profile.latency_ms
        if high <= 0:
            return
        with self._lock:
            ms = self._rng.randint(low, high)
        time.sleep(ms / 1000)  # real latency on purpose: it exercises timeouts and concurrency, not the clock

    def transcode_seconds(self) -> float:
        low, high = self.profile.transcode_seconds
        with self._lock:
            return self._rng.uniform(low, high)

    def issue_expired_url(self, object_key: str) -> bool:
        """Should the URL being issued for `object_key` be already expired (held too long by a slow client)?"""
        with self._lock:
            issued = self._issued_urls.get(object_key, 0)
            self._issued_urls[object_key] = issued + 1
            if self.profile.expired_first_url and issued == 0:
                expired = True
            elif self._last_url_expired.get(object_key):
                expired = False  # never twice in a row: a refreshing client always gets through
            else:
                expired = self.profile.expired_url_rate > 0 and self._rng.random() < self.profile.expired_url_rate
            self._last_url_expired[object_key] = expired
            return expired

    def drop_at(self, object_key: str, length: int) -> int | None:
        """Byte count after which to cut this response body, or None to send it whole."""
        if length <= 1:
            return None
        if self.profile.etag_change and object_key.startswith("transcript") and self._claim_etag_cut(object_key):
            return length // 2
        if not self._chance(self.profile.drop_rate):
            return None
        with self._lock:
            return self._rng.randint(1, length - 1)

    def _claim_etag_cut(self, object_key: str) -> bool:
        with self._lock:
            if object_key in self._etag_cut_done:
                return False
            self._etag_cut_done.add(object_key)
            return True

    def after_cut(self, object_key: str) -> None:
        """Called after a body was cut; under etag_change the object's ETag moves on, once."""
        if not self.profile.etag_change:
            return
        with self._lock:
            if self._etag_generation.get(object_key, 0) == 0:
                self._etag_generation[object_key] = 1

    def etag_generation(self, object_key: str) -> int:
        with self._lock:
            return self._etag_generation.get(object_key, 0)
