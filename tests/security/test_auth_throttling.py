"""Attack: guess passwords at /login/ (and /admin/login/). Refusal: after LOGIN_FAILURE_LIMIT failures the
username, and the client address, are locked out for the cool-off, whatever the password (ASVS 6.3.1)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.test import Client

from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "the right password"


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password=PASSWORD)


def attempt(client: Client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def fail(client: Client, username: str, times: int, **extra):
    return [attempt(client, username, f"wrong-{n}", **extra) for n in range(times)]


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_it_locks_the_account_at_the_limit_and_refuses_even_the_right_password(client, alice, settings):
    answers = fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    assert [a.status_code for a in answers[:-1]] == [200] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again
    assert answers[-1].status_code == 429
    right = attempt(client, "alice", PASSWORD)
    assert right.status_code == 429 and not signed_in(client)
    assert b"Too many failed sign-ins" in right.content


def test_it_says_when_to_try_again(client, alice, settings):
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    last = AccessAttempt.objects.get(username="alice").attempt_time
    answer = attempt(client, "alice", PASSWORD)
    retry_at = last + settings.AXES_COOLOFF_TIME
    assert abs(int(answer["Retry-After"]) - settings.AXES_COOLOFF_TIME.total_seconds()) <= 5
    assert retry_at.strftime("%H:%M").encode() in answer.content
    assert retry_at.isoformat(timespec="seconds").encode()[:16] in answer.content  # <time datetime=...>


def test_it_locks_the_username_whatever_address_the_guesses_come_from(client, alice, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "alice", "wrong", REMOTE_ADDR=f"198.51.100.{n + 1}")
    assert attempt(Client(), "alice", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429


def test_it_locks_an_address_spraying_one_password_over_many_accounts(client, alice, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"user{n}", "Spring2025!", REMOTE_ADDR="198.51.100.7")
    answer = attempt(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert answer.status_code == 429 and not signed_in(client)
    elsewhere = Client()  # alice's own count is untouched: from another address she signs in
    assert attempt(elsewhere, "alice", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 302


def test_it_answers_unknown_usernames_exactly_like_real_ones(settings, alice):
    known, unknown = Client(), Client()
    known_answers = fail(known, "alice", settings.AXES_FAILURE_LIMIT, REMOTE_ADDR="198.51.100.1")
    unknown_answers = fail(unknown, "nobody", settings.AXES_FAILURE_LIMIT, REMOTE_ADDR="198.51.100.2")
    assert [a.status_code for a in known_answers] == [a.status_code for a in unknown_answers]


def test_it_lets_the_owner_in_once_the_cool_off_has_passed(client, alice, settings):
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    assert attempt(client, "alice", PASSWORD).status_code == 429
    # The cool-off passes: the attempts are dated back rather than waited for.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME)
    assert attempt(client, "alice", PASSWORD).status_code == 302 and signed_in(client)


def test_it_does_not_extend_the_lockout_while_the_account_is_hammered(client, alice, settings):
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    locked_at = AccessAttempt.objects.get().attempt_time
    fail(client, "alice", 3)
    assert AccessAttempt.objects.get().attempt_time == locked_at
    assert AccessAttempt.objects.get().failures_since_start == settings.AXES_FAILURE_LIMIT


def test_it_starts_counting_again_after_a_complete_sign_in(client, alice, settings):
    fail(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert attempt(client, "alice", PASSWORD).status_code == 302
    client.post("/logout/")
    assert fail(client, "alice", settings.AXES_FAILURE_LIMIT - 1)[-1].status_code == 200  # not locked


def test_it_keeps_counting_until_the_second_factor_too_verified(client, settings):
    officer = User.objects.create_user("carol", password=PASSWORD)
    officer.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    fail(client, "carol", settings.AXES_FAILURE_LIMIT - 1)
    assert attempt(client, "carol", PASSWORD).status_code == 302  # password right, TOTP still to come
    client.post("/logout/")
    # Knowing the password does not buy fresh guesses at the code: one more failure locks the account.
    assert fail(client, "carol", 1)[-1].status_code == 429


def test_it_counts_the_proxy_reported_address_only_behind_a_declared_proxy(client, alice, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The client forges the left part of X-Forwarded-For; our proxy appends the real address.
        attempt(client, f"user{n}", "wrong", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.7")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    event = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_FAILED).first()
    assert event.ip == "198.51.100.7"  # the same address as the audit log
    answer = attempt(client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.7")
    assert answer.status_code == 429


def test_it_never_keeps_the_password_in_the_attempt_records(client, alice):
    attempt(client, "alice", "hunter2-not-it")
    record = AccessAttempt.objects.get()
    assert "hunter2-not-it" not in record.post_data and "hunter2-not-it" not in record.get_data


def test_it_has_one_sign_in_form_so_the_admin_login_cannot_be_guessed_at(client, alice, settings):
    alice.is_staff = True
    alice.save()
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 302 and page["Location"].startswith("/login/?next=/admin/")
    posted = client.post("/admin/login/", {"username": "alice", "password": PASSWORD, "next": "/admin/"})
    assert posted.status_code == 302 and posted["Location"].startswith("/login/") and not signed_in(client)
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    assert client.post("/login/?next=/admin/", {"username": "alice", "password": PASSWORD}).status_code == 429
