"""The quality dashboard's aggregation (reviews/quality.py) on a small hand-built archive.

Dana (Q1, division D1) has three calls in the last 30 days and one older, Eli (Q1) one, Olly (Q2, division D2) one.
Today is Wednesday 2026-11-25 (injected); the week buckets start on Mondays.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User

from reviews import quality
from reviews.evaluations.coverage import coverage
from reviews.models import (
    AccessScope,
    Agent,
    Conversation,
    Division,
    Evaluation,
    Queue,
    RedactionFinding,
    Transcript,
    Utterance,
)
from reviews.search import filters as call_filters
from tests.test_evaluations_support import make_version

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 25)


def at(day: int, hour: int = 10, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


def call(genesys_id, *, agent, queue, started, seconds=None, transcript=None, turns=(), leak=False):
    """A call; `transcript` holds (word_count, low_confidence_share); turns are (sentiment, topics) pairs."""
    conversation = Conversation.objects.create(
        genesys_id=genesys_id,
        state=Conversation.State.STORED,
        started_at=started,
        ended_at=started + dt.timedelta(seconds=seconds) if seconds is not None else None,
        queue=queue,
        division=queue.division,
        agent=agent,
    )
    if transcript is not None:
        words, low_share = transcript
        part = Transcript.objects.create(
            conversation=conversation,
            communication_id=f"comm-{genesys_id}",
            sha256="0" * 64,
            size_bytes=1,
            raw_path="transcripts/none",
            redaction_status=Transcript.RedactionStatus.LEAKS_FOUND if leak else Transcript.RedactionStatus.VERIFIED,
            leak_count=1 if leak else 0,
            word_count=words,
            low_confidence_share=low_share,
        )
        for index, (sentiment, topics) in enumerate(turns or [(None, [])]):
            Utterance.objects.create(
                transcript=part,
                conversation=conversation,
                index=index,
                speaker="external",
                start_ms=index * 1000,
                end_ms=index * 1000 + 900,
                text="words",
                sentiment=sentiment,
                topics=topics,
            )
        if leak:
            RedactionFinding.objects.create(
                transcript=part, kind="card_number", rule="luhn-16", confidence=0.9, start_ms=0, masked_excerpt="x"
            )
    return conversation


@pytest.fixture
def world():
    d1 = Division.objects.create(genesys_id="div-1", name="D1")
    d2 = Division.objects.create(genesys_id="div-2", name="D2")
    q1 = Queue.objects.create(genesys_id="queue-1", name="Q1 Billing", division=d1)
    q2 = Queue.objects.create(genesys_id="queue-2", name="Q2 Claims", division=d2)
    dana = Agent.objects.create(genesys_id="agent-dana", name="Dana")
    eli = Agent.objects.create(genesys_id="agent-eli", name="Eli")
    olly = Agent.objects.create(genesys_id="agent-olly", name="Olly")
    c1 = call(
        "c1",
        agent=dana,
        queue=q1,
        started=at(24),
        seconds=100,
        transcript=(100, 0.2),
        turns=[(-0.8, ["Refund"]), (-0.6, ["Billing", "Refund"])],
        leak=True,
    )
    c2 = call(
        "c2",
        agent=dana,
        queue=q1,
        started=at(25, 9),
        seconds=200,
        transcript=(300, 0.0),
        turns=[(0.5, [{"name": "refund"}])],
    )
    call("c3", agent=dana, queue=q1, started=at(10))  # no transcript, not ended
    call("c-old", agent=dana, queue=q1, started=at(1, month=10), seconds=50, transcript=(10, 1.0), leak=True)
    c4 = call("c4", agent=eli, queue=q1, started=at(24), seconds=60, transcript=(100, 0.5))
    call(
        "c5",
        agent=olly,
        queue=q2,
        started=at(24),
        seconds=30,
        transcript=(50, 0.1),
        turns=[(-0.9, ["Claim"])],
        leak=True,
    )

    version = make_version(questions=[{"text": "Greeting"}])
    reviewer = User.objects.create_user("rita")
    other = User.objects.create_user("otto")

    def evaluation(conversation, kind, score, status=Evaluation.Status.SUBMITTED, evaluator=None):
        Evaluation.objects.create(
            conversation=conversation,
            form_version=version,
            kind=kind,
            status=status,
            score=score,
            evaluator=evaluator if kind == Evaluation.Kind.HUMAN else None,
        )

    evaluation(c1, Evaluation.Kind.AUTOMATIC, 50)
    evaluation(c2, Evaluation.Kind.AUTOMATIC, 100)
    evaluation(c1, Evaluation.Kind.HUMAN, 80, evaluator=reviewer)
    evaluation(
        c2, Evaluation.Kind.HUMAN, 10, status=Evaluation.Status.DRAFT, evaluator=reviewer
    )  # a draft: not counted
    evaluation(c4, Evaluation.Kind.HUMAN, 60, status=Evaluation.Status.DISPUTED, evaluator=other)
    return {"q1": q1, "q2": q2, "d1": d1}


def compliance_user():
    user = User.objects.create_user("carol")
    user.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    return user


def supervisor_of(division):
    user = User.objects.create_user("bob")
    user.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
    AccessScope.objects.create(user=user).divisions.add(division)
    return user


def rows_by_label(report):
    return {row.label: row for row in report.groups}


def test_it_computes_every_metric_per_agent(world):
    report = quality.report(user=compliance_user(), selection=quality.Selection(today=TODAY, days=30))
    dana = rows_by_label(report)["Dana"].metrics

    assert (dana.calls, dana.transcribed, dana.automatic, dana.human) == (3, 2, 2, 1)  # c-old is outside 30 days
    assert (dana.automatic_mean, dana.human_mean) == (75.0, 80.0)  # the draft's 10 is not a score yet
    assert (dana.automatic_share, dana.human_share) == (1.0, 0.5)  # of the calls with a transcript
    assert dana.mean_sentiment == pytest.approx(-0.1)  # c1 -0.7 (the mean of its phrases), c2 +0.5
    assert (dana.negative, dana.sentiment_calls, dana.negative_share) == (1, 2, 0.5)
    assert (dana.leaky, dana.leak_rate) == (1, pytest.approx(1 / 3))
    assert dana.low_confidence_share == pytest.approx((100 * 0.2 + 300 * 0.0) / 400)  # word-weighted
    assert dana.handle_ms == 150_000  # c3 has not ended: no duration
    assert rows_by_label(report)["Dana"].topics == [("Refund", 2), ("Billing", 1)]  # "refund" is the same topic

    eli = rows_by_label(report)["Eli"].metrics
    assert (eli.calls, eli.human, eli.human_mean, eli.automatic_mean) == (1, 1, 60.0, None)  # disputed still counts
    assert (eli.mean_sentiment, eli.negative_share, eli.leak_rate) == (None, None, 0.0)
    assert eli.low_confidence_share == 0.5 and eli.handle_ms == 60_000
    assert report.total.calls == 5 and report.topics[0] == ("Refund", 2)


def test_it_counts_calls_archived_after_the_same_dashboard_was_shown(world):
    # The query is built once per scope and selection: the data it reads must still be read each time.
    user, selection = compliance_user(), quality.Selection(today=TODAY, days=30)
    before = rows_by_label(quality.report(user=user, selection=selection))["Olly"].metrics
    call("c6", agent=Agent.objects.get(name="Olly"), queue=world["q2"], started=at(25), transcript=(10, 0.0), leak=True)

    after = rows_by_label(quality.report(user=user, selection=selection))["Olly"].metrics
    assert (before.calls, before.leaky) == (1, 1)
    assert (after.calls, after.transcribed, after.leaky) == (2, 2, 2)


def test_it_groups_by_queue(world):
    report = quality.report(user=compliance_user(), selection=quality.Selection(today=TODAY, days=30, group_by="queue"))

    groups = rows_by_label(report)
    assert (groups["Q1 Billing"].metrics.calls, groups["Q2 Claims"].metrics.calls) == (4, 1)
    assert groups["Q1 Billing"].metrics.human_mean == pytest.approx((80 + 60) / 2)  # one sample per evaluation
    assert groups["Q2 Claims"].topics == [("Claim", 1)]


def test_it_counts_coverage_as_the_coverage_module_does(world):
    user = compliance_user()
    report = quality.report(user=user, selection=quality.Selection(today=TODAY, days=30))
    calls = call_filters.conversations(user=user, filters=quality.Selection(today=TODAY, days=30).filters())

    expected = {row.label: row for row in coverage(calls, by="agent")}
    for row in report.groups:
        metrics, reference = row.metrics, expected[row.label]
        assert (metrics.transcribed, metrics.automatic, metrics.human) == (
            reference.calls,
            reference.automatic,
            reference.human,
        )
        assert reference.human_mean == (None if metrics.human_mean is None else round(metrics.human_mean, 1))


def test_it_buckets_by_week_and_by_day_for_seven_days(world):
    user = compliance_user()
    weekly = quality.report(user=user, selection=quality.Selection(today=TODAY, days=30))
    daily = quality.report(user=user, selection=quality.Selection(today=TODAY, days=7))

    assert weekly.buckets[0] == dt.date(2026, 10, 26) and weekly.buckets[-1] == dt.date(2026, 11, 23)  # Mondays
    assert {day: m.calls for day, m in weekly.trend.items() if m.calls} == {
        dt.date(2026, 11, 9): 1,
        dt.date(2026, 11, 23): 4,
    }
    assert len(daily.buckets) == 7 and daily.buckets[-1] == TODAY
    assert {day: m.calls for day, m in daily.trend.items() if m.calls} == {
        dt.date(2026, 11, 24): 3,
        dt.date(2026, 11, 25): 1,
    }
    dana = next(row for row in daily.groups if row.label == "Dana")
    assert {day: m.calls for day, m in daily.group_trend[dana.key].items()} == {
        dt.date(2026, 11, 24): 1,
        dt.date(2026, 11, 25): 1,
    }


def test_it_buckets_by_the_local_day(world, settings):
    settings.TIME_ZONE = "America/New_York"
    # 2026-11-25 09:00 UTC is 04:00 in New York: still the 25th; 2026-11-24 10:00 UTC is 05:00 on the 24th.
    Conversation.objects.filter(genesys_id="c2").update(started_at=at(25, 3))  # 22:00 on the 24th in New York
    report = quality.report(user=compliance_user(), selection=quality.Selection(today=TODAY, days=7))

    assert {day: m.calls for day, m in report.trend.items() if m.calls} == {dt.date(2026, 11, 24): 4}


def test_it_shows_a_supervisor_only_his_divisions_agents(world):
    report = quality.report(user=supervisor_of(world["d1"]), selection=quality.Selection(today=TODAY, days=30))

    assert set(rows_by_label(report)) == {"Dana", "Eli"}
    assert report.total.calls == 4 and report.total.leaky == 1  # Olly's leaky call is not counted
    assert ("Claim", 1) not in report.topics


def test_it_narrows_to_a_queue_and_an_agent(world):
    user = compliance_user()
    by_queue = quality.report(user=user, selection=quality.Selection(today=TODAY, days=30, queue="queue-2"))
    by_agent = quality.report(user=user, selection=quality.Selection(today=TODAY, days=30, agent="agent-eli"))

    assert [row.label for row in by_queue.groups] == ["Olly"]
    assert [row.label for row in by_agent.groups] == ["Eli"]


def test_it_gives_nothing_to_a_user_without_scope(world):
    user = User.objects.create_user("nobody")
    report = quality.report(user=user, selection=quality.Selection(today=TODAY, days=30))

    assert report.groups == [] and report.total.calls == 0 and report.topics == []


def test_it_builds_search_parameters_that_list_the_calls_behind_a_number(world):
    user = compliance_user()
    selection = quality.Selection(today=TODAY, days=30, queue="queue-1")
    report = quality.report(user=user, selection=selection)
    dana = rows_by_label(report)["Dana"]

    params = quality.search_params(selection, group=dana, **quality.NEGATIVE)
    assert params == {
        "date_from": "2026-10-27",
        "date_to": "2026-11-25",
        "queue": "queue-1",
        "agent": "agent-dana",
        "sentiment": "negative",
    }
    week = quality.search_params(selection, group=dana, bucket=dt.date(2026, 10, 26))
    assert (week["date_from"], week["date_to"]) == ("2026-10-27", "2026-11-01")  # cut at the period's start
    none = quality.GroupRow(key=None, genesys_id=None, label="(no agent)")
    assert quality.search_params(selection, group=none) is None


def test_it_refuses_a_period_or_grouping_it_does_not_know():
    with pytest.raises(ValueError):
        quality.Selection(today=TODAY, days=365)
    with pytest.raises(ValueError):
        quality.Selection(today=TODAY, group_by="division")
