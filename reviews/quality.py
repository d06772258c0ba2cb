"""The quality dashboard's numbers (issue 13 §4): per agent or per queue, per week (per day over 7 days).

Scope: the calls the user may see (reviews/access.py) that pass the search's own filters (reviews/search/filters.py)
for the period and the optional queue/agent, so every number here is a search away: `search_params()` gives the
search's GET parameters that list exactly the calls behind a number, and the search's total equals the count.

What each metric means (each rule defined once and reused, never restated):
- calls: every call in scope that started in the period (the search's date filter: whole days in TIME_ZONE);
- evaluation score: the mean score (0-100) of the evaluations coverage.py counts, one sample per evaluation:
  human ones that are submitted or disputed (coverage.HUMAN_DONE; drafts never count) and automatic ones, shown
  apart, both over the calls with a transcript;
- coverage: as reviews/evaluations/coverage.py: of the calls with a transcript, the share with a submitted (or
  disputed) human evaluation and the share scored automatically;
- sentiment: each call's mean Genesys sentiment (filters.sentiment_sql), averaged over the calls that have one;
  negative share: calls at or below -SENTIMENT_MARK (the search's "negative") of the calls with a sentiment;
- topics: calls in which a phrase carries the topic (names compared case-insensitively, as the topic filter);
- leak rate: calls the vault found at least one leak in (the search's redaction status "leaks found": a part
  with a finding) of all calls;
- low-confidence share: of all transcribed words, the share below LOW_CONFIDENCE_THRESHOLD (word-weighted over
  the transcripts, as the charts page, reviews/aggregates.py);
- average handle time: the mean call duration (end - start, filters.duration_ms_sql) of calls that ended; the
  vault knows no hold or wrap-up time, so this is the connected time.

Two queries whatever the number of agents and queues (one per-call pass aggregated by group and period, one for
topics) plus one for the group names; no utterance reaches Python.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass, field, fields
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Case, Count, Exists, F, FloatField, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.expressions import RawSQL
from django.urls import get_script_prefix, reverse
from django.utils import timezone

from reviews.access import Scope, scope_for
from reviews.aggregates import MillisecondsBetween
from reviews.evaluations.coverage import HUMAN_DONE
from reviews.models import Agent, Evaluation, Queue, Transcript, Utterance
from reviews.search import filters as call_filters
from reviews.templatetags.transcript_tags import SENTIMENT_MARK

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
GROUP_BY = ("agent", "queue")
GROUP_FIELDS = {"agent": ("agent_id", Agent), "queue": ("queue_id", Queue)}
TOP_TOPICS = 10  # in the topic chart
TOP_TOPICS_PER_GROUP = 3  # in the summary table
LEAKS_FOUND = Transcript.RedactionStatus.LEAKS_FOUND.value


@dataclass(frozen=True)
class Selection:
    """What the dashboard shows: the last `days` days up to `today` (a date in TIME_ZONE, inclusive)."""

    today: dt.date
    days: int = DEFAULT_DAYS
    group_by: str = "agent"
    queue: str | None = None  # Genesys ids, as the search's filters take them
    agent: str | None = None

    def __post_init__(self) -> None:
        if self.days not in PERIODS:
            raise ValueError(f"days must be one of {PERIODS}, got {self.days!r}")
        if self.group_by not in GROUP_BY:
            raise ValueError(f"group_by must be one of {GROUP_BY}, got {self.group_by!r}")

    @property
    def date_from(self) -> dt.date:
        return self.today - dt.timedelta(days=self.days - 1)

    @property
    def date_to(self) -> dt.date:
        return self.today

    @property
    def bucket(self) -> str:
        return "day" if self.days <= 7 else "week"

    def filters(self) -> call_filters.SearchFilters:
        return call_filters.SearchFilters(
            date_from=self.date_from,
            date_to=self.date_to,
            queues=[self.queue] if self.queue else (),
            agents=[self.agent] if self.agent else (),
        )

    def buckets(self) -> list[dt.date]:
        """Every bucket's first day, oldest first: each day, or each Monday of a week touching the period."""
        if self.bucket == "day":
            return [self.date_from + dt.timedelta(days=n) for n in range(self.days)]
        monday = self.date_from - dt.timedelta(days=self.date_from.weekday())
        result = []
        while monday <= self.date_to:
            result.append(monday)
            monday += dt.timedelta(days=7)
        return result

    def bucket_span(self, start: dt.date) -> tuple[dt.date, dt.date]:
        """The days of the period a bucket covers (the first and last week are cut at the period's ends)."""
        last = start if self.bucket == "day" else start + dt.timedelta(days=6)
        return max(start, self.date_from), min(last, self.date_to)


@dataclass
class Metrics:
    """Sums for a set of calls; the means and shares are derived, so groups and periods add up exactly."""

    calls: int = 0
    transcribed: int = 0
    automatic: int = 0
    human: int = 0
    automatic_score_sum: float = 0.0
    automatic_scores: int = 0
    human_score_sum: float = 0.0
    human_scores: int = 0
    sentiment_sum: float = 0.0
    sentiment_calls: int = 0
    negative: int = 0
    leaky: int = 0
    words: float = 0.0
    low_confidence_words: float = 0.0
    duration_ms_sum: float = 0.0
    ended_calls: int = 0

    def __add__(self, other: Metrics) -> Metrics:
        return Metrics(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @staticmethod
    def _ratio(part, whole) -> float | None:
        return part / whole if whole else None

    @property
    def human_share(self) -> float | None:
        return self._ratio(self.human, self.transcribed)

    @property
    def automatic_share(self) -> float | None:
        return self._ratio(self.automatic, self.transcribed)

    @property
    def human_mean(self) -> float | None:
        return self._ratio(self.human_score_sum, self.human_scores)

    @property
    def automatic_mean(self) -> float | None:
        return self._ratio(self.automatic_score_sum, self.automatic_scores)

    @property
    def mean_sentiment(self) -> float | None:
        return self._ratio(self.sentiment_sum, self.sentiment_calls)

    @property
    def negative_share(self) -> float | None:
        return self._ratio(self.negative, self.sentiment_calls)

    @property
    def leak_rate(self) -> float | None:
        return self._ratio(self.leaky, self.calls)

    @property
    def low_confidence_share(self) -> float | None:
        return self._ratio(self.low_confidence_words, self.words)

    @property
    def handle_ms(self) -> float | None:
        return self._ratio(self.duration_ms_sum, self.ended_calls)


@dataclass
class GroupRow:
    key: int | None  # agent or queue pk; None: calls without one
    genesys_id: str | None
    label: str
    metrics: Metrics = field(default_factory=Metrics)
    topics: list[tuple[str, int]] = field(default_factory=list)  # most frequent first


@dataclass
class Report:
    selection: Selection
    groups: list[GroupRow]  # most calls first
    total: Metrics
    buckets: list[dt.date]
    trend: dict[dt.date, Metrics]  # every bucket, all groups together
    group_trend: dict[int | None, dict[dt.date, Metrics]]  # per group key, the buckets it has calls in
    topics: list[tuple[str, int]]  # all groups together, most frequent first


def report(*, user=None, scope: Scope | None = None, selection: Selection) -> Report:
    """Every number of the dashboard for the calls the user (or scope) may see."""
    scope = scope if scope is not None else scope_for(user)
    cells = metric_cells(scope=scope, selection=selection)
    topic_cells = topic_counts(scope=scope, selection=selection)
    keys = {key for key, _ in cells} | {key for key, _ in topic_cells}
    groups = _group_rows(selection.group_by, keys)
    group_trend: dict[int | None, dict[dt.date, Metrics]] = {}
    trend = {bucket: Metrics() for bucket in selection.buckets()}
    for (key, bucket), metrics in cells.items():
        group_trend.setdefault(key, {})[bucket] = metrics
        groups[key].metrics = groups[key].metrics + metrics
        trend[bucket] = trend.get(bucket, Metrics()) + metrics
    overall: dict[str, tuple[str, int]] = {}  # by lower-case name: (its first spelling, calls)
    for (key, topic), count in sorted(topic_cells.items(), key=lambda item: item[0][1]):
        groups[key].topics.append((topic, count))
        # A call has one agent and one queue: the groups partition the calls, so their counts add up.
        spelling, calls = overall.get(topic.lower(), (topic, 0))
        overall[topic.lower()] = (spelling, calls + count)
    for row in groups.values():
        row.topics = _most_frequent(row.topics)[:TOP_TOPICS_PER_GROUP]
    total = sum((row.metrics for row in groups.values()), Metrics())
    return Report(
        selection=selection,
        groups=sorted(groups.values(), key=lambda row: (-row.metrics.calls, row.label)),
        total=total,
        buckets=selection.buckets(),
        trend=trend,
        group_trend=group_trend,
        topics=_most_frequent(overall.values())[:TOP_TOPICS],
    )


def metric_cells(*, scope: Scope, selection: Selection) -> dict[tuple[int | None, dt.date], Metrics]:
    """{(group key, bucket start): Metrics}, one query: a per-call pass grouped in SQL."""
    query = _metric_cells_query(scope, selection, timezone.get_current_timezone_name())
    if query is None:
        return {}
    sql, params = query
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    defaults = [(f.name, f.default) for f in fields(Metrics)]
    buckets = selection.buckets()
    return {
        (key, buckets[bucket]): Metrics(
            **{name: _number(value, like) for (name, like), value in zip(defaults, values, strict=True)}
        )
        for key, bucket, *values in rows
    }


# Building this query through the ORM took about as long as running it; the SQL depends on nothing but these
# arguments and the process's database (the data it reads is not part of it), so each process builds it once per
# scope, selection and time zone.
@functools.lru_cache(maxsize=256)
def _metric_cells_query(scope: Scope, selection: Selection, timezone_name: str) -> tuple[str, tuple] | None:
    calls = call_filters.conversations(scope=scope, filters=selection.filters())
    if calls.query.is_empty():
        return None
    group_field, _ = GROUP_FIELDS[selection.group_by]
    evaluations = Evaluation.objects.filter(conversation=OuterRef("pk"), score__isnull=False).order_by()
    human = Q(kind=Evaluation.Kind.HUMAN, status__in=HUMAN_DONE)
    automatic = Q(kind=Evaluation.Kind.AUTOMATIC)
    # The search's own leak filter, tested on each call row (a list of every leaky call read all the calls).
    leak_conditions, leak_params = call_filters.calls_conditions(
        scope=Scope(everything=True), filters=call_filters.SearchFilters(redaction_status=LEAKS_FOUND)
    )
    leaky = RawSQL(
        f"CASE WHEN EXISTS (SELECT 1 FROM reviews_conversation c WHERE c.id = {_table()}.id "
        f"AND {' AND '.join(leak_conditions)}) THEN 1 ELSE 0 END",
        leak_params,
        output_field=IntegerField(),
    )
    per_call = calls.order_by().annotate(
        g=F(group_field),
        bucket=_bucket_index(selection, zoneinfo.ZoneInfo(timezone_name)),
        transcribed=Exists(Utterance.objects.filter(conversation=OuterRef("pk"))),
        has_automatic=Exists(Evaluation.objects.filter(automatic, conversation=OuterRef("pk"))),
        has_human=Exists(Evaluation.objects.filter(human, conversation=OuterRef("pk"))),
        automatic_sum=_sum_of(evaluations.filter(automatic), "score"),
        automatic_n=_count_of(evaluations.filter(automatic)),
        human_sum=_sum_of(evaluations.filter(human), "score"),
        human_n=_count_of(evaluations.filter(human)),
        sentiment=RawSQL(call_filters.sentiment_sql(_table()), [], output_field=FloatField()),
        leaky=leaky,
        words=_sum_of(Transcript.objects.filter(conversation=OuterRef("pk")).order_by(), "word_count"),
        low_words=_sum_of(
            Transcript.objects.filter(conversation=OuterRef("pk")).order_by(),
            F("low_confidence_share") * F("word_count"),
        ),
        duration=MillisecondsBetween("started_at", "ended_at"),
    )
    inner_sql, params = per_call.values_list(
        "g",
        "bucket",
        "transcribed",
        "has_automatic",
        "has_human",
        "automatic_sum",
        "automatic_n",
        "human_sum",
        "human_n",
        "sentiment",
        "leaky",
        "words",
        "low_words",
        "duration",
    ).query.sql_with_params()
    transcribed = "CASE WHEN p.transcribed THEN 1 ELSE 0 END"
    # MATERIALIZED: computed once per call; a flattened (inlined) subquery would run the sentiment scan once for
    # each time the outer query names p.sentiment.
    sql = f"""
        WITH p AS MATERIALIZED ({inner_sql})
        SELECT p.g, p.bucket, COUNT(*),
               SUM({transcribed}),
               SUM(CASE WHEN p.transcribed AND p.has_automatic THEN 1 ELSE 0 END),
               SUM(CASE WHEN p.transcribed AND p.has_human THEN 1 ELSE 0 END),
               SUM(CASE WHEN p.transcribed THEN p.automatic_sum END),
               SUM(CASE WHEN p.transcribed THEN p.automatic_n END),
               SUM(CASE WHEN p.transcribed THEN p.human_sum END),
               SUM(CASE WHEN p.transcribed THEN p.human_n END),
               SUM(p.sentiment), COUNT(p.sentiment),
               SUM(CASE WHEN p.sentiment <= %s THEN 1 ELSE 0 END),
               SUM(p.leaky), SUM(p.words), SUM(p.low_words),
               SUM(p.duration), COUNT(p.duration)
        FROM p
        GROUP BY p.g, p.bucket
    """
    return sql, (*params, -SENTIMENT_MARK)


def _bucket_index(selection: Selection, zone: zoneinfo.ZoneInfo) -> Case:
    """The index in selection.buckets() of the bucket a call started in, compared with each bucket's first instant
    in the time zone. A database's own truncation to the local day or week ran as a Python function per call on
    SQLite, most of a 90-day dashboard's query time."""
    starts = [dt.datetime.combine(day, dt.time.min, tzinfo=zone) for day in selection.buckets()]
    latest_first = [When(started_at__gte=starts[n], then=Value(n)) for n in range(len(starts) - 1, 0, -1)]
    return Case(*latest_first, default=Value(0), output_field=IntegerField())


def topic_counts(*, scope: Scope, selection: Selection) -> dict[tuple[int | None, str], int]:
    """{(group key, topic): calls with a phrase carrying it}; the topic as its calls spell it (the first spelling in
    sort order when they differ: the search compares names case-insensitively)."""
    if scope.is_empty:
        return {}
    group_field, _ = GROUP_FIELDS[selection.group_by]
    where, params = call_filters.calls_conditions(scope=scope, filters=selection.filters())
    topics = call_filters.topic_names_sql("x")
    sql = f"""
        SELECT t.g, MIN(t.name), COUNT(DISTINCT t.conversation_id)
        FROM (
            SELECT c.{group_field} AS g, x.conversation_id, {topics.name} AS name
            FROM reviews_conversation c
            JOIN reviews_utterance x ON x.conversation_id = c.id, {topics.names}
            WHERE {topics.has_any} AND {" AND ".join(where) if where else "1 = 1"}
        ) t
        WHERE t.name IS NOT NULL AND t.name <> ''
        GROUP BY t.g, lower(t.name)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(key, topic): count for key, topic, count in cursor.fetchall()}


def search_params(
    selection: Selection,
    *,
    group: GroupRow | None = None,
    bucket: dt.date | None = None,
    **extra: str,
) -> dict[str, str] | None:
    """The search's GET parameters listing the calls behind a number: the selection's period (or one bucket of it),
    queue and agent, the group's own agent or queue, and `extra` (sentiment="negative", topic=..., sort=...).

    None when the search cannot list exactly those calls: a group of calls without an agent (or queue).
    """
    date_from, date_to = selection.bucket_span(bucket) if bucket else (selection.date_from, selection.date_to)
    params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    if selection.queue:
        params["queue"] = selection.queue
    if selection.agent:
        params["agent"] = selection.agent
    if group is not None:
        if group.genesys_id is None:
            return None
        params[selection.group_by] = group.genesys_id
    return {**params, **extra}


def search_url(selection: Selection, **kwargs) -> str:
    """search_params() as a link to the search page, "" when there is none."""
    params = search_params(selection, **kwargs)
    return "" if params is None else f"{_search_path(get_script_prefix())}?{urlencode(params)}"


@functools.lru_cache(maxsize=8)
def _search_path(script_prefix: str) -> str:
    # A dashboard page links a couple of hundred numbers to the search; reverse() is the same for each of them.
    return reverse("search")


# Drill-down filters for each count (the search's own filter names and values)
NEGATIVE = {"sentiment": "negative"}
LEAKY = {"redaction_status": LEAKS_FOUND}
# A mean or a share links to all the calls behind it, in the order that shows its extremes first.
MOST_NEGATIVE_FIRST = {"sort": "sentiment_asc"}
LOWEST_CONFIDENCE_FIRST = {"sort": "confidence_asc"}
LONGEST_FIRST = {"sort": "duration_desc"}


def _group_rows(group_by: str, keys) -> dict[int | None, GroupRow]:
    _, model = GROUP_FIELDS[group_by]
    owners = {owner.pk: owner for owner in model.objects.filter(pk__in=[key for key in keys if key is not None])}
    rows = {}
    for key in keys:
        owner = owners.get(key)
        rows[key] = GroupRow(
            key=key,
            genesys_id=owner.genesys_id if owner else None,
            label=str(owner) if owner else f"(no {group_by})",
        )
    return rows


def _most_frequent(items) -> list[tuple[str, int]]:
    return sorted(items, key=lambda item: (-item[1], item[0].lower()))


def _sum_of(queryset, expression) -> Subquery:
    """SUM(expression) over a queryset correlated to the call (NULL when it has no row)."""
    value = F(expression) if isinstance(expression, str) else expression
    return Subquery(
        queryset.values("conversation").annotate(total=Sum(value, output_field=FloatField())).values("total")
    )


def _count_of(queryset) -> Subquery:
    return Subquery(queryset.values("conversation").annotate(n=Count("pk")).values("n"))


def _table() -> str:
    return connection.ops.quote_name("reviews_conversation")


def _number(value, like):
    """A database sum as the field's type (PostgreSQL sums bigints as Decimal); NULL (no rows) is 0."""
    if value is None:
        return like
    return float(value) if isinstance(like, float) else int(value)
