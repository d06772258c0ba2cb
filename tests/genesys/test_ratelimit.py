from __future__ import annotations

import threading
import uuid

import pytest
import responses

from genesys.clock import FakeClock
from genesys.errors import RateLimitedError
from genesys.ratelimit import MemoryBackend, RateLimiter, RedisBackend, endpoint_family

SEARCH = "sta.transcripts.search"
URLS = "sta.transcripturls"


def allowance(allowed: int, count: int = 1, reset: int = 60) -> dict:
    return {
        "inin-ratelimit-allowed": str(allowed),
        "inin-ratelimit-count": str(count),
        "inin-ratelimit-reset": str(reset),
    }


class CountingBackend(MemoryBackend):
    """A MemoryBackend that records which keys each operation touched."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def acquire(self, key, **kwargs):
        self.calls.append(("acquire", key))
        return super().acquire(key, **kwargs)

    def pause(self, key, **kwargs):
        self.calls.append(("pause", key))
        return super().pause(key, **kwargs)

    def observe(self, key, **kwargs):
        self.calls.append(("observe", key))
        return super().observe(key, **kwargs)


def test_it_sizes_the_bucket_from_per_minute_and_headroom():
    limiter = RateLimiter(MemoryBackend(), key="k", clock=FakeClock())
    assert limiter.capacity == pytest.approx(270)
    assert limiter.refill_per_second == pytest.approx(4.5)


def test_it_lets_a_burst_through_then_paces_at_the_refill_rate():
    clock = FakeClock()
    limiter = RateLimiter(MemoryBackend(), key="k", per_minute=60, headroom=0.5, clock=clock)  # 30 burst, 0.5/s
    for _ in range(30):
        assert limiter.wait() == 0
    assert limiter.wait() == pytest.approx(2.0)
    started = clock.time()
    for _ in range(10):
        limiter.wait()
    assert clock.time() - started == pytest.approx(20.0)


def test_it_uses_a_lower_allowance_from_the_headers():
    limiter = RateLimiter(MemoryBackend(), key="k", clock=FakeClock())
    limiter.on_headers({"inin-ratelimit-allowed": "180", "inin-ratelimit-count": "1", "inin-ratelimit-reset": "61"})
    assert limiter.capacity == pytest.approx(162)
    limiter.on_headers({"inin-ratelimit-allowed": "600"})  # back up, but never above what is configured
    assert limiter.capacity == pytest.approx(270)


def test_it_slows_down_until_reset_when_the_window_is_nearly_used():
    clock = FakeClock()
    limiter = RateLimiter(MemoryBackend(), key="k", clock=clock)
    limiter.on_headers({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "299", "inin-ratelimit-reset": "12"})
    assert limiter.wait() == pytest.approx(12)


def test_it_pauses_every_caller_sharing_the_backend_on_429():
    backend = MemoryBackend()
    first_clock, second_clock = FakeClock(start=1000), FakeClock(start=1000)
    first = RateLimiter(backend, key="shared", clock=first_clock)
    second = RateLimiter(backend, key="shared", clock=second_clock)
    other = RateLimiter(backend, key="another-client", clock=FakeClock(start=1000))
    first.on_429(30)
    assert second.wait() == pytest.approx(30)
    assert second_clock.time() == pytest.approx(1030)
    assert other.wait() == 0  # a different OAuth client is not paused


def test_it_pauses_other_clients_threads_until_retry_after(gx, make_client):
    """Client A gets a 429; client B (another thread, own clock, same backend) must not call before it passes."""
    backend = MemoryBackend()
    clock_a, clock_b = FakeClock(start=5000), FakeClock(start=5000)
    b_request_times: list[float] = []
    b_may_start = threading.Event()

    def answer_a(request):
        return 429, {"Retry-After": "30"}, '{"code":"too.many.requests.retry.after","status":429}'

    def answer_b(request):
        b_request_times.append(clock_b.time())
        return 200, {}, '{"id": "j"}'

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        gx.add_token(rsps)
        rsps.add_callback(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/a", callback=answer_a)
        rsps.add(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/a", json={"id": "a"})
        rsps.add_callback(responses.GET, f"{gx.API}/api/v2/recording/batchrequests/b", callback=answer_b)

        def on_a_request(event):
            if event.status == 429:
                b_may_start.set()

        client_a = make_client(
            clock=clock_a,
            on_request=on_a_request,
            rate_limiter=RateLimiter(backend, key="genesys:shared", clock=clock_a),
        )
        client_b = make_client(clock=clock_b, rate_limiter=RateLimiter(backend, key="genesys:shared", clock=clock_b))
        client_b.tokens.token()  # log in before the 429 so only the API call is at stake

        def run_b():
            b_may_start.wait(5)
            client_b.get_batch_download("b")

        thread = threading.Thread(target=run_b)
        thread.start()
        assert client_a.get_batch_download("a") == {"id": "a"}
        thread.join(5)
    assert b_request_times and b_request_times[0] >= 5030
    assert sum(clock_a.sleeps) >= 30
    assert sum(clock_b.sleeps) >= 29  # B waited out the pause A was told about


def test_it_is_thread_safe_in_memory():
    clock = FakeClock()
    limiter = RateLimiter(MemoryBackend(), key="k", per_minute=100, headroom=1.0, clock=clock)
    granted = []

    def take():
        for _ in range(25):
            if limiter.backend.acquire("k", now=clock.time(), capacity=100, refill_per_second=0.001) == 0:
                granted.append(1)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 100  # exactly the bucket, never more


def test_it_names_families_by_endpoint():
    assert endpoint_family(SEARCH) == SEARCH


def test_it_lowers_the_client_wide_rate_only_to_the_largest_allowance_seen():
    limiter = RateLimiter(MemoryBackend(), key="k", clock=FakeClock())
    limiter.on_headers(allowance(30), family=SEARCH)
    assert limiter.allowed_per_minute == 30  # the only allowance seen so far
    limiter.on_headers(allowance(200), family=URLS)
    assert limiter.allowed_per_minute == 200 and limiter.capacity == pytest.approx(180)
    assert limiter.family_allowed(SEARCH) == 30 and limiter.family_allowed(URLS) is None
    limiter.on_headers(allowance(900), family="users.list")
    assert limiter.allowed_per_minute == 300  # never above the configured rate


def test_it_never_slows_one_family_for_another_familys_small_allowance():
    clock = FakeClock()
    backend = CountingBackend()
    limiter = RateLimiter(backend, key="k", per_minute=300, headroom=1.0, clock=clock)
    limiter.on_headers(allowance(300), family=URLS)
    limiter.on_headers(allowance(10), family=SEARCH)
    backend.calls.clear()
    for _ in range(200):
        assert limiter.wait(URLS) == 0  # the client-wide bucket of 300 only
    assert all(key == "k" for _op, key in backend.calls)  # no family-bucket call for a family without one
    assert len(backend.calls) == 200

    for _ in range(10):
        assert limiter.wait(SEARCH) == 0
    assert limiter.wait(SEARCH) == pytest.approx(6.0)  # its own 10/min bucket: one token every 6 s
    assert ("acquire", "k|sta.transcripts.search") in backend.calls


def test_it_takes_a_family_token_and_a_client_wide_token():
    clock = FakeClock()
    limiter = RateLimiter(MemoryBackend(), key="k", per_minute=60, headroom=1.0, clock=clock)
    limiter.on_headers(allowance(60), family=URLS)
    limiter.on_headers(allowance(30), family=SEARCH)
    for _ in range(30):
        limiter.wait(SEARCH)
    for _ in range(30):
        assert limiter.wait(URLS) == 0  # the searches spent half the client-wide bucket
    assert limiter.wait(URLS) == pytest.approx(1.0)


def test_it_pauses_only_the_family_of_a_429_that_reports_a_smaller_allowance():
    clock = FakeClock(start=1000)
    backend = CountingBackend()
    limiter = RateLimiter(backend, key="k", clock=clock)
    limiter.on_headers(allowance(300), family=URLS)
    limiter.on_429(30, family=SEARCH, headers={"Retry-After": "30", **allowance(50, count=50)})
    assert ("pause", "k|sta.transcripts.search") in backend.calls and ("pause", "k") not in backend.calls
    assert limiter.wait(URLS) == 0
    assert limiter.wait(SEARCH) == pytest.approx(30)


@pytest.mark.parametrize("headers", [None, {}, {"Retry-After": "30"}, allowance(300)], ids=str)
def test_it_pauses_everyone_for_a_429_without_a_smaller_allowance(headers):
    clock = FakeClock(start=1000)
    limiter = RateLimiter(MemoryBackend(), key="k", clock=clock)
    limiter.on_headers(allowance(300), family=URLS)
    limiter.on_headers(allowance(50), family=SEARCH)  # search has its own bucket, but this 429 does not say so
    limiter.on_429(30, family=SEARCH, headers=headers)
    assert limiter.backend.paused_until("k") == pytest.approx(1030)
    assert limiter.wait(URLS) == pytest.approx(30)


def test_it_applies_a_near_limit_pause_to_the_reporting_family():
    clock = FakeClock(start=1000)
    limiter = RateLimiter(MemoryBackend(), key="k", clock=clock)
    limiter.on_headers(allowance(300), family=URLS)
    limiter.on_headers(allowance(40, count=39, reset=12), family=SEARCH)
    assert limiter.backend.paused_until("k|sta.transcripts.search") == pytest.approx(1012)
    assert limiter.wait(URLS) == 0
    assert limiter.wait(SEARCH) == pytest.approx(12)
    limiter.on_headers(allowance(300, count=299, reset=7), family=URLS)  # no lower allowance: everyone
    assert limiter.backend.paused_until("k") == pytest.approx(1019)


def test_it_raises_instead_of_sleeping_past_max_wait():
    clock = FakeClock(start=1000)
    limiter = RateLimiter(MemoryBackend(), key="k", clock=clock)
    limiter.on_429(3600)
    with pytest.raises(RateLimitedError) as caught:
        limiter.wait(URLS, max_wait=300)
    assert caught.value.retry_after == pytest.approx(3600)
    assert clock.sleeps == []
    assert limiter.wait(URLS, max_wait=4000) == pytest.approx(3600)  # within the limit: waits as before


@pytest.fixture
def redis_backend():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"local Redis at 127.0.0.1:6379 is unreachable ({exc}); the Redis backend test needs it")
    prefix = f"test:{uuid.uuid4().hex}:"
    yield client, RedisBackend(client, prefix=prefix), prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.mark.redis
def test_it_shares_a_bucket_and_pause_through_real_redis(redis_backend):
    client, backend, prefix = redis_backend
    clock_one, clock_two = FakeClock(start=2000), FakeClock(start=2000)
    one = RateLimiter(backend, key="genesys:c", per_minute=60, headroom=0.1, clock=clock_one)  # 6 burst, 0.1/s
    two = RateLimiter(
        RedisBackend(client, prefix=prefix), key="genesys:c", per_minute=60, headroom=0.1, clock=clock_two
    )
    for _ in range(3):
        assert one.wait() == 0
        assert two.wait() == 0
    assert two.wait() == pytest.approx(10.0)  # both processes drained the same 6-token bucket

    one.on_429(45)
    assert backend.paused_until("genesys:c") == pytest.approx(clock_one.time() + 45)
    waited = RateLimiter(backend, key="genesys:c", clock=FakeClock(start=clock_one.time())).wait()
    assert waited == pytest.approx(45)
    ttl = client.ttl(f"{prefix}genesys:c")
    assert 0 < ttl <= 3600


@pytest.mark.redis
def test_it_observes_headers_through_redis(redis_backend):
    _client, backend, _prefix = redis_backend
    clock = FakeClock(start=3000)
    limiter = RateLimiter(backend, key="genesys:h", clock=clock)
    limiter.on_headers({"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "298", "inin-ratelimit-reset": "20"})
    assert backend.paused_until("genesys:h") == pytest.approx(3020)


@pytest.mark.redis
def test_it_grants_exactly_the_capacity_under_concurrent_redis_callers(redis_backend):
    client, _backend, prefix = redis_backend
    granted = []

    def take():
        backend = RedisBackend(client, prefix=prefix)
        for _ in range(10):
            if backend.acquire("genesys:t", now=4000.0, capacity=20, refill_per_second=0.01) == 0:
                granted.append(1)

    threads = [threading.Thread(target=take) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 20


@pytest.mark.redis
def test_it_keeps_family_buckets_and_pauses_in_redis(redis_backend):
    client, backend, prefix = redis_backend
    clock = FakeClock(start=6000)
    limiter = RateLimiter(backend, key="genesys:f", per_minute=300, headroom=1.0, clock=clock)
    limiter.on_headers(allowance(300), family=URLS)
    limiter.on_headers(allowance(6), family=SEARCH)
    other = RateLimiter(RedisBackend(client, prefix=prefix), key="genesys:f", headroom=1.0, clock=clock)
    other.on_headers(allowance(300), family=URLS)
    other.on_headers(allowance(6), family=SEARCH)
    for _ in range(3):
        assert limiter.wait(SEARCH) == 0
        assert other.wait(SEARCH) == 0
    assert other.wait(SEARCH) == pytest.approx(10.0)  # both processes drained one 6-token family bucket
    assert client.exists(f"{prefix}genesys:f|sta.transcripts.search")

    limiter.on_429(45, family=SEARCH, headers=allowance(6, count=6))
    assert backend.paused_until("genesys:f|sta.transcripts.search") == pytest.approx(clock.time() + 45)
    assert backend.paused_until("genesys:f") == 0
    assert other.wait(URLS) == 0
