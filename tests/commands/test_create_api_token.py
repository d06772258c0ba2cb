from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from reviews.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def test_it_prints_a_working_token_once_and_stores_only_its_hash(client):
    User.objects.create_user("api-user")
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "api-user", "--name", "crm", stdout=out, stderr=err)
    key = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert key.startswith("tv_") and token.name == "crm"
    assert token.key_hash == ApiToken.hash_key(key) and key not in (token.key_hash, token.prefix)
    assert "only this once" in err.getvalue()
    response = client.post(
        "/api/transcripts/search",
        data={"query": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200


def test_it_fails_clearly_for_an_unknown_user():
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_it_issues_a_scoped_expiring_token_from_the_command_and_audits_it():
    User.objects.create_user("integration")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token", "integration", "--scope", "process", "--expires-in-days", "7", stdout=out, stderr=err
    )
    key = out.getvalue().strip()
    token = ApiToken.objects.get(key_hash=ApiToken.hash_key(key))
    assert token.scope == "process"
    assert token.expires_at - token.created_at == timedelta(days=7)
    assert "scope process" in err.getvalue() and "expires" in err.getvalue()
    event = AuditEvent.objects.get(action=AuditEvent.Action.TOKEN_ISSUED)
    assert event.object_id == str(token.pk) and event.detail["owner"] == "integration"
    assert event.detail["scope"] == "process" and event.detail["via"] == "command line"
    assert key not in str(event.detail)


@pytest.mark.parametrize("days", ["0", "366"])
def test_it_refuses_a_lifetime_outside_the_bounds(days):
    User.objects.create_user("integration")
    with pytest.raises(CommandError, match="--expires-in-days must be from 1 to 365"):
        call_command("create_api_token", "integration", "--expires-in-days", days)
    assert not ApiToken.objects.exists()
