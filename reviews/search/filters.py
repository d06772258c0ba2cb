"""The conversation filters and sort orders: one implementation for the search page and its work list, the CSV
export, the JSON API and the charts.

Every filter is a fact about the call (the conversation), with two exceptions that say which turns count:
- `speaker`: with words, only that side's utterances can be hits; without words, the call must have a turn by that
  side;
- `transcript_source` ("genesys" | "vault-asr", Transcript.Source): with words, only the turns of parts from that
  source can be hits (a vault speech-to-text hit is never shown for "genesys"); without words, the call must have a
  part from that source.
The call-level facts are defined once, here, as SQL both databases run (alias `c` is reviews_conversation):

- duration: ended_at - started_at; a call without an end time has none;
- confidence: the call's mean word confidence as the review page and the API show it (views/parts.combined_metrics):
  a one-part call's own value, otherwise its parts' values weighted by their word counts;
- sentiment: the mean Genesys sentiment (-1..1) of the call's phrases that carry one; negative at or below
  -SENTIMENT_MARK, positive at or above SENTIMENT_MARK (the review page's marks), neutral between; a call without
  any sentiment event has none;
- redaction status: the worst of its parts' (leaks found, then no markers, then verified), as the API reports it;
- topic: a Genesys topic detected in any of its phrases (names compared case-insensitively);
- leak kind: the vault found, and masked, a value of that kind (card number, SSN, ...) in one of its parts;
- audio only: no Genesys transcript, and a kept recording: the call's record is its audio (the vault's own
  speech-to-text of it, a vault-asr part, does not make it a transcribed call);
- evaluated: "human" when a person finished an evaluation of it (submitted or disputed, as coverage counts them:
  reviews/evaluations/coverage.py), "automatic" when the rules scored it, "not_human" when no person has yet;
- score: the mean score of its finished human evaluations, else its automatic score; none when neither exists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from reviews.access import Scope, scope_for
from reviews.models import Conversation, Transcript
from reviews.redaction import FINDING_KINDS
from reviews.templatetags.transcript_tags import SENTIMENT_MARK

SPEAKERS = ("internal", "external")
TRANSCRIPT_SOURCES = tuple(Transcript.Source.values)
TRANSCRIPT_SOURCE_LABELS = dict(Transcript.Source.choices)
DIRECTIONS = ("inbound", "outbound")
SENTIMENTS = ("negative", "neutral", "positive")
EVALUATED = {
    "human": "Evaluated by a person",
    "automatic": "Scored automatically",
    "not_human": "Not evaluated by a person",
}
# An evaluation a person finished (reviews/evaluations/coverage.HUMAN_DONE: the same statuses).
HUMAN_DONE_SQL = "e.kind = 'human' AND e.status IN ('submitted', 'disputed')"
# Worst first: a call's redaction status is the first of these any of its parts has.
REDACTION_WORST_FIRST = (
    Transcript.RedactionStatus.LEAKS_FOUND,
    Transcript.RedactionStatus.NO_MARKERS,
    Transcript.RedactionStatus.VERIFIED,
)
MAX_TOPIC_CHARS = 200

# Sort key -> label. A key is "<value>_<direction>" with the value's SQL in SORT_KEYS; ties: newest call first,
# calls without the value last.
SORT_LABELS = {
    "relevance": "Best match",
    "date_desc": "Newest first",
    "date_asc": "Oldest first",
    "duration_desc": "Longest first",
    "duration_asc": "Shortest first",
    "sentiment_asc": "Most negative first",
    "sentiment_desc": "Most positive first",
    "confidence_asc": "Lowest confidence first",
    "confidence_desc": "Highest confidence first",
    "score_asc": "Lowest evaluation score first",
    "score_desc": "Highest evaluation score first",
}
SORTS = tuple(SORT_LABELS)
RELEVANCE = "relevance"  # with words only: the best hit's score
DEFAULT_LISTING_SORT = "date_desc"


@dataclass(frozen=True)
class SearchFilters:
    """Narrow a search or a work list. queues and agents hold Genesys ids; dates bound conversation.started_at.

    A `date` is a whole day in the current time zone (date_to inclusive); a `datetime` is exact
    (date_to exclusive). Durations are whole seconds.
    """

    speaker: str | None = None  # "internal" | "external" | None
    date_from: dt.date | dt.datetime | None = None
    date_to: dt.date | dt.datetime | None = None
    queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    redaction_status: str | None = None
    confidence_min: float | None = None
    confidence_max: float | None = None
    review_status: str | None = None
    direction: str | None = None
    duration_min_seconds: int | None = None
    duration_max_seconds: int | None = None
    sentiment: str | None = None
    topic: str | None = None
    leak_kind: str | None = None
    audio_only: bool = False
    evaluated: str | None = None  # a key of EVALUATED
    transcript_source: str | None = None  # a Transcript.Source value: whose transcript the turns are

    def __post_init__(self) -> None:
        for name, allowed in (
            ("speaker", SPEAKERS),
            ("direction", DIRECTIONS),
            ("sentiment", SENTIMENTS),
            ("leak_kind", FINDING_KINDS),
            ("redaction_status", Transcript.RedactionStatus.values),
            ("review_status", Conversation.ReviewStatus.values),
            ("evaluated", tuple(EVALUATED)),
            ("transcript_source", TRANSCRIPT_SOURCES),
        ):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.topic is not None:
            object.__setattr__(self, "topic", self.topic.strip()[:MAX_TOPIC_CHARS] or None)
        # Accept any iterable (list from a form, single string) but store a hashable tuple.
        object.__setattr__(self, "queues", _as_id_tuple(self.queues))
        object.__setattr__(self, "agents", _as_id_tuple(self.agents))

    def as_dict(self) -> dict:
        """Only the filters that are set, JSON-friendly (for audit records and echoing back)."""
        values = {
            "speaker": self.speaker,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "queues": list(self.queues),
            "agents": list(self.agents),
            "redaction_status": self.redaction_status,
            "confidence_min": self.confidence_min,
            "confidence_max": self.confidence_max,
            "review_status": self.review_status,
            "direction": self.direction,
            "duration_min_seconds": self.duration_min_seconds,
            "duration_max_seconds": self.duration_max_seconds,
            "sentiment": self.sentiment,
            "topic": self.topic,
            "leak_kind": self.leak_kind,
            "audio_only": self.audio_only or None,
            "evaluated": self.evaluated,
            "transcript_source": self.transcript_source,
        }
        return {name: value for name, value in values.items() if value not in (None, [])}


def asr_description(engine: str, model: str) -> str:
    """Which engine and model made a vault transcript, as every page names them: "pocketsphinx, en-us (...)"."""
    return ", ".join(name for name in (engine, model) if name) or "engine not recorded"


def _as_id_tuple(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(str(item) for item in value if str(item))


# Call-level values (alias is the reviews_conversation alias of the surrounding query)


def duration_ms_sql(alias: str = "c") -> str:
    """Whole milliseconds, rounded as aggregates.MillisecondsBetween rounds (julianday() is not exact)."""
    if connection.vendor == "postgresql":
        return f"CAST(ROUND(EXTRACT(EPOCH FROM ({alias}.ended_at - {alias}.started_at)) * 1000) AS BIGINT)"
    return f"CAST(ROUND((julianday({alias}.ended_at) - julianday({alias}.started_at)) * 86400000) AS INTEGER)"


def confidence_sql(alias: str = "c") -> str:
    weighted = "t.confidence_mean IS NOT NULL AND t.word_count > 0"
    return (
        "(SELECT CASE WHEN count(*) = 1 THEN max(t.confidence_mean) ELSE "
        f"sum(CASE WHEN {weighted} THEN t.confidence_mean * t.word_count END) * 1.0 "
        f"/ NULLIF(sum(CASE WHEN {weighted} THEN t.word_count END), 0) END "
        f"FROM reviews_transcript t WHERE t.conversation_id = {alias}.id)"
    )


def sentiment_sql(alias: str = "c") -> str:
    return (
        "(SELECT avg(s.sentiment) FROM reviews_utterance s "
        f"WHERE s.conversation_id = {alias}.id AND s.sentiment IS NOT NULL)"
    )


def redaction_status_sql(alias: str = "c") -> str:
    """The worst redaction status of the call's parts (REDACTION_WORST_FIRST), NULL without a part."""
    rank = " ".join(f"WHEN '{status}' THEN {n}" for n, status in enumerate(REDACTION_WORST_FIRST))
    return (
        "(SELECT r.redaction_status FROM reviews_transcript r "
        f"WHERE r.conversation_id = {alias}.id ORDER BY CASE r.redaction_status {rank} END LIMIT 1)"
    )


def score_sql(alias: str = "c") -> str:
    human = (
        f"(SELECT avg(e.score) FROM reviews_evaluation e WHERE e.conversation_id = {alias}.id "
        f"AND e.score IS NOT NULL AND {HUMAN_DONE_SQL})"
    )
    automatic = (
        f"(SELECT avg(e.score) FROM reviews_evaluation e WHERE e.conversation_id = {alias}.id "
        "AND e.score IS NOT NULL AND e.kind = 'automatic')"
    )
    return f"COALESCE({human}, {automatic})"


def _evaluation_exists(condition: str) -> str:
    return f"EXISTS (SELECT 1 FROM reviews_evaluation e WHERE e.conversation_id = c.id AND {condition})"


EVALUATED_SQL = {
    "human": _evaluation_exists(HUMAN_DONE_SQL),
    "automatic": _evaluation_exists("e.kind = 'automatic'"),
    "not_human": "NOT " + _evaluation_exists(HUMAN_DONE_SQL),
}


SORT_KEYS = {
    "date": lambda alias: f"{alias}.started_at",
    "duration": duration_ms_sql,
    "sentiment": sentiment_sql,
    "confidence": confidence_sql,
    "score": score_sql,
}


def order_by_sql(sort: str, *, alias: str = "c") -> str:
    """ORDER BY terms for a call-level sort (not RELEVANCE): the value, then newest first; no value sorts last."""
    if sort not in SORTS or sort == RELEVANCE:
        raise ValueError(f"sort must be one of {', '.join(s for s in SORTS if s != RELEVANCE)}, got {sort!r}")
    name, direction = sort.rsplit("_", 1)
    value = SORT_KEYS[name](alias)
    newest = f"{alias}.started_at DESC, {alias}.id DESC"
    if name == "date":
        return f"{value} {direction.upper()}, {alias}.id {direction.upper()}"
    return f"({value} IS NULL), {value} {direction.upper()}, {newest}"


def sentiment_label(value: float | None) -> str:
    """negative / neutral / positive for a call's mean sentiment, "" when it has none."""
    if value is None:
        return ""
    if value <= -SENTIMENT_MARK:
        return "negative"
    if value >= SENTIMENT_MARK:
        return "positive"
    return "neutral"


@dataclass(frozen=True)
class CallMetrics:
    duration_ms: int | None
    confidence: float | None
    sentiment: float | None
    redaction_status: str | None = None
    transcript_sources: tuple[str, ...] = ()  # the sources of the call's parts, in TRANSCRIPT_SOURCES order

    @property
    def sentiment_label(self) -> str:
        return sentiment_label(self.sentiment)

    @property
    def has_vault_transcript(self) -> bool:
        return Transcript.Source.VAULT_ASR in self.transcript_sources

    @property
    def transcript_source_labels(self) -> list[tuple[str, str]]:
        return [(source, TRANSCRIPT_SOURCE_LABELS[source]) for source in self.transcript_sources]


def call_metrics(conversation_ids) -> dict[int, CallMetrics]:
    """The call-level values of these conversations (one query, for the rows a page or an export shows)."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    # One 0/1 column per source: whether the call has a part from it.
    sources_sql = ", ".join(
        f"CASE WHEN {_part_exists('s.source = %s', alias='s')} THEN 1 ELSE 0 END" for _ in TRANSCRIPT_SOURCES
    )
    sql = (
        f"SELECT c.id, {duration_ms_sql()}, {confidence_sql()}, {sentiment_sql()}, {redaction_status_sql()}, "
        f"{sources_sql} FROM reviews_conversation c WHERE c.id IN ({_marks(ids)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*TRANSCRIPT_SOURCES, *ids])
        return {
            pk: CallMetrics(
                duration_ms=None if duration is None else round(float(duration)),
                confidence=None if confidence is None else float(confidence),
                sentiment=None if sentiment is None else float(sentiment),
                redaction_status=redaction,
                transcript_sources=tuple(
                    source for source, has in zip(TRANSCRIPT_SOURCES, present, strict=True) if has
                ),
            )
            for pk, duration, confidence, sentiment, redaction, *present in cursor.fetchall()
        }


# The filters as SQL


def conversation_conditions(
    *, scope: Scope, filters: SearchFilters, utterance_scans: bool = True
) -> tuple[list[str], list]:
    """SQL conditions on alias c (reviews_conversation) and their parameters: scope and every call-level filter.

    `speaker` is not among them: utterance_conditions() applies it to hits, calls_conditions() to calls.
    `transcript_source` is, as "the call has a part from that source"; utterance_conditions() keeps the hits to
    that part's turns.
    utterance_scans=False leaves out the filters that read every utterance (sentiment, topic): the rest is a
    superset of the calls, cheap enough to test more than once (the search's rowid-bucket planning does).
    """
    where: list[str] = []
    params: list = []
    if not scope.everything:
        # Plain id lists, tested per row without joins (scopes are a handful of queues/divisions).
        alternatives = []
        if scope.queue_ids:
            alternatives.append(f"c.queue_id IN ({_marks(scope.queue_ids)})")
            params += sorted(scope.queue_ids)
        if scope.division_ids:
            alternatives.append(f"c.division_id IN ({_marks(scope.division_ids)})")
            params += sorted(scope.division_ids)
        where.append("(" + " OR ".join(alternatives) + ")" if alternatives else "1 = 0")
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
    if filters.review_status:
        where.append("c.review_status = %s")
        params.append(filters.review_status)
    if filters.direction:
        where.append("c.direction = %s")
        params.append(filters.direction)
    if filters.duration_min_seconds is not None:
        where.append(f"c.ended_at IS NOT NULL AND {duration_ms_sql()} >= %s")
        params.append(filters.duration_min_seconds * 1000)
    if filters.duration_max_seconds is not None:
        where.append(f"c.ended_at IS NOT NULL AND {duration_ms_sql()} <= %s")
        params.append(filters.duration_max_seconds * 1000)
    if filters.redaction_status:
        worse = REDACTION_WORST_FIRST[: REDACTION_WORST_FIRST.index(filters.redaction_status)]
        where.append(_part_exists("r.redaction_status = %s", alias="r"))
        params.append(filters.redaction_status)
        if worse:
            where.append("NOT " + _part_exists(f"r.redaction_status IN ({_marks(worse)})", alias="r"))
            params += [str(status) for status in worse]
    if filters.confidence_min is not None:
        where.append(f"{confidence_sql()} >= %s")
        params.append(float(filters.confidence_min))
    if filters.confidence_max is not None:
        where.append(f"{confidence_sql()} <= %s")
        params.append(float(filters.confidence_max))
    if filters.sentiment and utterance_scans:
        # Computed once for all calls (one pass over the utterances), not once per call.
        having = {
            "negative": "avg(sentiment) <= %s",
            "positive": "avg(sentiment) >= %s",
            "neutral": "avg(sentiment) > %s AND avg(sentiment) < %s",
        }[filters.sentiment]
        where.append(
            "c.id IN (SELECT conversation_id FROM reviews_utterance WHERE sentiment IS NOT NULL "
            f"GROUP BY conversation_id HAVING {having})"
        )
        params += {"negative": [-SENTIMENT_MARK], "positive": [SENTIMENT_MARK]}.get(
            filters.sentiment, [-SENTIMENT_MARK, SENTIMENT_MARK]
        )
    if filters.topic and utterance_scans:
        where.append(f"c.id IN (SELECT x.conversation_id FROM reviews_utterance x WHERE {_topic_sql('x')})")
        params.append(filters.topic.lower())
    if filters.leak_kind:
        where.append(
            "c.id IN (SELECT k.conversation_id FROM reviews_redactionfinding f "
            "JOIN reviews_transcript k ON k.id = f.transcript_id WHERE f.kind = %s)"
        )
        params.append(filters.leak_kind)
    if filters.evaluated:
        where.append(EVALUATED_SQL[filters.evaluated])
    if filters.audio_only:
        where.append(
            "NOT " + _part_exists("a.source = %s", alias="a") + " "
            "AND EXISTS (SELECT 1 FROM reviews_audiorecording a WHERE a.conversation_id = c.id)"
        )
        params.append(Transcript.Source.GENESYS.value)
    if filters.transcript_source:
        # The call has a part from that source. With words utterance_conditions() narrows the hits further; this
        # call-level superset lets the search's rowid-bucket planning take a rare source (vault-asr) as selective.
        where.append(_part_exists("s.source = %s", alias="s"))
        params.append(filters.transcript_source)
    return where, params


def utterance_conditions(filters: SearchFilters) -> tuple[list[str], list]:
    """SQL conditions on alias u (the hit utterance): only the chosen side's turns, of the chosen source's parts,
    are hits."""
    where: list[str] = []
    params: list = []
    if filters.speaker:
        where.append("u.speaker = %s")
        params.append(filters.speaker)
    if filters.transcript_source:
        # A primary-key lookup per candidate: cheap whichever source is rare.
        where.append("EXISTS (SELECT 1 FROM reviews_transcript s WHERE s.id = u.transcript_id AND s.source = %s)")
        params.append(filters.transcript_source)
    return where, params


def calls_conditions(*, scope: Scope, filters: SearchFilters) -> tuple[list[str], list]:
    """Conditions for a list of calls without words: every call-level filter (a part from `transcript_source`
    among them), and a turn by `speaker`."""
    where, params = conversation_conditions(scope=scope, filters=filters)
    if filters.speaker:
        where.append("EXISTS (SELECT 1 FROM reviews_utterance p WHERE p.conversation_id = c.id AND p.speaker = %s)")
        params.append(filters.speaker)
    return where, params


def conversations(*, user=None, scope: Scope | None = None, filters: SearchFilters) -> QuerySet[Conversation]:
    """The conversations the user (or scope) may see that pass `filters`, as a queryset for ORM callers."""
    scope = scope if scope is not None else scope_for(user)
    if scope.is_empty:
        return Conversation.objects.none()
    where, params = calls_conditions(scope=scope, filters=filters)
    if not where:
        return Conversation.objects.all()
    sql = "SELECT c.id FROM reviews_conversation c WHERE " + " AND ".join(where)
    return Conversation.objects.filter(pk__in=RawSQL(sql, params))


def is_narrowing(filters: SearchFilters) -> bool:
    """Whether any filter is set (a list of every call in scope is not a search)."""
    return bool(filters.as_dict())


def _part_exists(condition: str, *, alias: str) -> str:
    return f"EXISTS (SELECT 1 FROM reviews_transcript {alias} WHERE {alias}.conversation_id = c.id AND {condition})"


@dataclass(frozen=True)
class TopicNamesSql:
    """SQL pieces that read the topic names of utterance `alias`: `has_any` (a condition), `names` (a table source
    with one row per topic, to join or put in FROM) and `name` (that row's topic name, as stored).

    Utterance.topics holds names, or {"name": ...} objects from older sources (templatetags.topic_names).
    `has_any` is also the condition of the partial index utt_conv_topics_idx (migration 0017): keep them alike.
    """

    has_any: str
    names: str
    name: str


def topic_names_sql(alias: str) -> TopicNamesSql:
    if connection.vendor == "postgresql":
        # The CASE keeps jsonb_array_elements off a non-array even if the planner tests it first.
        return TopicNamesSql(
            has_any=f"{alias}.topics <> '[]'::jsonb",
            names=(
                f"jsonb_array_elements(CASE WHEN jsonb_typeof({alias}.topics) = 'array' THEN {alias}.topics "
                "ELSE '[]'::jsonb END) j(v)"
            ),
            name="CASE WHEN jsonb_typeof(j.v) = 'object' THEN j.v->>'name' ELSE j.v #>> '{}' END",
        )
    return TopicNamesSql(
        has_any=f"{alias}.topics <> '[]'",
        names=f"json_each({alias}.topics) j",
        name="CASE WHEN j.type = 'object' THEN json_extract(j.value, '$.name') ELSE j.value END",
    )


def _topic_sql(alias: str) -> str:
    """Condition: the utterance `alias` carries the topic given as one parameter, in lower case."""
    topics = topic_names_sql(alias)
    return f"{topics.has_any} AND EXISTS (SELECT 1 FROM {topics.names} WHERE lower({topics.name}) = %s)"


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
