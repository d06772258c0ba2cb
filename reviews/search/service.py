"""search() and search_grouped(): one interface over SQLite FTS5 and PostgreSQL tsvector.

Query plan (see performance-and-reliability.md §2), one statement in the common case:
1. candidates: the matching, in-scope, filtered utterances, LIMIT COUNT_CAP + 1 (filters first,
   LIMIT always). Ranking cost grows with the number of matches, not the table, so a common term
   is ranked among its newest COUNT_CAP + 1 matches and the total is reported as "10000+";
2. in the same statement, count the candidates and rank one page by bm25 / ts_rank, then recency;
3. fetch rows, conversations and snippets (snippet()/ts_headline) for the returned page only.
PostgreSQL takes candidates unordered first so a rare term never walks the primary key backwards
(the ORDER BY id + @@ planner trap); only when a term is common does it re-take the newest ones.
SQLite with selective conversation filters (few conversations kept, e.g. one queue over 30 days) pre-filters
the newest-first match walk by rowid buckets of the kept conversations' utterances, so a walked match that
cannot qualify costs one in-memory lookup instead of two table-row joins (_Prepared._span_candidates_sql).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from reviews.access import Scope, scope_for
from reviews.models import Conversation, Utterance
from reviews.search.pagination import decode_cursor, encode_cursor
from reviews.search.postgres import PostgresBackend
from reviews.search.query import ParsedQuery, parse_query
from reviews.search.snippets import render_snippet
from reviews.search.sqlite import SqliteBackend
from reviews.search.types import (
    ConversationHits,
    GroupedSearchPage,
    SearchFilters,
    SearchHit,
    SearchPage,
)

# Matches counted and ranked per query: 10,000 cost ~400 ms for a common term at 1M rows on SQLite;
# 1,000 keeps p95 well under 100 ms, and "1,000+" tells a reviewer as much as "10,000+".
COUNT_CAP = 1_000
# SQLite, selective conversation filters (scope, queue, agent, date range, review status): when they keep at most
# SPAN_MAX_CONVERSATIONS conversations and at most SPAN_MAX_SHARE of all of them, the match walk is pre-filtered by
# rowid buckets of those conversations' utterances instead of joining every match (see _Prepared._use_spans).
SPAN_MAX_CONVERSATIONS = 1_000
SPAN_MAX_SHARE = 0.125
SPAN_BUCKET_SHIFT = 6  # rowid >> 6: buckets of 64 consecutive utterance ids
MAX_LIMIT = 100
HITS_PER_CONVERSATION = 3

MESSAGE_EMPTY = "Type one or more words to search for."
MESSAGE_ONLY_EXCLUSIONS = 'Add at least one word or "phrase" to find; -word only excludes.'
MESSAGE_NO_SCOPE = "You have no conversations to search yet; ask an administrator for queue or division access."
MESSAGE_NOTHING_SEARCHABLE = "Your search has only very common words; add a more specific word."
MESSAGE_CAPPED = f"Showing the best matches among the newest {COUNT_CAP:,}; add words or filters to narrow down."


def backend():
    return PostgresBackend() if connection.vendor == "postgresql" else SqliteBackend()


def search(
    *, user, query: str, filters: SearchFilters | None = None, limit: int = 20, cursor: str | None = None
) -> SearchPage:
    """Utterance hits the user may see, best first. ValueError for a bad cursor or limit."""
    limit = _checked_limit(limit)
    offset = decode_cursor(cursor, max_offset=COUNT_CAP)
    prepared = _prepare(user=user, query=query, filters=filters or SearchFilters())
    if isinstance(prepared, str):
        return SearchPage(results=[], total=0, next_cursor=None, message=prepared)
    page_sql = (
        "SELECT id, score, row_number() OVER (ORDER BY score DESC, started_at DESC, id DESC) AS rank "
        "FROM candidates ORDER BY rank LIMIT %s OFFSET %s"
    )
    # The window holds COUNT_CAP + 1 rows only to detect "more than COUNT_CAP"; pages stop at COUNT_CAP.
    page_limit = max(0, min(limit, COUNT_CAP - offset))
    counts, rows = _run_ranked(prepared, page_sql=page_sql, page_params=[page_limit, offset])
    total, capped = min(counts.hits, COUNT_CAP), counts.hits > COUNT_CAP
    return SearchPage(
        results=_hits(prepared, rows),
        total=total,
        next_cursor=encode_cursor(offset + limit) if offset + limit < total else None,
        total_capped=capped,
        message=MESSAGE_CAPPED if capped else "",
    )


def search_grouped(
    *,
    user,
    query: str,
    filters: SearchFilters | None = None,
    limit: int = 20,
    cursor: str | None = None,
    hits_per_conversation: int = HITS_PER_CONVERSATION,
) -> GroupedSearchPage:
    """Conversations ranked by their best hit, each with its top `hits_per_conversation` hits."""
    limit = _checked_limit(limit)
    offset = decode_cursor(cursor, max_offset=COUNT_CAP)
    parsed_terms = parse_query(query).terms
    prepared = _prepare(user=user, query=query, filters=filters or SearchFilters())
    if isinstance(prepared, str):
        return GroupedSearchPage(groups=[], total=0, next_cursor=None, message=prepared, terms=parsed_terms)
    page_sql = (
        "SELECT n.id, n.score,"
        "  row_number() OVER (ORDER BY n.best_score DESC, n.started_at DESC, n.conversation_id DESC, n.position) AS rank"
        " FROM ("
        "  SELECT c.id, c.score, b.best_score, b.started_at, b.conversation_id,"
        "    row_number() OVER (PARTITION BY c.conversation_id ORDER BY c.score DESC, c.id) AS position"
        "  FROM candidates c JOIN ("
        "    SELECT conversation_id, max(score) AS best_score, max(started_at) AS started_at FROM candidates"
        "    GROUP BY conversation_id ORDER BY best_score DESC, started_at DESC, conversation_id DESC"
        "    LIMIT %s OFFSET %s"
        "  ) b ON b.conversation_id = c.conversation_id"
        ") n WHERE n.position <= %s"
    )
    counts, rows = _run_ranked(prepared, page_sql=page_sql, page_params=[limit, offset, hits_per_conversation])
    by_conversation: dict[int, list[SearchHit]] = defaultdict(list)
    for hit in _hits(prepared, rows):
        by_conversation[hit.conversation.pk].append(hit)
    groups = [
        ConversationHits(conversation=group[0].conversation, hits=group, score=max(hit.score for hit in group))
        for group in by_conversation.values()
    ]
    capped = counts.hits > COUNT_CAP
    return GroupedSearchPage(
        groups=groups,
        total=counts.conversations,
        next_cursor=encode_cursor(offset + limit) if offset + limit < counts.conversations else None,
        total_capped=capped,
        message=MESSAGE_CAPPED if capped else "",
        hit_total=min(counts.hits, COUNT_CAP),
        terms=parsed_terms,
    )


@dataclass(frozen=True)
class _Counts:
    hits: int  # candidate utterances, up to COUNT_CAP + 1
    conversations: int  # distinct conversations among them


def _run_ranked(prepared: _Prepared, *, page_sql: str, page_params: list) -> tuple[_Counts, list[tuple[int, float]]]:
    """Count the candidates and rank one page of them in a single statement.

    Where walking matches newest-first is free (FTS5 rowid order) the window is always the newest
    matches. On PostgreSQL it is first taken unordered (no primary-key walk for rare terms), and
    only when there are more than COUNT_CAP matches (a common term) re-taken newest-first.
    """
    newest_first = prepared.engine.newest_first_is_free
    counts, rows = _ranked_statement(prepared, newest_first=newest_first, page_sql=page_sql, page_params=page_params)
    if counts.hits > COUNT_CAP and not newest_first:
        counts, rows = _ranked_statement(prepared, newest_first=True, page_sql=page_sql, page_params=page_params)
    return counts, rows


def _ranked_statement(
    prepared: _Prepared, *, newest_first: bool, page_sql: str, page_params: list
) -> tuple[_Counts, list[tuple[int, float]]]:
    candidates, params = prepared.candidates_sql(newest_first=newest_first)
    # The LEFT JOIN returns the counts even when the page is empty (an offset past the end).
    sql = (
        f"WITH candidates AS {prepared.engine.materialized} ({candidates}), "
        "counted AS (SELECT count(*) AS hits, count(DISTINCT conversation_id) AS conversations FROM candidates) "
        "SELECT counted.hits, counted.conversations, page.id, page.score "
        f"FROM counted LEFT JOIN ({page_sql}) page ON 1 = 1 ORDER BY page.rank"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *page_params])
        result = cursor.fetchall()
    counts = _Counts(hits=result[0][0], conversations=result[0][1]) if result else _Counts(0, 0)
    ordered = [(row[2], float(row[3])) for row in result if row[2] is not None]
    return counts, ordered


def _checked_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


class _Prepared:
    """Everything the SQL needs: engine, compiled query, and the WHERE clause with its parameters."""

    def __init__(
        self,
        *,
        engine,
        compiled: str,
        where: list[str],
        params: list,
        parsed: ParsedQuery,
        joins_transcript: bool,
        conversation_where: list[str] = (),
        conversation_params: list = (),
    ):
        self.engine = engine
        # The subset of `where` that tests reviews_conversation (alias c) only, with its parameters.
        self.conversation_where = list(conversation_where)
        self.conversation_params = list(conversation_params)
        self._spans: bool | None = None
        self.joins_transcript = joins_transcript
        self.compiled = compiled
        self.parsed = parsed
        match_sql, match_params = engine.match(compiled)
        self.where_sql = " AND ".join([match_sql, *where])
        self.where_params = [*match_params, *params]
        self.score_sql, self.score_params = engine.score(compiled)

    def candidates_sql(self, *, newest_first: bool) -> tuple[str, list]:
        """(id, conversation_id, started_at, score) of up to COUNT_CAP + 1 matches: the rank window."""
        order = f"ORDER BY {self.engine.newest_first_sql}" if newest_first else ""
        if self._use_spans():
            return self._span_candidates_sql(order)
        sql = (
            f"SELECT u.id AS id, u.conversation_id AS conversation_id, c.started_at AS started_at, "
            f"{self.score_sql} AS score "
            f"FROM {self.engine.source_sql} JOIN reviews_conversation c ON c.id = u.conversation_id "
            f"{self._transcript_join()} WHERE {self.where_sql} {order} LIMIT %s"
        )
        return sql, [*self.score_params, *self.where_params, COUNT_CAP + 1]

    def _use_spans(self) -> bool:
        """Whether the conversation filters are selective enough for the rowid-bucket pre-filter (SQLite).

        Walking matches newest-first and filtering row by row joins ~1/selectivity matches per kept row to
        reviews_utterance (wide rows) and reviews_conversation: 25 per kept row for one queue of 8 over 30 of
        90 days. One cheap statement (an index range count, capped, and max(id)) decides.
        """
        if self._spans is None:
            self._spans = False
            if self.engine.supports_rowid_buckets and self.conversation_where:
                sql = (
                    "SELECT (SELECT count(*) FROM (SELECT 1 FROM reviews_conversation c "
                    f"WHERE {' AND '.join(self.conversation_where)} LIMIT %s)), "
                    "(SELECT max(id) FROM reviews_conversation)"
                )
                with connection.cursor() as cursor:
                    cursor.execute(sql, [*self.conversation_params, SPAN_MAX_CONVERSATIONS + 1])
                    kept, highest = cursor.fetchone()
                self._spans = kept <= SPAN_MAX_CONVERSATIONS and kept <= SPAN_MAX_SHARE * (highest or 0)
        return self._spans

    def _span_candidates_sql(self, order: str) -> tuple[str, list]:
        """The match walk, pre-filtered by `rowid >> SHIFT IN (buckets of the kept conversations' utterances)`.

        A transcript's utterances have (nearly) consecutive ids: it is stored in one transaction. A conversation's
        parts (recording segments, consult/callback legs) are stored apart, possibly hours apart, so the spans are
        per transcript: a span per conversation would cover every id written between its parts. Per kept
        conversation's transcript two index seeks give its first and last utterance id; the buckets covering
        [first, last] form a small in-memory IN-list, so a walked match costs one lookup in it instead of two table
        rows. A bucket may also hold other conversations' rows: the bucket test is only a superset, the full WHERE
        still decides.
        The expression on rowid keeps FTS5 from taking it as a rowid constraint (one MATCH per value: far slower).
        """
        shift = SPAN_BUCKET_SHIFT
        sql = (
            f"SELECT u.id AS id, u.conversation_id AS conversation_id, c.started_at AS started_at, "
            f"{self.score_sql} AS score "
            f"FROM {self.engine.source_sql} JOIN reviews_conversation c ON c.id = u.conversation_id "
            f"{self._transcript_join()} WHERE {self.where_sql} "
            f"AND ({self.engine.rowid_sql} >> {shift}) IN ({self.buckets_sql()}) {order} LIMIT %s"
        )
        return sql, [*self.score_params, *self.where_params, *self.conversation_params, COUNT_CAP + 1]

    def buckets_sql(self) -> str:
        """The utterance id buckets (id >> SPAN_BUCKET_SHIFT) of the kept conversations' transcripts; its
        parameters are conversation_params."""
        shift = SPAN_BUCKET_SHIFT
        return (
            "WITH RECURSIVE spans(lo, hi) AS (SELECT"
            " (SELECT x.id FROM reviews_utterance x WHERE x.transcript_id = t.id ORDER BY x.id LIMIT 1),"
            " (SELECT x.id FROM reviews_utterance x WHERE x.transcript_id = t.id ORDER BY x.id DESC LIMIT 1)"
            " FROM reviews_transcript t JOIN reviews_conversation c ON c.id = t.conversation_id"
            f" WHERE {' AND '.join(self.conversation_where)}),"
            f" bucket(n, last) AS (SELECT lo >> {shift}, hi >> {shift} FROM spans"
            " UNION SELECT n + 1, last FROM bucket WHERE n < last)"
            " SELECT n FROM bucket"
        )

    def _transcript_join(self) -> str:
        return "JOIN reviews_transcript t ON t.id = u.transcript_id" if self.joins_transcript else ""


def _prepare(*, user, query: str, filters: SearchFilters) -> _Prepared | str:
    """A _Prepared search, or the friendly message explaining why nothing can match."""
    parsed = parse_query(query)
    if parsed.is_empty:
        return MESSAGE_EMPTY
    if not parsed.has_positive_terms:
        return MESSAGE_ONLY_EXCLUSIONS
    scope = scope_for(user)
    if scope.is_empty:
        return MESSAGE_NO_SCOPE
    engine = backend()
    compiled = engine.compile(parsed)
    if compiled is None:
        return MESSAGE_NOTHING_SEARCHABLE
    where, params = _filter_conditions(scope=scope, filters=filters)
    conversation_where, conversation_params = _filter_conditions(scope=scope, filters=filters, conversation_only=True)
    return _Prepared(
        engine=engine,
        compiled=compiled,
        where=where,
        params=params,
        parsed=parsed,
        joins_transcript=bool(filters.redaction_status),
        conversation_where=conversation_where,
        conversation_params=conversation_params,
    )


def _filter_conditions(
    *, scope: Scope, filters: SearchFilters, conversation_only: bool = False
) -> tuple[list[str], list]:
    """SQL conditions (aliases u, c, t) and parameters; conversation_only keeps those on c alone."""
    where: list[str] = []
    params: list = []
    if not scope.everything:
        # Plain id lists, tested per candidate row without joins (scopes are a handful of queues/divisions).
        alternatives = []
        if scope.queue_ids:
            alternatives.append(f"c.queue_id IN ({_marks(scope.queue_ids)})")
            params += sorted(scope.queue_ids)
        if scope.division_ids:
            alternatives.append(f"c.division_id IN ({_marks(scope.division_ids)})")
            params += sorted(scope.division_ids)
        where.append("(" + " OR ".join(alternatives) + ")")
    if filters.speaker and not conversation_only:
        where.append("u.speaker = %s")
        params.append(filters.speaker)
    if filters.date_from:
        where.append("c.started_at >= %s")
        params.append(_db_datetime(_day_start(filters.date_from)))
    if filters.date_to:
        where.append("c.started_at < %s")
        params.append(_db_datetime(_day_end(filters.date_to)))
    if filters.queues:
        where.append(f"c.queue_id IN (SELECT id FROM reviews_queue WHERE genesys_id IN ({_marks(filters.queues)}))")
        params += list(filters.queues)
    if filters.agents:
        where.append(f"c.agent_id IN (SELECT id FROM reviews_agent WHERE genesys_id IN ({_marks(filters.agents)}))")
        params += list(filters.agents)
    if filters.redaction_status and not conversation_only:
        where.append("t.redaction_status = %s")
        params.append(filters.redaction_status)
    if filters.confidence_min is not None and not conversation_only:
        where.append("u.confidence >= %s")
        params.append(float(filters.confidence_min))
    if filters.confidence_max is not None and not conversation_only:
        where.append("u.confidence <= %s")
        params.append(float(filters.confidence_max))
    if filters.review_status:
        where.append("c.review_status = %s")
        params.append(filters.review_status)
    return where, params


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values))


def _db_datetime(value: dt.datetime):
    # Raw SQL bypasses the field's conversion; SQLite stores naive UTC text, so adapt like the ORM does.
    return connection.ops.adapt_datetimefield_value(value)


def _day_start(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)
    return timezone.make_aware(dt.datetime.combine(value, dt.time.min))


def _day_end(value: dt.date | dt.datetime) -> dt.datetime:
    # A date means "through the end of that day"; a datetime is an exact, exclusive bound.
    if isinstance(value, dt.datetime):
        return _day_start(value)
    return _day_start(value + dt.timedelta(days=1))


def _hits(prepared: _Prepared, rows: list[tuple[int, float]]) -> list[SearchHit]:
    """Hydrate ranked (id, score) rows, keeping their order; snippets only for these rows."""
    if not rows:
        return []
    ids = [utterance_id for utterance_id, _ in rows]
    utterances = {
        row["id"]: row
        for row in Utterance.objects.filter(pk__in=ids).values(
            "id", "conversation_id", "speaker", "start_ms", "text", "transcript__communication_id"
        )
    }
    conversation_ids = {row["conversation_id"] for row in utterances.values()}
    conversations = Conversation.objects.select_related("queue", "agent", "division").in_bulk(conversation_ids)
    marked = prepared.engine.snippets(prepared.compiled, ids)
    hits = []
    for utterance_id, score in rows:
        row = utterances.get(utterance_id)
        if row is None:  # deleted between the ranking and this query
            continue
        hits.append(
            SearchHit(
                conversation=conversations[row["conversation_id"]],
                utterance_id=utterance_id,
                communication_id=row["transcript__communication_id"],
                speaker=row["speaker"],
                start_ms=row["start_ms"],
                snippet_html=render_snippet(marked.get(utterance_id), fallback_text=row["text"]),
                score=score,
            )
        )
    return hits
