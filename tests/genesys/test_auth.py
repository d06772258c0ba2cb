from __future__ import annotations

import base64
import threading
from urllib.parse import parse_qs

import pytest
import requests
import responses

from genesys.auth import MemoryTokenCache, TokenProvider, token_cache_key
from genesys.errors import AuthenticationError, RateLimitedError, TransportError


def token_provider(gx, clock, **kwargs) -> TokenProvider:
    return TokenProvider(
        login_url=gx.LOGIN, client_id=gx.CLIENT_ID, client_secret=gx.CLIENT_SECRET, clock=clock, **kwargs
    )


def test_it_posts_the_client_credentials_grant_with_basic_auth(mocked, gx, clock):
    gx.add_token(mocked)
    assert token_provider(gx, clock).token() == "tok-1"
    sent = mocked.calls[0].request
    expected = base64.b64encode(f"{gx.CLIENT_ID}:{gx.CLIENT_SECRET}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
    assert parse_qs(sent.body) == {"grant_type": ["client_credentials"]}
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_it_caches_the_token_until_shortly_before_expiry(mocked, gx, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "first", "expires_in": 3600})
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "second", "expires_in": 3600})
    provider = token_provider(gx, clock)
    assert provider.token() == "first"
    clock.advance(3600 - 61)
    assert provider.token() == "first"
    clock.advance(2)  # inside the 60 s refresh margin
    assert provider.token() == "second"
    assert len(mocked.calls) == 2


def test_it_refreshes_short_lived_tokens_ten_percent_early(mocked, gx, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "a", "expires_in": 300})
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "b", "expires_in": 300})
    provider = token_provider(gx, clock)
    provider.token()
    clock.advance(269)
    assert provider.token() == "a"
    clock.advance(2)
    assert provider.token() == "b"


def test_it_runs_a_single_refresh_for_concurrent_callers(gx, clock):
    calls = []
    refreshing, release = threading.Event(), threading.Event()

    def slow_token(request):
        calls.append(1)
        refreshing.set()
        release.wait(5)  # hold the refresh open so every thread piles up behind it
        return 200, {}, '{"access_token": "shared", "expires_in": 3600}'

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, gx.TOKEN_URL, callback=slow_token)
        provider = token_provider(gx, clock)
        results: list[str] = []
        threads = [threading.Thread(target=lambda: results.append(provider.token())) for _ in range(8)]
        for thread in threads:
            thread.start()
        refreshing.wait(5)
        release.set()
        for thread in threads:
            thread.join(5)
    assert results == ["shared"] * 8
    assert len(calls) == 1


def test_it_invalidates_only_the_token_that_failed(mocked, gx, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "old", "expires_in": 3600})
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "new", "expires_in": 3600})
    provider = token_provider(gx, clock)
    old = provider.token()
    provider.invalidate(old)
    assert provider.token() == "new"
    provider.invalidate(old)  # a second 401 on the old token must not force another refresh
    assert provider.token() == "new"
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("status", [400, 401])
def test_it_explains_invalid_client_without_the_secret(mocked, gx, clock, status):
    mocked.add(
        responses.POST,
        gx.TOKEN_URL,
        status=status,
        json={
            "error": "invalid_client",
            "description": "authentication failed",
            "error_description": "authentication failed",
        },
    )
    with pytest.raises(AuthenticationError) as caught:
        token_provider(gx, clock).token()
    message = str(caught.value)
    assert "invalid_client" in message
    assert "GENESYS_CLIENT_ID" in message and "GENESYS_REGION" in message
    assert gx.CLIENT_SECRET not in message
    assert gx.CLIENT_SECRET not in repr(token_provider(gx, clock))
    assert caught.value.status == status


def test_it_names_the_login_url_when_it_is_unreachable(mocked, gx, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(TransportError, match="GENESYS_LOGIN_URL"):
        token_provider(gx, clock).token()


def test_it_rejects_a_login_answer_without_an_access_token(mocked, gx, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, body="<html>portal</html>", status=200)
    with pytest.raises(AuthenticationError, match="GENESYS_REGION"):
        token_provider(gx, clock).token()


def test_it_sets_a_timeout_on_the_token_request(gx, clock):
    seen = {}

    class Session(requests.Session):
        def request(self, *args, **kwargs):
            seen["timeout"] = kwargs.get("timeout")
            raise requests.ConnectTimeout("slow")

    with pytest.raises(TransportError):
        token_provider(gx, clock, session=Session(), timeout=(5.0, 30.0)).token()
    assert seen["timeout"] == (5.0, 30.0)


def test_it_shares_one_token_between_processes_through_the_cache(mocked, gx, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "shared", "expires_in": 3600})
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "fresh", "expires_in": 3600})
    cache = MemoryTokenCache()
    first = token_provider(gx, clock, cache=cache)  # two "processes": separate providers, one cache
    second = token_provider(gx, clock, cache=cache)
    assert first.token() == "shared" and second.token() == "shared"
    assert len(mocked.calls) == 1
    key = token_cache_key(gx.LOGIN, gx.CLIENT_ID, gx.CLIENT_SECRET)
    assert first.cache_key == key and cache.get(key) == ("shared", pytest.approx(clock.time() + 3600 - 60))

    first.invalidate("shared")  # a 401 in one process
    second.invalidate("shared")  # the same 401 in the other: nothing left to forget
    assert first.token() == "fresh" and second.token() == "fresh"
    assert len(mocked.calls) == 2  # refreshed once, not once per process


def test_it_refreshes_from_the_cache_when_the_cached_token_is_due(mocked, gx, clock):
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "a", "expires_in": 3600})
    mocked.add(responses.POST, gx.TOKEN_URL, json={"access_token": "b", "expires_in": 3600})
    cache = MemoryTokenCache()
    first, second = token_provider(gx, clock, cache=cache), token_provider(gx, clock, cache=cache)
    assert first.token() == "a"
    clock.advance(3600)
    assert second.token() == "b"  # the cached one is past its refresh time
    assert first.token() == "b"  # and the other process picks up the replacement
    assert len(mocked.calls) == 2


def test_it_discards_only_the_token_that_is_still_cached():
    cache = MemoryTokenCache()
    cache.set("k", "new", 100.0)
    cache.discard("k", "old")
    assert cache.get("k") == ("new", 100.0)
    cache.discard("k", "new")
    assert cache.get("k") is None


def test_it_logs_in_once_for_concurrent_processes_sharing_the_cache(gx, clock):
    calls = []
    release = threading.Event()

    def slow_token(request):
        calls.append(1)
        release.wait(5)
        return 200, {}, '{"access_token": "one", "expires_in": 3600}'

    cache = MemoryTokenCache()
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, gx.TOKEN_URL, callback=slow_token)
        providers = [token_provider(gx, clock, cache=cache) for _ in range(4)]
        results: list[str] = []
        threads = [threading.Thread(target=lambda p=p: results.append(p.token())) for p in providers]
        for thread in threads:
            thread.start()
        release.set()
        for thread in threads:
            thread.join(5)
    assert results == ["one"] * 4 and len(calls) == 1


def test_it_keys_the_cache_by_credentials_without_the_secret(gx):
    key = token_cache_key(gx.LOGIN, gx.CLIENT_ID, gx.CLIENT_SECRET)
    assert key.startswith("genesys-token:") and len(key) == len("genesys-token:") + 32
    assert gx.CLIENT_SECRET not in key and gx.CLIENT_ID not in key
    assert token_cache_key(gx.LOGIN, gx.CLIENT_ID, "rotated-secret") != key
    assert token_cache_key("https://login.mypurecloud.ie", gx.CLIENT_ID, gx.CLIENT_SECRET) != key
    assert token_cache_key(gx.LOGIN, gx.CLIENT_ID, gx.CLIENT_SECRET) == key


@pytest.mark.parametrize(("headers", "retry_after"), [({"Retry-After": "17"}, 17.0), ({}, 3.0)])
def test_it_reports_a_login_429_as_a_rate_limit(mocked, gx, clock, headers, retry_after):
    mocked.add(
        responses.POST,
        gx.TOKEN_URL,
        status=429,
        headers=headers,
        json={"message": "Rate limit exceeded", "code": "too.many.requests.retry.after", "status": 429},
    )
    with pytest.raises(RateLimitedError) as caught:
        token_provider(gx, clock).token()
    assert not isinstance(caught.value, AuthenticationError)
    assert caught.value.retry_after == retry_after and caught.value.status == 429
    assert gx.CLIENT_SECRET not in str(caught.value)


def test_it_takes_the_cross_process_lock_only_to_log_in(mocked, gx, clock):
    class CountingCache(MemoryTokenCache):
        locks = 0

        def lock(self, key):
            CountingCache.locks += 1
            return super().lock(key)

    gx.add_token(mocked)
    cache = CountingCache()
    token_provider(gx, clock, cache=cache).token()
    assert CountingCache.locks == 1
    token_provider(gx, clock, cache=cache).token()  # a cache hit: no lock (it may be a database round trip)
    assert CountingCache.locks == 1
