"""search() and search_grouped(): one interface over SQLite FTS5 and PostgreSQL tsvector; list_conversations():
the work list without words. Every filter and sort order is reviews/search/filters.py's.

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

from collections import defaultdict
from dataclasses import dataclass

from django.db import connection

from reviews.access import scope_for
from reviews.models import Conversation, Utterance
from reviews.search import filters as call_filters
from reviews.search.filters import DEFAULT_LISTING_SORT, RELEVANCE, SearchFilters
from reviews.search.pagination import decode_cursor, encode_cursor
from reviews.search.postgres import PostgresBackend
from reviews.search.query import ParsedQuery, parse_query
from reviews.search.snippets import render_snippet
from reviews.search.sqlite import SqliteBackend
from reviews.search.types import (
    ConversationHits,
    ConversationPage,
    GroupedSearchPage,
    SearchHit,
    SearchPage,
    WorkItem,
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
# A work list pages (and exports) at most this far: past it, filters narrow better than paging.
MAX_LISTING_OFFSET = 10_000

MESSAGE_EMPTY = "Type one or more words to search for."
MESSAGE_ONLY_EXCLUSIONS = 'Add at least one word or "phrase" to find; -word only excludes.'
MESSAGE_NO_SCOPE = "You have no conversations to search yet; ask an administrator for queue or division access."
MESSAGE_NOTHING_SEARCHABLE = "Your search has only very common words; add a more specific word."
MESSAGE_CAPPED = f"Showing the best matches among the newest {COUNT_CAP:,}; add words or filters to narrow down."


def backend():
    return PostgresBackend() if connection.vendor == "postgresql" else SqliteBackend()


def search(
    *,
    user,
    query: str,
    filters: SearchFilters | None = None,
    limit: int = 20,
    cursor: str | None = None,
    sort: str = RELEVANCE,
) -> SearchPage:
    """Utterance hits the user may see, best first (or in their calls' `sort` order, then best first).

    ValueError for a bad cursor, limit or sort.
    """
    limit = _checked_limit(limit)
    order = _hit_order(sort)
    offset = decode_cursor(cursor, max_offset=COUNT_CAP)
    prepared = _prepare(user=user, query=query, filters=filters or SearchFilters())
    if isinstance(prepared, str):
        return SearchPage(results=[], total=0, next_cursor=None, message=prepared)
    # Only a call-level sort needs the conversation rows (cv).
    join = "" if sort == RELEVANCE else "JOIN reviews_conversation cv ON cv.id = ca.conversation_id "
    page_sql = (
        f"SELECT ca.id, ca.score, row_number() OVER (ORDER BY {order}) AS rank "
        f"FROM candidates ca {join}ORDER BY rank LIMIT %s OFFSET %s"
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
        conversation_total=counts.conversations,
    )


def search_grouped(
    *,
    user,
    query: str,
    filters: SearchFilters | None = None,
    limit: int = 20,
    cursor: str | None = None,
    hits_per_conversation: int = HITS_PER_CONVERSATION,
    sort: str = RELEVANCE,
) -> GroupedSearchPage:
    """Conversations ranked by their best hit (or by `sort`), each with its top `hits_per_conversation` hits.

    With a call-level sort the order covers the same window as the count: the calls of the newest COUNT_CAP + 1
    matches. ValueError for a bad cursor, limit or sort.
    """
    return _grouped(
        user=user,
        query=query,
        filters=filters,
        limit=_checked_limit(limit),
        cursor=cursor,
        hits_per_conversation=hits_per_conversation,
        sort=sort,
    )


def search_grouped_all(*, user, query: str, filters: SearchFilters | None = None, sort: str = RELEVANCE):
    """Every conversation search_grouped would page through, in order, each with its best hit (for exports)."""
    return _grouped(
        user=user, query=query, filters=filters, limit=COUNT_CAP + 1, cursor=None, hits_per_conversation=1, sort=sort
    )


def _grouped(
    *, user, query: str, filters, limit: int, cursor, hits_per_conversation: int, sort: str
) -> GroupedSearchPage:
    order = _group_order(sort)
    offset = decode_cursor(cursor, max_offset=COUNT_CAP)
    parsed_terms = parse_query(query).terms
    prepared = _prepare(user=user, query=query, filters=filters or SearchFilters())
    if isinstance(prepared, str):
        return GroupedSearchPage(groups=[], total=0, next_cursor=None, message=prepared, terms=parsed_terms)
    page_sql = (
        "SELECT n.id, n.score, row_number() OVER (ORDER BY n.group_rank, n.position) AS rank"
        " FROM ("
        "  SELECT c.id, c.score, b.group_rank,"
        "    row_number() OVER (PARTITION BY c.conversation_id ORDER BY c.score DESC, c.id) AS position"
        "  FROM candidates c JOIN ("
        f"    SELECT g.conversation_id, row_number() OVER (ORDER BY {order}) AS group_rank FROM ("
        "      SELECT conversation_id, max(score) AS best_score, max(started_at) AS started_at FROM candidates"
        "      GROUP BY conversation_id"
        "    ) g JOIN reviews_conversation cv ON cv.id = g.conversation_id"
        f"    ORDER BY {order} LIMIT %s OFFSET %s"
        "  ) b ON b.conversation_id = c.conversation_id"
        ") n WHERE n.position <= %s"
    )
    counts, rows = _run_ranked(prepared, page_sql=page_sql, page_params=[limit, offset, hits_per_conversation])
    by_conversation: dict[int, list[SearchHit]] = defaultdict(list)
    for hit in _hits(prepared, rows):
        by_conversation[hit.conversation.pk].append(hit)
    metrics = call_filters.call_metrics(by_conversation)
    groups = [
        ConversationHits(
            conversation=group[0].conversation,
            hits=group,
            score=max(hit.score for hit in group),
            metrics=metrics.get(group[0].conversation.pk),
        )
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


def _hit_order(sort: str) -> str:
    """ORDER BY of hits (candidates ca, their conversation cv): best first, or their calls' order, then best."""
    best = "ca.score DESC, ca.started_at DESC, ca.id DESC"
    if sort == RELEVANCE:
        return best
    return f"{call_filters.order_by_sql(sort, alias='cv')}, {best}"


def _group_order(sort: str) -> str:
    """ORDER BY of conversations (g: best_score and started_at of their hits, cv: the conversation row)."""
    if sort == RELEVANCE:
        return "g.best_score DESC, g.started_at DESC, g.conversation_id DESC"
    return call_filters.order_by_sql(sort, alias="cv")


# The work list: calls without words


def list_conversations(
    *,
    user,
    filters: SearchFilters | None = None,
    sort: str = DEFAULT_LISTING_SORT,
    limit: int = 20,
    cursor: str | None = None,
) -> ConversationPage:
    """One page of the calls the user may see that pass `filters`, in `sort` order, with the total.

    ValueError for a bad cursor, limit or sort (RELEVANCE needs words).
    """
    limit = _checked_limit(limit)
    offset = decode_cursor(cursor, max_offset=MAX_LISTING_OFFSET)
    ids, total = conversation_ids(user=user, filters=filters, sort=sort, limit=limit, offset=offset)
    if total is None:
        return ConversationPage(items=[], total=0, next_cursor=None, message=MESSAGE_NO_SCOPE)
    return ConversationPage(
        items=work_items(ids),
        total=total,
        next_cursor=encode_cursor(offset + limit) if offset + limit < min(total, MAX_LISTING_OFFSET) else None,
    )


def conversation_ids(
    *, user, filters: SearchFilters | None, sort: str, limit: int, offset: int = 0
) -> tuple[list[int], int | None]:
    """(ids of one page of calls in `sort` order, how many pass the filters); None for the total: no scope."""
    order = call_filters.order_by_sql(sort, alias="c")
    scope = scope_for(user)
    if scope.is_empty:
        return [], None
    where, params = call_filters.calls_conditions(scope=scope, filters=filters or SearchFilters())
    where_sql = f"WHERE {' AND '.join(where)}" if where else ""
    # One statement: the window count is taken before LIMIT, so an in-page total costs no second query.
    sql = f"SELECT c.id, count(*) OVER () FROM reviews_conversation c {where_sql} ORDER BY {order} LIMIT %s OFFSET %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        rows = cursor.fetchall()
        if rows:
            return [row[0] for row in rows], rows[0][1]
        cursor.execute(f"SELECT count(*) FROM reviews_conversation c {where_sql}", params)
        return [], cursor.fetchone()[0]


def work_items(ids: list[int]) -> list[WorkItem]:
    """The calls `ids` in this order, with their queue, agent and call-level values (three queries in all)."""
    conversations = Conversation.objects.select_related("queue", "agent").in_bulk(ids)
    metrics = call_filters.call_metrics(ids)
    return [WorkItem(conversation=conversations[pk], metrics=metrics[pk]) for pk in ids if pk in conversations]


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
        conversation_where: list[str] = (),
        conversation_params: list = (),
    ):
        self.engine = engine
        # The subset of `where` that tests reviews_conversation (alias c) only, with its parameters.
        self.conversation_where = list(conversation_where)
        self.conversation_params = list(conversation_params)
        self._spans: bool | None = None
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
            f"WHERE {self.where_sql} {order} LIMIT %s"
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
            f"WHERE {self.where_sql} "
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
    conversation_where, conversation_params = call_filters.conversation_conditions(scope=scope, filters=filters)
    utterance_where, utterance_params = call_filters.utterance_conditions(filters)
    # The rowid-bucket planning tests its conditions twice more: without the filters that scan every utterance.
    span_where, span_params = call_filters.conversation_conditions(scope=scope, filters=filters, utterance_scans=False)
    return _Prepared(
        engine=engine,
        compiled=compiled,
        where=[*utterance_where, *conversation_where],
        params=[*utterance_params, *conversation_params],
        parsed=parsed,
        conversation_where=span_where,
        conversation_params=span_params,
    )


def _hits(prepared: _Prepared, rows: list[tuple[int, float]]) -> list[SearchHit]:
    """Hydrate ranked (id, score) rows, keeping their order; snippets only for these rows."""
    if not rows:
        return []
    ids = [utterance_id for utterance_id, _ in rows]
    utterances = {
        row["id"]: row
        for row in Utterance.objects.filter(pk__in=ids).values(
            "id",
            "conversation_id",
            "speaker",
            "start_ms",
            "text",
            "transcript__communication_id",
            "transcript__source",
            "transcript__asr_engine",
            "transcript__asr_model",
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
                transcript_source=row["transcript__source"],
                asr_engine=row["transcript__asr_engine"],
                asr_model=row["transcript__asr_model"],
            )
        )
    return hits
