"""The quality dashboard page (/quality/): scope, filters, drill-down links whose search totals are the numbers
shown, accessible chart names, and a query count that does not grow with the number of agents."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviews.models import Evaluation, Transcript
from tests.test_evaluations_support import make_version

pytestmark = pytest.mark.django_db

COUNT_LINK = re.compile(r'<a href="(/search/\?[^"]+)">([\d,]+)</a>')
TOPIC_LINK = re.compile(r'<li><a href="(/search/\?[^"]+)">[^<]+</a> \((\d+)\)</li>')


def _turn(index, *, sentiment=None, topics=()):
    return {
        "speaker": "external",
        "start_ms": index * 1000,
        "end_ms": index * 1000 + 900,
        "text": "words",
        "sentiment": sentiment,
        "topics": list(topics),
    }


@pytest.fixture
def archive(conversation, other_conversation, q1, d1, build):
    """Beside conftest's two calls (Dana in Q1 with a leak, Olly in Q2): a negative call of Eli's with a
    "refund" topic, Dana's call from 20 days ago, and a call of Dana's without a transcript."""
    eli = build.conversation("conv-eli", queue=q1, division=d1, agent_name="Eli Agent")
    build.transcript(
        eli,
        [_turn(0, sentiment=-0.9, topics=["refund"]), _turn(1, sentiment=-0.4)],
        redaction_status=Transcript.RedactionStatus.VERIFIED,
    )
    old = build.conversation("conv-old", queue=q1, division=d1, started_at=timezone.now() - timedelta(days=20))
    build.transcript(old, [_turn(0, sentiment=0.8, topics=["Billing"])])
    build.conversation("conv-audio", queue=q1, division=d1)
    version = make_version(questions=[{"text": "Greeting"}])
    Evaluation.objects.create(
        conversation=conversation, form_version=version, kind=Evaluation.Kind.AUTOMATIC, status="submitted", score=70
    )
    return {"eli": eli, "old": old}


def _links(body: str) -> list[tuple[str, int]]:
    found = [(html.unescape(url), int(text.replace(",", ""))) for url, text in COUNT_LINK.findall(body)]
    return found + [(html.unescape(url), int(count)) for url, count in TOPIC_LINK.findall(body)]


def _search_total(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["listing"].total


def test_it_redirects_an_anonymous_visitor_to_sign_in(db):
    response = Client().get("/quality/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_shows_nothing_to_an_administrator_without_a_group(admin_client_, archive):
    response = admin_client_.get("/quality/")

    assert response.status_code == 200
    assert response.context["summary"] == [] and "No calls in this period." in response.content.decode()


def test_it_shows_a_supervisor_his_divisions_agents_only(bob_client, archive):
    response = bob_client.get("/quality/")
    body = response.content.decode()

    assert response.status_code == 200
    rows = {row["label"] for row in _summary(response)}
    assert rows == {"Dana Agent", "Eli Agent"}
    assert "Olly Other" not in body  # another division's agent: not a row, not a choice


def _summary(response):
    return [{"label": row[0]["text"], "calls": row[1]["text"]} for row in response.context["summary"]]


@pytest.mark.parametrize("group_by", ["agent", "queue"])
@pytest.mark.parametrize("days", ["7", "30"])
def test_it_links_every_count_to_a_search_whose_total_is_that_count(carol_client, archive, group_by, days):
    body = carol_client.get("/quality/", {"group_by": group_by, "days": days}).content.decode()
    links = _links(body)

    assert len(links) > 10
    assert any("sentiment=negative" in url for url, _ in links)
    assert any("redaction_status=leaks_found" in url for url, _ in links)
    assert any("topic=" in url for url, _ in links)
    for url, count in links:
        assert _search_total(carol_client, url) == count, url


def test_it_counts_the_period_and_applies_queue_agent_and_group_by(carol_client, archive):
    def calls_of(params):
        return {row["label"]: row["calls"] for row in _summary(carol_client.get("/quality/", params))}

    assert calls_of({"days": "30"}) == {"Dana Agent": "3", "Eli Agent": "1", "Olly Other": "1"}
    assert calls_of({"days": "7"}) == {"Dana Agent": "2", "Eli Agent": "1", "Olly Other": "1"}  # not 20 days ago
    assert calls_of({"group_by": "queue"}) == {"Q1 Billing": "4", "Q2 Claims": "1"}
    assert calls_of({"queue": "queue-2"}) == {"Olly Other": "1"}
    assert calls_of({"agent": "agent-Eli Agent", "group_by": "queue"}) == {"Q1 Billing": "1"}


def test_it_shows_each_metric_of_a_group(carol_client, archive):
    response = carol_client.get("/quality/", {"days": "7"})
    eli = next(row for row in response.context["summary"] if row[0]["text"] == "Eli Agent")
    cells = [cell.get("text") for cell in eli[:-1]]

    # Agent, calls, transcribed, human, human %, auto, auto %, scores, sentiment, negative, negative %, leaks, ...
    assert cells[:3] == ["Eli Agent", "1", "1"]
    assert cells[9:14] == ["-0.65", "1", "100.0%", "0", "0.0%"]
    assert cells[15] == "3.4 min"  # 3 min 25 s
    assert [topic["name"] for topic in eli[-1]["topics"]] == ["refund"]
    dana = next(row for row in response.context["summary"] if row[0]["text"] == "Dana Agent")
    assert dana[8]["text"] == "70.0" and dana[12]["text"] == "1"  # automatic score; the leaky call


def test_it_links_a_mean_or_share_to_all_its_calls_extremes_first(carol_client, archive):
    response = carol_client.get("/quality/", {"days": "30"})
    dana = next(row for row in response.context["summary"] if row[0]["text"] == "Dana Agent")

    for index, sort in ((9, "sentiment_asc"), (14, "confidence_asc"), (15, "duration_desc")):
        url = dana[index]["url"]
        assert f"sort={sort}" in url
        assert _search_total(carol_client, url) == 3  # Dana's calls in the period


def test_it_ignores_a_queue_outside_the_users_scope(alice_client, archive):
    response = alice_client.get("/quality/", {"queue": "queue-2"})

    assert response.status_code == 200
    assert {row["label"] for row in _summary(response)} == {"Dana Agent", "Eli Agent"}
    assert b"Q2 Claims" not in response.content


def test_it_names_every_chart_and_table_distinctly(carol_client, archive):
    body = carol_client.get("/quality/").content.decode()

    charts = re.findall(r'<svg class="chart"[^>]*aria-labelledby="([^"]+)"', body)
    assert len(charts) == 7 and len(set(charts)) == 7
    for title_id in charts:
        assert body.count(f'id="{title_id}"') == 1
    regions = re.findall(r'role="region" aria-label="([^"]+)"', body)
    assert len(regions) == 8 and len(set(regions)) == 8
    for name in ("days", "group_by", "queue", "agent"):
        assert f'<label for="id_{name}">' in body


def test_it_escapes_names(carol_client, q1, d1, build):
    conversation = build.conversation("conv-xss", queue=q1, division=d1, agent_name=build.xss)
    build.transcript(conversation, [_turn(0, topics=[build.xss])])

    body = carol_client.get("/quality/").content.decode()

    assert build.xss not in body
    assert html.escape(build.xss) in body


def test_it_runs_as_many_queries_for_many_agents_as_for_two(carol_client, archive, q1, d1, build):
    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert carol_client.get("/quality/", {"days": "90"}).status_code == 200
        return len(context.captured_queries)

    queries()  # the first request after signing in also updates the session
    few = queries()
    for n in range(8):
        extra = build.conversation(f"conv-more-{n}", queue=q1, division=d1, agent_name=f"Agent {n}")
        build.transcript(extra, [_turn(0, sentiment=-0.5, topics=[f"Topic {n}"])])
    many = queries()

    assert many == few
    assert few <= 20
