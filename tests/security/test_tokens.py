"""API tokens (ASVS 6.4 / 7 for tokens, 8.3.1): they expire, carry a scope (read / process), are refused once
revoked, never change owner, and issuing one is audited. A refused token gets a clear JSON 401/403."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from reviews.models import AccessScope, ApiToken, AuditEvent
from tests.fixtures.accounts import sign_in

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


@pytest.fixture
def reviewer(db):
    user = User.objects.create_user("integration")
    user.groups.add(Group.objects.get_or_create(name="Reviewer")[0])
    AccessScope.objects.create(user=user)
    return user


@pytest.fixture
def enqueue(monkeypatch):
    import reviews.pipeline

    calls = []
    monkeypatch.setattr(reviews.pipeline, "enqueue_conversation", lambda genesys_id: calls.append(genesys_id) or "j")
    return calls


def search(client, key):
    return client.post(
        "/api/transcripts/search", {"query": "x"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def process(client, key, conversation_id="c0ffee00-0000-4000-8000-000000000001"):
    return client.post(
        "/api/transcripts/process",
        {"conversationId": conversation_id},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def denials(**filters):
    return AuditEvent.objects.filter(action=Action.ACCESS_DENIED, object_type="api_token", **filters)


def test_it_gives_a_new_token_the_default_lifetime(reviewer, settings):
    settings.API_TOKEN_LIFETIME_DAYS = 30
    token, _key = ApiToken.issue(user=reviewer)
    assert token.expires_at - token.created_at == timedelta(days=30)


def test_it_refuses_an_expired_token_with_a_clear_message(client, reviewer):
    token, key = ApiToken.issue(user=reviewer)
    assert search(client, key).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = search(client, key)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused["WWW-Authenticate"]
    assert "expired on" in refused.json()["error"]
    event = denials().get()
    assert event.object_id == str(token.pk) and event.detail["reason"] == "expired API token"
    assert event.user is None and event.detail["owner"] == "integration"


def test_it_expires_a_token_issued_before_expiry_existed_by_its_age(client, reviewer, settings):
    token, key = ApiToken.issue(user=reviewer)
    old = timezone.now() - timedelta(days=settings.API_TOKEN_LIFETIME_DAYS + 1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=None, created_at=old)
    assert search(client, key).status_code == 401


def test_it_refuses_a_revoked_token(client, reviewer):
    token, key = ApiToken.issue(user=reviewer)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now(), revoked_reason="leaked in a ticket")
    refused = search(client, key)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    assert "leaked in a ticket" in refused.json()["error"]
    assert denials().get().detail["reason"] == "revoked API token"


def test_it_folds_a_flood_of_a_refused_token_into_one_row(client, reviewer):
    token, key = ApiToken.issue(user=reviewer)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    for _ in range(30):
        search(client, key)
    (row,) = denials()
    assert row.count == 30


def test_it_keeps_a_read_token_from_queueing_work(client, reviewer, enqueue):
    _token, key = ApiToken.issue(user=reviewer, scope=ApiToken.Scope.READ)
    refused = process(client, key)
    assert refused.status_code == 403 and enqueue == []
    assert "scope 'read'" in refused.json()["error"] and "'process'" in refused.json()["error"]
    assert 'error="insufficient_scope"' in refused["WWW-Authenticate"]
    event = denials().get()
    assert event.user == reviewer and "does not grant 'process'" in event.detail["reason"]


def test_it_lets_a_process_token_read_and_queue(client, make_conversation, make_user, enqueue):
    user = make_user(groups=["Reviewer"], queues=["queue-a"])
    conversation = make_conversation("hello")
    _token, key = ApiToken.issue(user=user, scope=ApiToken.Scope.PROCESS)
    assert search(client, key).status_code == 200
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert client.get(f"/api/transcripts/{conversation.genesys_id}", **headers).status_code == 200
    assert process(client, key, conversation.genesys_id).status_code == 202 and enqueue == [conversation.genesys_id]


def test_it_never_moves_a_token_to_another_user(reviewer):
    token, _key = ApiToken.issue(user=reviewer)
    token.user = User.objects.create_user("someone-else")
    with pytest.raises(ValueError, match="cannot be moved to another user"):
        token.save()
    token.refresh_from_db()
    assert token.user == reviewer


def test_it_keeps_the_owner_scope_and_expiry_read_only_in_the_admin(reviewer):
    root = User.objects.create_user("root", is_staff=True, is_superuser=True)
    other = User.objects.create_user("other")
    token, _key = ApiToken.issue(user=reviewer)
    client = sign_in(root)
    answer = client.post(
        f"/admin/reviews/apitoken/{token.pk}/change/",
        {
            "name": "renamed",
            "user": other.pk,
            "scope": "process",
            "expires_at_0": "2099-01-01",
            "expires_at_1": "00:00",
        },
    )
    assert answer.status_code == 302
    token.refresh_from_db()
    assert (token.name, token.user, token.scope) == ("renamed", reviewer, "read")
    assert token.expires_at.year != 2099
    assert client.get("/admin/reviews/apitoken/add/").status_code == 403


def test_it_revokes_tokens_from_the_admin(client, reviewer):
    root = User.objects.create_user("root", is_staff=True, is_superuser=True)
    token, key = ApiToken.issue(user=reviewer)
    sign_in(root).post("/admin/reviews/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None and "root" in token.revoked_reason
    assert AuditEvent.objects.get(action=Action.TOKEN_REVOKED).user == root
    assert search(client, key).status_code == 401


def test_it_refuses_to_start_with_a_default_lifetime_beyond_the_maximum(settings):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            "DJANGO_SETTINGS_MODULE": "transcripts_site.settings",
            "API_TOKEN_LIFETIME_DAYS": "400",
            "DATA_DIR": str(settings.DATA_DIR),
            "PATH": "/usr/bin:/bin",
        },
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "API_TOKEN_LIFETIME_DAYS must be at most 365, got 400" in result.stderr
