"""The two 500s of the review: charts for a user who may see nothing, and a deeply nested API body (issue 11 §4)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from reviews.api_auth import MAX_JSON_DEPTH
from reviews.models import ApiToken

pytestmark = pytest.mark.django_db

SEARCH = "/api/transcripts/search"


def test_it_shows_empty_charts_to_a_user_with_an_empty_scope(make_user, make_conversation):
    make_conversation("someone else's call", queue="queue-theirs")
    nobody = make_user(groups=["Reviewer"])  # a scope with no queue in it
    client = Client(raise_request_exception=False)
    client.force_login(nobody)

    response = client.get("/charts/", {"days": "7"})

    assert response.status_code == 200
    assert "No data" in response.content.decode()


def test_it_shows_empty_charts_to_a_user_without_any_scope(make_user):
    client = Client(raise_request_exception=False)
    client.force_login(make_user(scope=False))

    assert client.get("/charts/").status_code == 200


@pytest.fixture
def api(make_user):
    _token, key = ApiToken.issue(user=make_user(groups=["Reviewer"], queues=["queue-mine"]), name="test")
    client = Client(raise_request_exception=False)

    def post(raw: str):
        return client.post(
            SEARCH, data=raw, content_type="application/json", headers={"Authorization": f"Bearer {key}"}
        )

    return post


def _nested(depth: int) -> str:
    return '{"query": "refund", "queue": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [30_000, 2_000])
def test_it_answers_400_to_a_body_nested_beyond_the_parsers_stack(api, depth):
    response = api(_nested(depth))

    assert response.status_code == 400
    assert response.json() == {
        "error": f"request body is nested too deeply; at most {MAX_JSON_DEPTH} levels of objects and arrays"
    }


def test_it_answers_400_to_a_body_nested_deeper_than_any_request_needs(api):
    response = api(_nested(MAX_JSON_DEPTH))  # the object around it makes one level more

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]


def test_it_still_reads_ordinary_bodies(api):
    response = api(json.dumps({"query": "refund", "queue": ["queue-mine"]}))

    assert response.status_code == 200
