from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from reviews.models import ApiToken

pytestmark = pytest.mark.django_db


def test_it_prints_a_working_token_once_and_stores_only_its_hash(client):
    User.objects.create_user("api-user", is_staff=True)
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
