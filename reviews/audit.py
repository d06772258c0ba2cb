"""AuditEvent recording: who did what, when (UTC) and from where (OWASP ASVS 16.2.1, 16.2.2, 16.4.1).

Never put transcript text in an audit record. Search terms are the user's own input and are
kept (truncated), so a reviewer's searches can be audited.
"""

from __future__ import annotations

import ipaddress
import math
import re

from django.conf import settings
from django.utils import timezone

from reviews.models import AuditEvent

MAX_TEXT_CHARS = 500
MAX_DETAIL_ITEMS = 50
MAX_DETAIL_DEPTH = 4
# C0/C1 controls plus line/paragraph separators and bidi overrides: anything that could forge
# a new log line or disguise text once a record is exported to a log pipeline.
_UNSAFE_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def record_event(
    *,
    request,
    action: str,
    object_type: str = "",
    object_id: str = "",
    detail: dict | None = None,
    user=None,
) -> AuditEvent:
    if action not in AuditEvent.Action.values:
        raise ValueError(f"unknown audit action {action!r}; use an AuditEvent.Action value")
    actor = user if user is not None else getattr(request, "user", None)
    if actor is not None and not actor.is_authenticated:
        actor = None
    return AuditEvent.objects.create(
        at=timezone.now(),  # USE_TZ=True: stored and compared in UTC
        user=actor,
        username=clean_text(actor.get_username() if actor else "", limit=150),
        action=action,
        object_type=clean_text(object_type, limit=64),
        object_id=clean_text(str(object_id), limit=100),
        detail=clean_detail(detail or {}),
        ip=client_ip(request),
    )


def record_search(*, request, query: str, filters, total: int, via: str = "web", user=None) -> AuditEvent:
    """A SEARCH event with the parsed terms and the active filters (never any transcript text)."""
    from reviews.search import parse_query

    detail = {
        "query": query or "",
        "terms": parse_query(query).terms,
        "filters": filters.as_dict() if filters is not None else {},
        "total": total,
        "via": via,
    }
    return record_event(
        request=request, action=AuditEvent.Action.SEARCH, object_type="search", detail=detail, user=user
    )


def record_replay(*, request, message, via: str) -> AuditEvent:
    """A REPLAY event for a dead-lettered compliance delivery, the same shape from every entry point."""
    return record_event(
        request=request,
        action=AuditEvent.Action.REPLAY,
        object_type="outbox_message",
        object_id=str(message.pk),
        detail={"sink": message.sink, "idempotency_key": message.idempotency_key, "via": via},
    )


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the address our proxy appended to X-Forwarded-For when we sit behind one.

    X-Forwarded-For is client-controlled except for its last entry (added by our proxy), so it is
    used only when the deployment declares a proxy (SECURE_PROXY_SSL_HEADER is set).
    """
    if request is None:
        return None
    meta = getattr(request, "META", {})
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded and _valid_ip(forwarded[-1]):
            return forwarded[-1]
    remote = meta.get("REMOTE_ADDR", "")
    return remote if _valid_ip(remote) else None


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def clean_text(value: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    return _UNSAFE_CHARACTERS.sub(" ", value)[:limit]


def clean_detail(value, *, depth: int = 0):
    """JSON-safe copy with control characters replaced, strings truncated and size bounded."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN/Infinity
    if depth >= MAX_DETAIL_DEPTH:
        return clean_text(str(value))
    if isinstance(value, dict):
        items = list(value.items())[:MAX_DETAIL_ITEMS]
        return {clean_text(str(key), limit=100): clean_detail(item, depth=depth + 1) for key, item in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean_detail(item, depth=depth + 1) for item in list(value)[:MAX_DETAIL_ITEMS]]
    return clean_text(str(value))
