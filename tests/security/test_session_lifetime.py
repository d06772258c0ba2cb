"""Sessions have an absolute lifetime (ASVS 7.3.2): SESSION_COOKIE_AGE counted from sign-in, not from the last
time the session was written. (The idle timeout is tests/security/test_idle_timeout.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_it_ends_the_session_a_fixed_time_after_sign_in_however_busy_it_is(client, monkeypatch, settings):
    User.objects.create_user("alice", password="pw")
    signed_in_at = timezone.now()
    client.post("/login/", {"username": "alice", "password": "pw"})
    session = Session.objects.get()
    assert abs(session.expire_date - (signed_in_at + timedelta(seconds=settings.SESSION_COOKIE_AGE))) < timedelta(
        seconds=5
    )
    expires = session.expire_date
    # An hour later the session is written again (a message, a verified second factor, the idle clock...).
    later = signed_in_at + timedelta(hours=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    store = client.session
    store["touched"] = True
    store.save()
    assert Session.objects.get().expire_date == expires  # not pushed back by the write
