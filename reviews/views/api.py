"""JSON API (docs/api.md): search, one transcript, trigger processing. Bearer tokens only."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from reviews import access, audit
from reviews.api_auth import ApiError, api_view, read_json_object
from reviews.models import ApiToken, AuditEvent, Conversation, OutboxMessage, RedactionFinding, Transcript, Utterance
from reviews.redaction import FINDING_KINDS
from reviews.search import SearchFilters
from reviews.search import search as run_search
from reviews.search.filters import (
    DIRECTIONS,
    EVALUATED,
    MAX_TOPIC_CHARS,
    RELEVANCE,
    SENTIMENTS,
    SORTS,
    SPEAKERS,
    TRANSCRIPT_SOURCES,
)
from reviews.search.query import MAX_QUERY_CHARS
from reviews.views.parts import METRIC_FIELDS, combined_metrics, describe_parts, ordered_parts, outcome_to_show

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# A transcript answer is built in memory; past this many utterances it is cut and flagged "truncated".
MAX_UTTERANCES = 20_000
CONVERSATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
SEARCH_FIELDS = {
    "query",
    "limit",
    "cursor",
    "speaker",
    "dateFrom",
    "dateTo",
    "queue",
    "agent",
    "redactionStatus",
    "confidenceMin",
    "confidenceMax",
    "reviewStatus",
    "direction",
    "durationMinSeconds",
    "durationMaxSeconds",
    "sentiment",
    "topic",
    "leakKind",
    "audioOnly",
    "evaluated",
    "transcriptSource",
    "sort",
}
MAX_DURATION_SECONDS = 86_400


@api_view(methods=["POST"])
def search(request: HttpRequest) -> JsonResponse:
    body = read_json_object(request)
    unknown = sorted(set(body) - SEARCH_FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field '{unknown[0]}'; allowed fields: {', '.join(sorted(SEARCH_FIELDS))}")
    query = _string(body, "query", required=True, max_chars=MAX_QUERY_CHARS)
    limit = _integer(body, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    cursor = _string(body, "cursor", max_chars=64)
    sort = _choice(body, "sort", SORTS) or RELEVANCE
    filters = _search_filters(body)
    try:
        page = run_search(user=request.user, query=query, filters=filters, limit=limit, cursor=cursor, sort=sort)
    except ValueError as error:
        raise ApiError(400, f"field 'cursor': {error}") from None
    audit.record_search(request=request, query=query, filters=filters, total=page.total, shown=page.results, via="api")
    payload = {
        "results": [
            {
                "conversationId": hit.conversation.genesys_id,
                "communicationId": hit.communication_id,
                "speaker": hit.speaker,
                "startMs": hit.start_ms,
                "snippet": str(hit.snippet_html),
                "score": round(hit.score, 6),
                **_source_fields(hit.transcript_source, engine=hit.asr_engine, model=hit.asr_model),
            }
            for hit in page.results
        ],
        "total": page.total,
        "totalCapped": page.total_capped,
        "totalConversations": page.conversation_total,
        "nextCursor": page.next_cursor,
    }
    if page.message:
        payload["message"] = page.message
    return JsonResponse(payload)


@api_view(methods=["GET"])
def transcript(request: HttpRequest, conversation_id: str) -> JsonResponse:
    try:
        conversation = access.get_conversation_for_user(request.user, conversation_id)
    except Http404:
        _record_denied(request, conversation_id, operation="view_transcript")
        raise
    audit.record_event(
        request=request,
        action=AuditEvent.Action.VIEW_TRANSCRIPT,
        object_type="conversation",
        object_id=conversation.genesys_id,
        detail={"via": "api"},
    )
    return JsonResponse(_transcript_payload(conversation))


@api_view(methods=["POST"], scope=ApiToken.Scope.PROCESS)
def process(request: HttpRequest) -> JsonResponse:
    body = read_json_object(request)
    conversation_id = _string(body, "conversationId", required=True, max_chars=64)
    if not CONVERSATION_ID.fullmatch(conversation_id):
        raise ApiError(400, "field 'conversationId' must be a Genesys conversation id (letters, digits, dashes)")
    if not access.can_review(request.user):
        _record_denied(request, conversation_id, operation="process")
        raise ApiError(403, "your account may not trigger processing (Reviewer or Supervisor only)")
    # Unknown ids may be enqueued (the pipeline discovers them) only by users who see everything;
    # anyone else gets the same 404 for "unknown" and "not yours", so ids cannot be probed.
    if not access.sees_everything(request.user):
        try:
            access.get_conversation_for_user(request.user, conversation_id)
        except Http404:
            _record_denied(request, conversation_id, operation="process")
            raise
    from reviews.pipeline import enqueue_conversation  # loaded on demand: it imports the Genesys client

    job_id = enqueue_conversation(conversation_id)
    audit.record_event(
        request=request,
        action=AuditEvent.Action.API_ACCESS,
        object_type="conversation",
        object_id=conversation_id,
        detail={"operation": "process", "job_id": str(job_id)},
    )
    return JsonResponse({"jobId": str(job_id), "conversationId": conversation_id}, status=202)


def _record_denied(request: HttpRequest, conversation_id: str, *, operation: str) -> None:
    audit.record_event(
        request=request,
        action=AuditEvent.Action.ACCESS_DENIED,
        object_type="conversation",
        object_id=conversation_id,
        detail={"operation": operation, "via": "api"},
    )


# Field validation: every message names the field.


def _string(body: dict, name: str, *, required: bool = False, max_chars: int) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"field '{name}' is required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"field '{name}' must be a string")
    if len(value) > max_chars:
        raise ApiError(400, f"field '{name}' must be at most {max_chars} characters")
    return value


def _integer(body: dict, name: str, *, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, f"field '{name}' must be an integer from {low} to {high}")
    return value


def _optional_integer(body: dict, name: str, *, low: int, high: int) -> int | None:
    if body.get(name) is None:
        return None
    return _integer(body, name, default=0, low=low, high=high)


def _boolean(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"field '{name}' must be true or false")
    return value


def _number(body: dict, name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ApiError(400, f"field '{name}' must be a number from 0 to 1")
    return float(value)


def _choice(body: dict, name: str, choices) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if value not in choices:
        raise ApiError(400, f"field '{name}' must be one of {', '.join(choices)}")
    return value


def _id_list(body: dict, name: str) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or len(values) > 100:
        raise ApiError(400, f"field '{name}' must be an id or a list of at most 100 ids")
    if not all(isinstance(item, str) and 0 < len(item) <= 64 for item in values):
        raise ApiError(400, f"field '{name}' must contain Genesys ids (strings of 1 to 64 characters)")
    return tuple(values)


def _date(body: dict, name: str) -> dt.date | dt.datetime | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    parsed = None
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = parse_date(value) if len(value) == 10 else parse_datetime(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ApiError(400, f"field '{name}' must be a date (2024-05-31) or an ISO 8601 datetime")
    if isinstance(parsed, dt.datetime) and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _search_filters(body: dict) -> SearchFilters:
    filters = SearchFilters(
        speaker=_choice(body, "speaker", SPEAKERS),
        date_from=_date(body, "dateFrom"),
        date_to=_date(body, "dateTo"),
        queues=_id_list(body, "queue"),
        agents=_id_list(body, "agent"),
        redaction_status=_choice(body, "redactionStatus", Transcript.RedactionStatus.values),
        confidence_min=_number(body, "confidenceMin"),
        confidence_max=_number(body, "confidenceMax"),
        review_status=_choice(body, "reviewStatus", Conversation.ReviewStatus.values),
        direction=_choice(body, "direction", DIRECTIONS),
        duration_min_seconds=_optional_integer(body, "durationMinSeconds", low=0, high=MAX_DURATION_SECONDS),
        duration_max_seconds=_optional_integer(body, "durationMaxSeconds", low=0, high=MAX_DURATION_SECONDS),
        sentiment=_choice(body, "sentiment", SENTIMENTS),
        topic=_string(body, "topic", max_chars=MAX_TOPIC_CHARS),
        leak_kind=_choice(body, "leakKind", FINDING_KINDS),
        audio_only=_boolean(body, "audioOnly"),
        evaluated=_choice(body, "evaluated", tuple(EVALUATED)),
        transcript_source=_choice(body, "transcriptSource", TRANSCRIPT_SOURCES),
    )
    low, high = filters.date_from, filters.date_to
    # A date and a datetime do not compare; only same-kind bounds can be checked here.
    if low and high and type(low) is type(high) and low > high:
        raise ApiError(400, "field 'dateTo' is before 'dateFrom'")
    for first, last, label in (
        (filters.confidence_min, filters.confidence_max, "confidenceMax"),
        (filters.duration_min_seconds, filters.duration_max_seconds, "durationMaxSeconds"),
    ):
        if first is not None and last is not None and first > last:
            raise ApiError(400, f"field '{label}' is below its lower bound")
    return filters


# Transcript payload


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _named(entity) -> dict | None:
    return {"id": entity.genesys_id, "name": entity.name} if entity else None


def _transcript_payload(conversation: Conversation) -> dict:
    parts = describe_parts(conversation, ordered_parts(conversation))
    findings = (
        RedactionFinding.objects.filter(transcript__conversation=conversation)
        .select_related("transcript")
        .order_by("start_ms", "id")
    )
    return {
        "conversationId": conversation.genesys_id,
        "state": conversation.state,
        "stateLabel": conversation.get_state_display(),
        "outcome": outcome_to_show(conversation) or None,
        "start": _iso(conversation.started_at),
        "end": _iso(conversation.ended_at),
        "direction": conversation.direction,
        "queue": _named(conversation.queue),
        "agent": _named(conversation.agent),
        "division": _named(conversation.division),
        "divisions": [_named(division) for division in conversation.divisions.order_by("genesys_id")],
        "reviewStatus": conversation.review_status,
        "transcripts": [_transcript_entry(part) for part in parts],
        "redaction": _redaction(parts, findings),
        "audio": _audio(conversation),
        "metrics": _metrics(combined_metrics(conversation, parts)),
        "compliance": [
            {
                "sink": message.sink,
                "state": message.state,
                "deliveredAt": _iso(message.delivered_at),
                "communicationId": message.transcript.communication_id,
                "recordingId": message.transcript.recording_id or None,
            }
            for message in OutboxMessage.objects.filter(transcript__conversation=conversation)
            .select_related("transcript")
            .order_by("created_at", "id")
        ],
    }


def _transcript_entry(transcript: Transcript) -> dict:
    """One stored document (part): its own identity, hash, metrics and utterances (in document order)."""
    rows = (
        Utterance.objects.filter(transcript=transcript)
        .order_by("index")
        .values_list("speaker", "start_ms", "end_ms", "text", "confidence")[: MAX_UTTERANCES + 1]
    )
    utterances = [
        {"speaker": speaker, "startMs": start_ms, "endMs": end_ms, "text": text, "confidence": confidence}
        for speaker, start_ms, end_ms, text, confidence in rows
    ]
    return {
        "part": transcript.number,
        "communicationId": transcript.communication_id,
        "leg": transcript.leg_label or None,
        "recordingId": transcript.recording_id or None,
        "partStartMs": transcript.part_start_ms,
        "mediaType": transcript.media_type or None,
        **_source_fields(transcript.source, engine=transcript.asr_engine, model=transcript.asr_model),
        "transcriptId": transcript.transcript_id,
        "language": transcript.language,
        "sha256": transcript.sha256,
        "contentEncoding": transcript.content_encoding or None,
        "redactionStatus": transcript.redaction_status,
        "metrics": _metrics({name: getattr(transcript, name) for name in METRIC_FIELDS}),
        "truncated": len(utterances) > MAX_UTTERANCES,
        "utterances": utterances[:MAX_UTTERANCES],
    }


def _source_fields(source: str, *, engine: str, model: str) -> dict:
    """Whose transcript it is ("genesys" | "vault-asr", the same name as the search filter) and, for the vault's own
    speech-to-text, the engine and model that made it (null for Genesys'): a client never takes one for the other."""
    vault = source == Transcript.Source.VAULT_ASR
    return {"transcriptSource": source, "asrEngine": engine if vault else None, "asrModel": model if vault else None}


def _redaction(transcripts: list[Transcript], findings) -> dict:
    statuses = {transcript.redaction_status for transcript in transcripts}
    status = None
    for candidate in ("leaks_found", "no_markers", "verified"):  # worst first
        if candidate in statuses:
            status = candidate
            break
    mask_counts: Counter = Counter()
    for transcript in transcripts:
        mask_counts.update(transcript.mask_counts or {})
    return {
        "status": status,
        "maskCounts": dict(mask_counts),
        "findings": [
            {
                "kind": f.kind,
                "rule": f.rule,
                "startMs": f.start_ms,
                "communicationId": f.transcript.communication_id,
                "recordingId": f.transcript.recording_id or None,
            }
            for f in findings
        ],
    }


def _audio(conversation: Conversation) -> dict:
    """Every playable recording (kept, or a cached copy not expired) under `recordings`; available/sha256/url stay those of the first (older clients)."""
    recordings = [
        {
            "recordingId": recording.recording_id,
            "sha256": recording.sha256,
            "contentType": recording.content_type,
            "sizeBytes": recording.size_bytes,
            "durationMs": recording.duration_ms,
            "source": recording.source,
            "media": recording.media,
            # Our own streaming endpoint (scope-checked, audited), never a Genesys or S3 URL.
            "url": settings.SITE_ROOT
            + reverse("audio", kwargs={"conversation_id": conversation.genesys_id, "recording_pk": recording.pk}),
        }
        for recording in conversation.recordings.playable(now=timezone.now()).order_by("stored_at", "id")
    ]
    if not recordings:
        return {"available": False, "sha256": None, "url": None, "recordings": []}
    first = recordings[0]
    return {"available": True, "sha256": first["sha256"], "url": first["url"], "recordings": recordings}


def _metrics(values: dict | None) -> dict | None:
    if values is None:
        return None
    return {_camel(name): values[name] for name in METRIC_FIELDS}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
