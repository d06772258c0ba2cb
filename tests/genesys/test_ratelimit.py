from __future__ import annotations

import threading
import uuid

import pytest
import responses

from genesys.clock import FakeClock
from genesys.ratelimit import MemoryBackend, RateLimiter, RedisBackend


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
    limiter.on_headers({"inin-ratelimit-allowed": "600"})  # never raised above what is configured
    assert limiter.capacity == pytest.approx(162)


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
