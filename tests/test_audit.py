from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory

from reviews.audit import client_ip, record_event, record_search
from reviews.models import AuditEvent
from reviews.search import SearchFilters

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_of():
    def make(user=None, **meta):
        request = RequestFactory().get("/", **meta)
        request.user = user or AnonymousUser()
        return request

    return make


def test_it_records_who_what_when_and_where(request_of):
    user = User.objects.create_user("alice")
    event = record_event(
        request=request_of(user, REMOTE_ADDR="10.1.2.3"),
        action=AuditEvent.Action.VIEW_TRANSCRIPT,
        object_type="conversation",
        object_id="conv-1",
        detail={"via": "web"},
    )
    event.refresh_from_db()
    assert (event.user, event.username, event.ip, event.object_id) == (user, "alice", "10.1.2.3", "conv-1")
    assert event.at.utcoffset().total_seconds() == 0
    assert event.detail == {"via": "web"}


def test_it_takes_an_explicit_user_and_allows_no_request():
    user = User.objects.create_user("bob")
    event = record_event(request=None, action=AuditEvent.Action.REPLAY, user=user)
    assert (event.username, event.ip) == ("bob", None)


def test_it_records_anonymous_actors_without_a_user(request_of):
    event = record_event(request=request_of(), action=AuditEvent.Action.ACCESS_DENIED)
    assert event.user is None and event.username == ""


def test_it_rejects_unknown_actions(request_of):
    with pytest.raises(ValueError, match="unknown audit action"):
        record_event(request=request_of(), action="hack")


def test_it_neutralises_control_characters_and_truncates(request_of):
    event = record_event(
        request=request_of(),
        action=AuditEvent.Action.SEARCH,
        object_id="id\nFAKE LOG LINE",
        detail={"query": "x\r\n\x1b[31mred\u2028" + "y" * 1000, "nested": [{"k\n": "v\x00"}], "n": float("nan")},
    )
    event.refresh_from_db()
    assert "\n" not in event.object_id
    assert (
        len(event.detail["query"]) == 500
        and "\x1b" not in event.detail["query"]
        and "\u2028" not in event.detail["query"]
    )
    assert event.detail["nested"] == [{"k ": "v "}] and event.detail["n"] == "nan"


def test_it_trusts_x_forwarded_for_only_behind_a_declared_proxy(request_of, settings):
    request = request_of(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert client_ip(request) == "10.0.0.1"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client_ip(request) == "203.0.113.9"
    assert client_ip(request_of(REMOTE_ADDR="not-an-ip")) is None


def test_it_records_search_terms_and_filters(request_of):
    user = User.objects.create_user("carol")
    event = record_search(
        request=request_of(user),
        query='refund -"call back"',
        filters=SearchFilters(speaker="external", queues=["q1"]),
        total=3,
    )
    assert event.action == AuditEvent.Action.SEARCH
    assert event.detail["terms"] == ["refund", '-"call back"']
    assert event.detail["filters"] == {"speaker": "external", "queues": ["q1"]}
    assert event.detail["total"] == 3
