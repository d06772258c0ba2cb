"""The details query's interval semantics, interval limit and ordering (analytics.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from genesys.emulator import OrgBehaviour
from tests.emulator.support import END, START, api_session, make_emulator

QUERY = "/api/v2/analytics/conversations/details/query"


def ids(api, interval: str, **extra) -> list[str]:
    body = {"interval": interval, "paging": {"pageSize": 100}, **extra}
    response = api.post(api.base_url + QUERY, json=body)
    assert response.status_code == 200, response.text
    return [c["conversationId"] for c in response.json().get("conversations", [])]


@pytest.fixture
def apis(dataset, clock):
    """One API session per interval semantics, over the same dataset and clock."""
    sessions, contexts = {}, []
    for semantics in ("started", "active_day_touched"):
        emulator = make_emulator(dataset, clock, behaviour=OrgBehaviour(analytics_interval_semantics=semantics))
        context = emulator.serve()
        sessions[semantics] = api_session(context.__enter__())
        contexts.append(context)
    yield sessions
    for context in contexts:
        context.__exit__(None, None, None)


def test_it_returns_calls_started_in_the_interval_or_active_in_it_on_a_touched_day(apis, dataset):
    middle = START + timedelta(hours=3)
    interval = f"{middle.isoformat()}/{(middle + timedelta(minutes=30)).isoformat()}"
    started = [c.conversation_id for c in dataset.conversations if middle <= c.start < middle + timedelta(minutes=30)]
    active = [
        c.conversation_id for c in dataset.conversations if c.start < middle + timedelta(minutes=30) and c.end > middle
    ]
    assert ids(apis["started"], interval) == started
    assert ids(apis["active_day_touched"], interval) == active and set(active) > set(started)


def test_it_reads_touched_days_in_utc_whatever_offset_the_interval_is_written_in(apis, dataset):
    # 2026-04-30T20:00-05:00 is 2026-05-01T01:00Z: the interval touches May 1 (UTC), the calls' day.
    interval = "2026-04-30T20:00:00-05:00/2026-04-30T22:00:00-05:00"
    low, high = START + timedelta(hours=1), START + timedelta(hours=3)
    expected = [c.conversation_id for c in dataset.conversations if c.start < high and c.end > low]
    assert ids(apis["active_day_touched"], interval) == expected and expected


@pytest.mark.parametrize("semantics", ["started", "active_day_touched"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_it_orders_by_conversation_end_and_pages_without_gaps_or_repeats(apis, dataset, semantics, order):
    api, seen = apis[semantics], []
    for page in range(1, 10):
        body = {
            "interval": f"{START.isoformat()}/{END.isoformat()}",
            "order": order,
            "orderBy": "conversationEnd",
            "paging": {"pageSize": 8, "pageNumber": page},
        }
        seen += api.post(api.base_url + QUERY, json=body).json().get("conversations", [])
    ends = [c["conversationEnd"] for c in seen]
    assert ends == sorted(ends, reverse=order == "desc")
    assert sorted(c["conversationId"] for c in seen) == sorted(c.conversation_id for c in dataset.conversations)


def test_it_limits_the_interval_only_when_the_org_does(dataset, clock):
    for days, status in ((None, 200), (30, 200), (7, 400)):
        emulator = make_emulator(dataset, clock, behaviour=OrgBehaviour(analytics_max_interval_days=days))
        with emulator.serve() as base_url:
            api = api_session(base_url)
            body = {"interval": "2026-04-20T00:00:00Z/2026-05-10T00:00:00Z"}
            response = api.post(base_url + QUERY, json=body)
        assert response.status_code == status, days
        if status == 400:
            assert response.json()["message"] == "The interval must not be longer than 7 days."
