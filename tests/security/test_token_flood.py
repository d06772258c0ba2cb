"""Junk bearer tokens cannot flood the audit table: folded per address, and 429 past the limit (issue 11 §3)."""

from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest
from django.db.models import Sum
from django.test import Client

from reviews.audit import FOLD_WINDOW
from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db

SEARCH = "/api/transcripts/search"
LIMIT = 20


@pytest.fixture
def address(settings):
    settings.API_TOKEN_FAILURES_PER_MINUTE = LIMIT
    # An address of its own: the failure counter lives in the shared cache (Redis on the PostgreSQL leg).
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def _junk(client: Client, address: str):
    return client.post(
        SEARCH,
        data=json.dumps({"query": "x"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer tv_{secrets.token_urlsafe(16)}"},
        REMOTE_ADDR=address,
    )


def _rejections():
    return AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED, object_type="api_token")


def test_it_folds_a_flood_of_junk_tokens_into_a_few_rows_and_answers_429_past_the_limit(client, address):
    statuses = [_junk(client, address).status_code for _ in range(500)]

    assert statuses[:LIMIT] == [401] * LIMIT
    assert statuses[LIMIT:] == [429] * (500 - LIMIT)
    rows = _rejections()
    assert rows.count() <= 3
    assert rows.aggregate(total=Sum("count"))["total"] == 500
    invalid, throttled = rows.get(detail__reason="invalid API token"), rows.get(detail__reason__startswith="too many")
    assert (invalid.count, throttled.count) == (LIMIT, 500 - LIMIT)
    assert invalid.ip == address and throttled.last_at >= throttled.at


def test_it_tells_the_client_when_to_retry(client, address):
    for _ in range(LIMIT):
        _junk(client, address)

    response = _junk(client, address)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "too many" in response.json()["error"]


def test_it_limits_each_address_on_its_own(client, address):
    for _ in range(LIMIT + 1):
        _junk(client, address)

    assert _junk(client, "192.0.2.77").status_code == 401


def test_it_opens_a_new_row_once_the_fold_window_has_passed(client, address):
    _junk(client, address)
    _rejections().update(at=dt.datetime.now(dt.UTC) - FOLD_WINDOW - dt.timedelta(seconds=1))

    _junk(client, address)

    assert list(_rejections().order_by("at").values_list("count", flat=True)) == [1, 1]
