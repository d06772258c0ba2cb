from __future__ import annotations

import threading

import pytest
from django.db import connection

from genesys.clock import FakeClock
from genesys.ratelimit import RateLimiter
from reviews.models import RateLimitState
from reviews.ratelimit_db import DatabaseBackend

KEY = "genesys:test-shared"


def in_threads(count: int, work) -> None:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


@pytest.mark.django_db(transaction=True)
def test_it_never_grants_more_than_capacity_to_two_workers():
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        backend = DatabaseBackend()  # each "worker" has its own backend and connection
        mine = sum(
            1 for _ in range(25) if backend.acquire(KEY, now=1000.0, capacity=10, refill_per_second=0.001) == 0.0
        )
        with lock:
            granted.append(mine)

    in_threads(2, worker)

    assert sum(granted) == 10
    assert RateLimitState.objects.get(key=KEY).tokens == pytest.approx(0.0)


@pytest.mark.django_db(transaction=True)
def test_it_makes_every_worker_wait_out_a_429():
    clock = FakeClock(5000.0)
    first = RateLimiter(DatabaseBackend(), key=KEY, clock=clock)
    second = RateLimiter(DatabaseBackend(), key=KEY, clock=clock)

    first.on_429(retry_after=7)

    assert DatabaseBackend().paused_until(KEY) == pytest.approx(5007.0)
    assert second.wait() >= 7.0
    assert RateLimitState.objects.get(key=KEY).throttled_total == 1


@pytest.mark.django_db
def test_it_refills_over_time_and_records_genesys_headers():
    backend = DatabaseBackend()
    assert backend.acquire(KEY, now=0.0, capacity=1, refill_per_second=0.5) == 0.0
    assert backend.acquire(KEY, now=0.0, capacity=1, refill_per_second=0.5) == pytest.approx(2.0)
    assert backend.acquire(KEY, now=2.0, capacity=1, refill_per_second=0.5) == 0.0

    backend.observe(KEY, allowed=300, count=299, reset=30, now=10.0)

    row = RateLimitState.objects.get(key=KEY)
    assert (row.allowed, row.count, row.reset_at) == (300, 299, 40.0)
    assert row.paused_until == 40.0  # nearly used up: wait for the window to reset


@pytest.mark.parametrize(("choice", "backend"), [("memory", "MemoryBackend"), ("database", "DatabaseBackend")])
def test_it_picks_the_backend_from_settings(settings, choice, backend):
    from reviews.ratelimit_db import limiter_from_settings

    settings.GENESYS_RATE_LIMIT_BACKEND = choice
    settings.GENESYS_CLIENT_ID = "abc"
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 120

    limiter = limiter_from_settings()

    assert type(limiter.backend).__name__ == backend
    assert (limiter.key, limiter.per_minute) == ("genesys:abc", 120)


SEARCH = "sta.transcripts.search"
URLS = "sta.transcripturls"


def allowance(allowed: int, count: int = 1, reset: int = 60) -> dict:
    return {
        "inin-ratelimit-allowed": str(allowed),
        "inin-ratelimit-count": str(count),
        "inin-ratelimit-reset": str(reset),
    }


@pytest.mark.django_db
def test_it_keeps_a_family_bucket_in_its_own_row():
    clock = FakeClock(7000.0)
    limiter = RateLimiter(DatabaseBackend(), key=KEY, per_minute=300, headroom=1.0, clock=clock)
    limiter.on_headers(allowance(300), family=URLS)
    limiter.on_headers(allowance(6), family=SEARCH)
    family_key = f"{KEY}|{SEARCH}"

    for _ in range(6):
        assert limiter.wait(SEARCH) == 0  # a family row created by observe starts full
    assert limiter.wait(SEARCH) == pytest.approx(10.0)
    assert limiter.wait(URLS) == 0

    row = RateLimitState.objects.get(key=family_key)
    assert row.allowed == 6 and row.tokens == pytest.approx(0.0)
    assert RateLimitState.objects.get(key=KEY).allowed == 300


@pytest.mark.django_db
def test_it_pauses_only_the_family_row_for_a_family_429():
    clock = FakeClock(8000.0)
    limiter = RateLimiter(DatabaseBackend(), key=KEY, clock=clock)
    limiter.on_headers(allowance(300), family=URLS)
    limiter.on_429(20, family=SEARCH, headers=allowance(30, count=30))

    assert DatabaseBackend().paused_until(f"{KEY}|{SEARCH}") == pytest.approx(8020.0)
    assert DatabaseBackend().paused_until(KEY) == 0.0
    assert limiter.wait(URLS) == 0
    assert limiter.wait(SEARCH) >= 20


@pytest.mark.django_db
def test_it_stores_keys_longer_than_the_column_under_a_unique_hashed_key():
    from reviews.ratelimit_db import KEY_MAX_LENGTH, row_key

    long_one = f"{KEY}|" + "family." * 30
    long_two = long_one + "x"
    backend = DatabaseBackend()
    backend.pause(long_one, until=50.0)
    backend.pause(long_two, until=60.0)

    assert len(row_key(long_one)) == KEY_MAX_LENGTH and row_key(long_one) != row_key(long_two)
    assert row_key(KEY) == KEY
    assert (backend.paused_until(long_one), backend.paused_until(long_two)) == (50.0, 60.0)
    assert RateLimitState.objects.filter(key__startswith=f"{KEY}|family.").count() == 2
