"""Sign-ins, failed sign-ins, lockouts and sign-outs are audit events (ASVS 16.3.1, 16.3.2), with the attempted
username but never the password; a flood of attempts at a locked account folds into one row."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "the right password"
Action = AuditEvent.Action


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password=PASSWORD)


def log_in(client, username, password, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_it_audits_a_sign_in_and_a_sign_out(client, alice):
    log_in(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.4")
    client.post("/logout/", REMOTE_ADDR="198.51.100.4")
    login = AuditEvent.objects.get(action=Action.LOGIN)
    logout = AuditEvent.objects.get(action=Action.LOGOUT)
    assert (login.user, login.ip, login.object_id) == (alice, "198.51.100.4", str(alice.pk))
    assert login.detail == {"factor": "password", "second_factor": "not required"}
    assert (logout.user, logout.ip) == (alice, "198.51.100.4")


def test_it_audits_a_failed_sign_in_with_the_username_and_never_the_password(client, alice):
    log_in(client, "alice", "correct horse wrong battery", REMOTE_ADDR="198.51.100.5")
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.user is None and event.ip == "198.51.100.5"
    assert event.object_id == "alice" and event.detail["username"] == "alice"
    assert event.detail["factor"] == "password" and event.detail["path"] == "/login/"
    stored = json.dumps([event.detail, event.object_id, event.username])
    assert "correct horse" not in stored and "*****" not in stored


def test_it_audits_a_failed_sign_in_for_an_unknown_username_the_same_way(client):
    log_in(client, "mallory", "guess")
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.object_id == "mallory" and event.detail["username"] == "mallory"


def test_it_audits_the_lockout_once_and_folds_the_attempts_made_during_it(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "alice", "wrong")
    for _ in range(20):
        log_in(client, "alice", PASSWORD)
    (lockout,) = AuditEvent.objects.filter(action=Action.LOCKED_OUT)
    assert lockout.object_id == "alice" and lockout.detail["failure_limit"] == settings.AXES_FAILURE_LIMIT
    assert lockout.detail["lockout_minutes"] == 15
    failures = AuditEvent.objects.filter(action=Action.LOGIN_FAILED)
    counted = failures.filter(detail__locked_out=False)
    refused = failures.filter(detail__locked_out=True)
    assert counted.count() == settings.AXES_FAILURE_LIMIT - 1  # the last counted one is the lockout's
    assert refused.count() <= 2 and sum(refused.values_list("count", flat=True)) == 20 + 1
    assert not AuditEvent.objects.filter(action=Action.LOGIN).exists()
