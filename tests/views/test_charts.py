from __future__ import annotations

import pytest

from reviews import aggregates

pytestmark = pytest.mark.django_db


def test_it_draws_latency_and_accuracy_charts_with_readable_values(alice_client, conversation):
    response = alice_client.get("/charts/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('<svg class="chart"') == 5
    day = str(conversation.started_at.date())
    assert f"<title>{day} · p95: 1.5 min</title>" in body  # availability point
    assert f"<td>{day}</td><td>1</td><td>1.5 min</td>" in body  # the same value in the table
    assert "<title>80–85%: 1</title>" in body  # distribution bar with mean confidence 0.82


def test_it_only_aggregates_conversations_the_user_may_see(alice_client, conversation, other_conversation, monkeypatch):
    seen = {}
    real = aggregates.latency_by_day

    def spy(**scope):
        seen.update(scope)
        return real(**scope)

    monkeypatch.setattr(aggregates, "latency_by_day", spy)
    response = alice_client.get("/charts/")
    assert list(seen["conversations_qs"]) == [conversation]
    assert response.context["latency_rows"][0]["count"] == 1


def test_it_filters_by_queue_and_agent_genesys_ids(alice_client, conversation, monkeypatch):
    seen = {}
    monkeypatch.setattr(aggregates, "accuracy_by_day", lambda **scope: seen.update(scope) or [])
    alice_client.get("/charts/", {"queue": "queue-1", "agent": "agent-Dana Agent", "days": "7"})
    assert (seen["queue"], seen["agent"]) == ("queue-1", "agent-Dana Agent")


def test_it_ignores_a_queue_outside_the_users_scope(alice_client, conversation, other_conversation, monkeypatch):
    seen = {}
    monkeypatch.setattr(aggregates, "accuracy_by_day", lambda **scope: seen.update(scope) or [])
    response = alice_client.get("/charts/", {"queue": "queue-2"})
    assert response.status_code == 200
    assert seen["queue"] is None
    assert b"Q2 Claims" not in response.content


def test_it_shows_an_empty_chart_without_data(alice_client):
    body = alice_client.get("/charts/").content.decode()
    assert "No data" in body


def test_it_counts_a_two_part_call_once_for_availability(alice_client, two_parts):
    body = alice_client.get("/charts/").content.decode()
    day = str(two_parts.conversation.started_at.date())
    # One call, whose last part was available 200 s after the call ended; the store table counts both parts.
    assert f"<td>{day}</td><td>1</td><td>3.3 min</td><td>3.3 min</td>" in body
    assert f"<td>{day}</td><td>2</td><td>1.0 s</td><td>3.0 s</td>" in body
