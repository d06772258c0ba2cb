"""Aggregates for the charts, computed in SQL on SQLite and PostgreSQL alike.

Percentiles are nearest-rank: the p-th percentile of n values is the value at rank ceil(p * n).
They use ROW_NUMBER() and COUNT(*) window functions over a filtered sample query built with the
ORM, so no row is ever pulled into Python. Days are UTC days of the conversation start.

A conversation can have several transcripts ("parts": recording segments, consult/callback legs). What counts:
- `count` is transcripts (parts) and `conversations` distinct conversations with at least one stored part;
- availability latency is one sample per conversation: the largest of its parts' (call end -> its last part
  first available), so a call split in five segments is not five samples;
- store latency (available -> stored) is per transcript: each part is downloaded and stored on its own;
- deliver latency is OutboxMessage.delivered_at - Transcript.stored_at, one sample per delivered row (per sink);
- accuracy (confidence, low-confidence share, the distribution) stays per transcript: each part is its own ASR
  output with its own engine, language and word count.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection
from django.db.models import (
    Avg,
    BigIntegerField,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Floor, Least, TruncDate

from reviews.access import Scope
from reviews.models import Agent, OutboxMessage, Queue, Transcript
from reviews.search import filters as call_filters

PERCENTILES = {"p50": 0.5, "p95": 0.95}
BUCKET_WIDTH = 0.05
BUCKETS = 20


class MillisecondsBetween(Func):
    """end - start in whole milliseconds, as a number both databases can sort and aggregate."""

    output_field = BigIntegerField()
    arity = 2

    def as_sqlite(self, compiler, connection, **extra):
        template = "CAST(ROUND((julianday(%(expressions)s) - julianday(%(start)s)) * 86400000) AS INTEGER)"
        return self._as_difference(compiler, connection, template)

    def as_postgresql(self, compiler, connection, **extra):
        template = "CAST(ROUND(EXTRACT(EPOCH FROM (%(expressions)s - %(start)s)) * 1000) AS BIGINT)"
        return self._as_difference(compiler, connection, template)

    def _as_difference(self, compiler, connection, template):
        start, end = self.get_source_expressions()
        start_sql, start_params = compiler.compile(start)
        end_sql, end_params = compiler.compile(end)
        return template % {"expressions": end_sql, "start": start_sql}, (*end_params, *start_params)


def transcripts(*, conversations_qs=None, queue=None, agent=None, since=None, until=None) -> QuerySet[Transcript]:
    """Transcripts in scope: conversations_qs (e.g. access.conversations_for(user)), queue/agent
    (instance or Genesys id), conversation start in [since, until)."""
    return Transcript.objects.filter(
        _conversation_filter("conversation__", conversations_qs, queue, agent, since, until)
    ).order_by()


def conversation_availability(group_key, **scope) -> QuerySet:
    """One row per conversation with a stored part in scope: `group_key` (an expression over the conversation)
    and `sample`, the largest availability latency of its parts (the call's transcript is complete then)."""
    return (
        transcripts(**scope).values("conversation").annotate(group_key=group_key, sample=Max("availability_latency_ms"))
    )


def latency_by_day(*, conversations_qs=None, queue=None, agent=None, since=None, until=None) -> list[dict]:
    scope = {"conversations_qs": conversations_qs, "queue": queue, "agent": agent, "since": since, "until": until}
    stored = transcripts(**scope).annotate(group_key=_day("conversation__started_at"))
    counts = {
        _as_date(key): (count, conversations)
        for key, count, conversations in stored.values_list("group_key").annotate(
            count=Count("id"), conversations=Count("conversation", distinct=True)
        )
    }
    availability = _grouped_percentiles(
        conversation_availability(_day("conversation__started_at"), **scope), key=_as_date
    )
    store = _grouped_percentiles(stored.annotate(sample=F("store_latency_ms")), key=_as_date)
    deliveries = (
        OutboxMessage.objects.filter(
            _conversation_filter("transcript__conversation__", conversations_qs, queue, agent, since, until),
            state=OutboxMessage.State.DELIVERED,
        )
        .order_by()
        .annotate(
            group_key=_day("transcript__conversation__started_at"),
            sample=MillisecondsBetween("transcript__stored_at", "delivered_at"),
        )
    )
    deliver = _grouped_percentiles(deliveries, key=_as_date)
    rows = []
    for day, (count, conversations) in sorted(counts.items()):
        row = {"day": day, "count": count, "conversations": conversations}
        for prefix, table in (("availability", availability), ("store", store), ("deliver", deliver)):
            for name in PERCENTILES:
                row[f"{prefix}_{name}_ms"] = table.get(day, {}).get(name)
        rows.append(row)
    return rows


def accuracy_distribution(**scope) -> list[tuple[float, float, int]]:
    """Transcripts per 0.05-wide bucket of mean word confidence; [0.95, 1.0] includes 1.0."""
    bucket = Least(Floor(F("confidence_mean") * BUCKETS), Value(BUCKETS - 1), output_field=IntegerField())
    counts = dict(
        transcripts(**scope)
        .filter(confidence_mean__isnull=False)
        .annotate(bucket=bucket)
        .values_list("bucket")
        .annotate(count=Count("id"))
    )
    counts = {int(key): value for key, value in counts.items()}
    return [
        (round(index * BUCKET_WIDTH, 2), round((index + 1) * BUCKET_WIDTH, 2), counts.get(index, 0))
        for index in range(BUCKETS)
    ]


def accuracy_by_day(**scope) -> list[dict]:
    """Per day: transcripts, conversations, mean of transcript mean confidences, word-weighted low-confidence
    share, and how many transcripts fall below LOW_CONFIDENCE_THRESHOLD."""
    rows = (
        transcripts(**scope)
        .annotate(day=_day("conversation__started_at"))
        .values("day")
        .annotate(**_accuracy_columns())
        .order_by("day")
    )
    return [{**_with_word_weighted_share(row), "day": _as_date(row["day"])} for row in rows]


def by_queue(**scope) -> list[dict]:
    return _summary_by("queue", Queue, "queue", scope)


def by_agent(**scope) -> list[dict]:
    return _summary_by("agent", Agent, "agent", scope)


def _summary_by(field: str, model, label: str, scope: dict) -> list[dict]:
    """Per queue or agent (a Conversation field): counts, accuracy, leaks and latency percentiles; None groups
    the unassigned."""
    grouped = transcripts(**scope).annotate(group_key=F(f"conversation__{field}"))
    rows = grouped.values("group_key").annotate(**_accuracy_columns(), leak_count=Sum("leak_count")).order_by()
    availability = _grouped_percentiles(conversation_availability(F(f"conversation__{field}"), **scope))
    store = _grouped_percentiles(grouped.annotate(sample=F("store_latency_ms")))
    names = {obj.pk: obj for obj in model.objects.filter(pk__in=[row["group_key"] for row in rows])}
    result = []
    for row in rows:
        key = row.pop("group_key")
        owner = names.get(key)
        result.append(
            {
                f"{label}_id": owner.genesys_id if owner else None,
                f"{label}_name": str(owner) if owner else "(none)",
                **_with_word_weighted_share(row),
                **{f"availability_{name}_ms": availability.get(key, {}).get(name) for name in PERCENTILES},
                **{f"store_{name}_ms": store.get(key, {}).get(name) for name in PERCENTILES},
            }
        )
    return sorted(result, key=lambda item: (-item["count"], item[f"{label}_name"]))


def _grouped_percentiles(samples: QuerySet, *, key=lambda value: value) -> dict:
    """{key(group_key): {"p50": value, "p95": value}} for a queryset annotated with group_key and sample."""
    inner_sql, params = samples.values_list("group_key", "sample").query.sql_with_params()
    picks = ", ".join(
        f"MIN(CASE WHEN ranked.rn >= {fraction} * ranked.n THEN ranked.sample END)" for fraction in PERCENTILES.values()
    )
    sql = f"""
        SELECT ranked.group_key, {picks}
        FROM (
            SELECT samples.group_key, samples.sample,
                   ROW_NUMBER() OVER (PARTITION BY samples.group_key ORDER BY samples.sample) AS rn,
                   COUNT(*) OVER (PARTITION BY samples.group_key) AS n
            FROM ({inner_sql}) samples
            WHERE samples.sample IS NOT NULL
        ) ranked
        GROUP BY ranked.group_key
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {key(row[0]): dict(zip(PERCENTILES, row[1:], strict=True)) for row in cursor.fetchall()}


def _accuracy_columns() -> dict:
    return {
        "count": Count("id"),
        "conversations": Count("conversation", distinct=True),
        "mean_confidence": Avg("confidence_mean"),
        "words": Sum("word_count"),
        "low_confidence_words": Sum(F("low_confidence_share") * F("word_count"), output_field=FloatField()),
        "low_confidence_transcripts": Count("id", filter=Q(confidence_mean__lt=settings.LOW_CONFIDENCE_THRESHOLD)),
    }


def _with_word_weighted_share(row: dict) -> dict:
    """Replace the word sums by the share of all words that were low-confidence."""
    row = dict(row)
    words = row.pop("words") or 0
    low_words = row.pop("low_confidence_words")
    return {**row, "low_confidence_share": (low_words / words) if words and low_words is not None else None}


def _conversation_filter(prefix: str, conversations_qs, queue, agent, since, until) -> Q:
    """conversations_qs (the caller's scope) and the queue/agent/period narrowing, by the search's own filters."""
    condition = Q()
    if conversations_qs is not None:
        condition &= Q(**{f"{prefix}in": conversations_qs})
    narrowing = call_filters.SearchFilters(
        queues=_genesys_ids(queue), agents=_genesys_ids(agent), date_from=since, date_to=until
    )
    if call_filters.is_narrowing(narrowing):
        narrowed = call_filters.conversations(scope=Scope(everything=True), filters=narrowing)
        condition &= Q(**{f"{prefix}in": narrowed})
    return condition


def _genesys_ids(owner) -> tuple[str, ...]:
    """A queue or agent given as an instance or a Genesys id, as the filters take it."""
    if owner is None:
        return ()
    return (owner if isinstance(owner, str) else owner.genesys_id,)


class _UtcDate(TruncDate):
    """The UTC day of a datetime. On SQLite Django truncates through a Python callback per row (its time zone
    support), which was a third of the charts page; SQLite stores datetimes as UTC text, so its own date() gives
    the same day without leaving C."""

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.lhs)
        return f"date({sql})", params


def _day(field: str) -> TruncDate:
    return _UtcDate(field, tzinfo=UTC)


def _as_date(value) -> date:
    """SQLite hands dates back from raw SQL as text, PostgreSQL as date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
