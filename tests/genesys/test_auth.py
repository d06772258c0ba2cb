from __future__ import annotations

import base64
import threading
from urllib.parse import parse_qs

import pytest
import requests
import responses

from genesys.auth import TokenProvider
from genesys.errors import AuthenticationError, TransportError


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
