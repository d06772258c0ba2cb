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


def test_it_filters_by_queue_agent_and_period_with_the_search_filters(
    alice_client, conversation, q1, d1, build, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from reviews.search import filters as call_filters

    other_agent = build.conversation("conv-q1-olly", queue=q1, division=d1, agent_name="Olly")
    build.transcript(other_agent, [])
    old = build.conversation("conv-q1-old", queue=q1, division=d1, started_at=timezone.now() - timedelta(days=20))
    build.transcript(old, [])
    used = []
    real = call_filters.conversations
    monkeypatch.setattr(call_filters, "conversations", lambda **kwargs: used.append(kwargs) or real(**kwargs))

    def counted(params):
        rows = alice_client.get("/charts/", params).context["accuracy_rows"]
        return sum(row["conversations"] for row in rows)

    assert counted({"queue": "queue-1", "days": "30"}) == 3
    assert counted({"queue": "queue-1", "agent": "agent-Dana Agent", "days": "7"}) == 1
    assert counted({"agent": "agent-Olly", "days": "7"}) == 1
    assert used[-1]["filters"].agents == ("agent-Olly",)  # the one filter implementation decided


def test_it_ignores_a_queue_outside_the_users_scope(alice_client, conversation, other_conversation):
    response = alice_client.get("/charts/", {"queue": "queue-2"})
    assert response.status_code == 200
    assert sum(row["conversations"] for row in response.context["accuracy_rows"]) == 1
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


def test_it_names_every_chart_and_values_table_distinctly(alice_client, conversation):
    import re

    body = alice_client.get("/charts/").content.decode()

    labelled_by = re.findall(r'<svg class="chart"[^>]*role="img" aria-labelledby="([^"]+)"', body)
    assert len(labelled_by) == 5 and len(set(labelled_by)) == 5
    for title_id in labelled_by:  # each name is the chart's own <title>, present once
        assert re.search(rf'<title id="{title_id}">[^<]+</title>', body) and body.count(f'id="{title_id}"') == 1
    regions = re.findall(r'role="region" aria-label="([^"]+)"', body)
    assert len(regions) == 5 and len(set(regions)) == 5
    assert "Availability latency (call end → last transcript part ready): values" in regions
