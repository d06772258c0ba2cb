"""Everyone changes their own password (ASVS 6.2.2, 6.2.3); the change is audited and ends what the old password
opened: the user's other sessions and API tokens (ASVS 7.4.3). A deactivation revokes the tokens too."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.test import Client

from reviews.models import ApiToken, AuditEvent
from tests.fixtures.accounts import sign_in

pytestmark = pytest.mark.django_db

OLD, NEW = "old password 1", "a much better passphrase 2"
Action = AuditEvent.Action


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password=OLD)


def change(client: Client, old: str = OLD, new: str = NEW, **extra):
    return client.post("/account/password/", {"old_password": old, "new_password1": new, "new_password2": new}, **extra)


def search_with(key: str) -> object:
    return Client().post(
        "/api/transcripts/search", {"query": "x"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def test_it_links_the_password_page_from_the_top_bar(alice):
    page = sign_in(alice).get("/search/").content.decode()
    assert 'href="/account/password/"' in page


def test_it_changes_the_password_with_the_old_one_and_audits_it(client, alice):
    client.post("/login/", {"username": "alice", "password": OLD})
    answer = change(client, REMOTE_ADDR="198.51.100.3")
    assert answer.status_code == 302 and answer["Location"] == "/account/password/done/"
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    event = AuditEvent.objects.get(action=Action.PASSWORD_CHANGE)
    assert (event.user, event.ip, event.object_id) == (alice, "198.51.100.3", str(alice.pk))
    assert client.get("/search/").status_code == 200  # this session stays signed in


def test_it_refuses_without_the_old_password(alice):
    client = sign_in(alice)
    answer = change(client, old="not the old one")
    assert answer.status_code == 200 and b"incorrectly" in answer.content
    alice.refresh_from_db()
    assert alice.check_password(OLD) and not AuditEvent.objects.filter(action=Action.PASSWORD_CHANGE).exists()


def test_it_refuses_a_weak_new_password(alice):
    answer = change(sign_in(alice), new="password")
    assert answer.status_code == 200 and b"too common" in answer.content


def test_it_signs_out_the_other_sessions(alice):
    here, elsewhere = sign_in(alice), sign_in(alice)
    assert elsewhere.get("/search/").status_code == 200
    change(here)
    assert elsewhere.get("/search/")["Location"].startswith("/login/")


def test_it_revokes_the_users_api_tokens(alice):
    bob = User.objects.create_user("bob")
    _token, key = ApiToken.issue(user=alice, name="crm")
    _other, other_key = ApiToken.issue(user=bob, name="bob's")
    assert search_with(key).status_code == 200
    change(sign_in(alice))
    refused = search_with(key)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    assert "password changed" in refused.json()["error"]
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(key))
    assert token.revoked_at is not None and token.revoked_reason == "password changed"
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    assert event.user == alice and event.object_id == str(token.pk) and event.detail["reason"] == "password changed"
    assert search_with(other_key).status_code == 200  # someone else's token is untouched


def test_it_revokes_the_tokens_of_a_deactivated_user(alice):
    token, _key = ApiToken.issue(user=alice)
    alice.is_active = False
    alice.save()
    token.refresh_from_db()
    assert token.revoked_reason == "user deactivated"
    assert AuditEvent.objects.get(action=Action.TOKEN_REVOKED).detail["via"] == "command line"


def test_it_ends_the_sessions_of_a_deactivated_user(alice):
    session = sign_in(alice)
    assert session.get("/search/").status_code == 200
    alice.is_active = False
    alice.save()
    assert session.get("/search/")["Location"].startswith("/login/")


def test_it_does_not_take_a_hash_upgrade_at_sign_in_for_a_change(client, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    user = User.objects.create(username="dora", password=make_password(OLD, hasher="md5"))
    token, _key = ApiToken.issue(user=user)
    client.post("/login/", {"username": "dora", "password": OLD})
    user.refresh_from_db()
    assert user.password.startswith("scrypt$")  # Django upgraded the stored hash
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not AuditEvent.objects.filter(action=Action.PASSWORD_CHANGE).exists()


def test_it_audits_a_password_set_from_the_command_line(alice):
    alice.set_password(NEW)
    alice.save()
    event = AuditEvent.objects.get(action=Action.PASSWORD_CHANGE)
    assert event.user is None and event.detail["via"] == "command line" and event.detail["target"] == "alice"
