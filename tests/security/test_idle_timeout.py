"""A session left unused for SESSION_IDLE_TIMEOUT_SECONDS is signed out, audited (issue 11 §2, ASVS 7.3.1)."""

from __future__ import annotations

import pytest
from django.test import Client

from genesys.clock import FakeClock
from reviews import middleware
from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db

IDLE = 30 * 60


@pytest.fixture
def clock(monkeypatch, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = IDLE
    settings.SESSION_COOKIE_AGE = 8 * 3600
    fake = FakeClock()
    monkeypatch.setattr(middleware, "CLOCK", fake)
    return fake


@pytest.fixture
def signed_in(make_user, clock):
    user = make_user(groups=["Reviewer"], queues=["queue-mine"])
    client = Client()
    client.force_login(user)
    assert client.get("/search/").status_code == 200  # the first request starts the idle clock
    return user, client


def _idle_logouts():
    return AuditEvent.objects.filter(action=AuditEvent.Action.LOGOUT, detail__reason="idle")


def test_it_signs_out_a_session_left_idle_and_sends_the_user_to_login(signed_in, clock):
    user, client = signed_in
    clock.advance(IDLE + 1)

    response = client.get("/search/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/search/")
    [event] = _idle_logouts()
    assert event.user == user and event.detail["idle_seconds"] == IDLE + 1
    assert "_auth_user_id" not in client.session  # the session is gone, not only this response
    assert client.get("/search/").status_code == 302


def test_it_keeps_an_active_session_until_the_absolute_lifetime(signed_in, clock):
    _user, client = signed_in
    for _ in range(int(6 * 3600 / (IDLE - 120))):  # six hours of a request every 28 minutes
        clock.advance(IDLE - 120)
        assert client.get("/search/").status_code == 200

    assert not _idle_logouts().exists()


def test_it_does_not_count_background_refreshes_as_activity(signed_in, clock):
    _user, client = signed_in
    for _ in range(7):  # a page polling every five minutes by itself
        clock.advance(5 * 60)
        client.get("/search/", headers={"X-Vault-Background": "1"})

    assert client.get("/search/").status_code == 302
    assert _idle_logouts().count() == 1


def test_it_sends_an_htmx_request_to_login_as_a_whole_page(signed_in, clock):
    _user, client = signed_in
    clock.advance(IDLE + 1)

    response = client.get(
        "/conversations/x/?chunk=1",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/conversations/x/?t=5"},
    )

    assert response["HX-Redirect"] == "/login/?next=%2Fconversations%2Fx%2F"
    assert _idle_logouts().count() == 1
