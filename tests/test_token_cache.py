from __future__ import annotations

import threading

import pytest
import redis

from genesys.auth import TokenProvider, token_cache_key
from genesys.clock import FakeClock
from reviews.encryption import generate_key_text, keyring
from reviews.models import OAuthToken
from reviews.token_cache import LOCK_SECONDS, DatabaseTokenCache, RedisTokenCache

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = token_cache_key("https://login.cache.test", "id", "secret")  # the providers' cache key


def provider(responses_mock, cache, clock) -> TokenProvider:
    return TokenProvider(
        login_url="https://login.cache.test", client_id="id", client_secret="secret", cache=cache, clock=clock
    )


def token_endpoint(mocked, *tokens: str) -> None:
    for token in tokens:
        mocked.post("https://login.cache.test/oauth/token", json={"access_token": token, "expires_in": 86400})


@pytest.fixture
def mocked():
    import responses

    with responses.RequestsMock() as mock:
        yield mock


def redis_or_skip():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis server at {REDIS_URL}")
    return client


@pytest.mark.django_db(transaction=True)
def test_it_shares_one_token_between_worker_processes_through_the_database(mocked):
    clock = FakeClock(1_800_000_000.0)
    token_endpoint(mocked, "token-1")
    first, second = (provider(mocked, DatabaseTokenCache(), clock) for _ in range(2))  # two "processes"

    assert first.token() == "token-1"
    assert second.token() == "token-1"

    assert len(mocked.calls) == 1
    stored = OAuthToken.objects.get().token
    assert stored.startswith(f"tv1:{keyring().active.key_id}:") and "token-1" not in stored  # sealed at rest


@pytest.mark.django_db(transaction=True)
def test_it_treats_a_token_it_cannot_open_as_a_miss(settings):
    cache = DatabaseTokenCache()
    cache.set("k", "token-1", 1e12)
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()  # the sealing key is gone

    assert cache.get("k") is None


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_sealed_token_moved_to_another_cache_key():
    cache = DatabaseTokenCache()
    cache.set("k", "token-1", 1e12)
    cache.set("other", "token-2", 1e12)
    OAuthToken.objects.filter(key="other").update(token=OAuthToken.objects.get(key="k").token)

    assert cache.get("other") is None


@pytest.mark.django_db(transaction=True)
def test_it_discards_a_rejected_token_for_every_process(mocked):
    clock = FakeClock(1_800_000_000.0)
    token_endpoint(mocked, "token-1", "token-2")
    first, second = (provider(mocked, DatabaseTokenCache(), clock) for _ in range(2))
    first.token()

    first.invalidate("token-1")  # Genesys answered 401

    assert second.token() == "token-2"
    assert len(mocked.calls) == 2


@pytest.mark.django_db(transaction=True)
def test_it_never_discards_a_token_someone_already_replaced():
    cache = DatabaseTokenCache()
    cache.set("k", "new-token", 1e12)

    cache.discard("k", "old-token")

    assert cache.get("k") == ("new-token", 1e12)


@pytest.mark.django_db(transaction=True)
def test_it_lets_one_process_fetch_while_the_others_wait_for_its_token():
    waits: list[float] = []
    holder, waiter = DatabaseTokenCache(), DatabaseTokenCache(sleep=waits.append)
    with holder.lock("k"):
        holder.set("k", "fetched-by-holder", 1e12)
        with waiter.lock("k"):  # returns as soon as the holder's token is there, without taking the lock
            pass
    assert waits == []
    assert waiter.get("k") == ("fetched-by-holder", 1e12)


@pytest.mark.django_db(transaction=True)
def test_it_takes_over_a_lock_left_by_a_process_that_died():
    now = [1_800_000_000.0]
    dead = DatabaseTokenCache(now=lambda: now[0])
    dead.lock("k").__enter__()  # never released: the process was killed mid-request
    now[0] += LOCK_SECONDS + 1
    survivor = DatabaseTokenCache(now=lambda: now[0], sleep=lambda s: pytest.fail("must not wait"))

    with survivor.lock("k"):
        assert OAuthToken.objects.get(key="k").locked_until == now[0] + LOCK_SECONDS


@pytest.mark.redis
def test_it_shares_one_token_between_processes_through_redis(mocked):
    client = redis_or_skip()
    prefix = f"tv-test-{threading.get_ident()}:"
    clock = FakeClock(1_800_000_000.0)
    token_endpoint(mocked, "token-r")
    try:
        first, second = (
            provider(mocked, RedisTokenCache(client, prefix=prefix, now=clock.time), clock) for _ in range(2)
        )
        assert first.token() == second.token() == "token-r"
        assert len(mocked.calls) == 1

        stored = client.hget(f"{prefix}{first.cache_key}", "token")
        assert stored.startswith(b"tv1:") and b"token-r" not in stored  # sealed in Redis too

        first.invalidate("token-r")
        assert RedisTokenCache(client, prefix=prefix).get(first.cache_key) is None
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


@pytest.mark.django_db(transaction=True)
def test_it_waits_for_the_process_replacing_an_expired_token_instead_of_fetching_its_own(mocked):
    # At each expiry every busy process misses at once; the expired token stays in the row until the lock
    # holder stores the new one. Taking that stale row for "the holder is done" made each waiter log in too.
    clock = FakeClock(1_800_000_000.0)
    holder = DatabaseTokenCache(now=clock.time)
    holder.set(KEY, "expired", clock.time() - 1)
    fetching = holder.lock(KEY)  # kept referenced: a collected generator would release the lock
    fetching.__enter__()  # another process is fetching the replacement
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        holder.set(KEY, "fetched-by-holder", clock.time() + 3600)  # the holder's request comes back

    mocked.assert_all_requests_are_fired = False
    token_endpoint(mocked, "fetched-by-waiter")
    waiter = provider(mocked, DatabaseTokenCache(now=clock.time, sleep=sleep), clock)

    assert waiter.token() == "fetched-by-holder"
    assert len(mocked.calls) == 0
    assert waits
    fetching.__exit__(None, None, None)


@pytest.mark.redis
def test_a_redis_waiter_does_not_stop_waiting_on_an_expired_token():
    client = redis_or_skip()
    prefix = f"tv-test-stale-{threading.get_ident()}:"
    clock = FakeClock(1_800_000_000.0)
    try:
        holder = RedisTokenCache(client, prefix=prefix, now=clock.time)
        holder.set("k", "expired", clock.time() - 0.5)  # still in Redis (TTL at least 1 s) but past refresh_at
        fetching = holder.lock("k")  # kept referenced: a collected generator would release the lock
        fetching.__enter__()
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            holder.set("k", "fetched-by-holder", clock.time() + 3600)

        waiter = RedisTokenCache(client, prefix=prefix, now=clock.time, sleep=sleep)
        with waiter.lock("k"):
            pass
        assert waits
        assert waiter.get("k") == ("fetched-by-holder", clock.time() + 3600)
        fetching.__exit__(None, None, None)
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
