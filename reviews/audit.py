"""AuditEvent recording: who did what, when (UTC) and from where (OWASP ASVS 16.2.1, 16.2.2, 16.4.1).

Never put transcript text in an audit record. Search terms are the user's own input and are
kept (truncated, with any PII the leak detector recognises masked), so a reviewer's searches can
be audited. Every refusal is an ACCESS_DENIED event of one shape (deny), and a flood of identical
failures from one address is folded into one row with a count (record_folded).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
from collections.abc import Iterable
from typing import NoReturn

from django.conf import settings
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from reviews import access, audit_chain
from reviews.models import AuditEvent, Conversation

MAX_TEXT_CHARS = 500
# A search page shows at most 100 conversations (the API's largest limit): all of their ids fit in one row.
MAX_DETAIL_ITEMS = 100
MAX_SHOWN_CONVERSATIONS = 100
# Repeated identical failures from one address within this window add to one row's count.
FOLD_WINDOW = dt.timedelta(minutes=10)
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
    # Chained to the previous event (reviews/audit_chain.py), so an edited, deleted or inserted row shows.
    return audit_chain.append(
        at=timezone.now(),  # USE_TZ=True: stored and compared in UTC
        user=actor,
        username=clean_text(actor.get_username() if actor else "", limit=150),
        action=action,
        object_type=clean_text(object_type, limit=64),
        object_id=clean_text(str(object_id), limit=100),
        detail=clean_detail(detail or {}),
        ip=client_ip(request),
    )


def record_search(
    *, request, query: str, filters, total: int, shown: Iterable = (), via: str = "web", user=None
) -> AuditEvent:
    """A SEARCH event: the terms (PII masked), the active filters and which conversations the page showed.

    `shown` is what the page lists: conversations, or search hits / hit groups (anything with a
    .conversation); their Genesys ids are kept in page order, once each. Never any transcript text.
    """
    from reviews.redaction import mask_text
    from reviews.search import parse_query

    # Masked before parsing: a card number typed as four groups would otherwise reach `terms` as four
    # innocent-looking numbers that together are the PAN.
    masked = mask_text(query or "")
    conversation_ids = _conversation_ids(shown)
    detail = {
        "query": masked,
        "terms": parse_query(masked).terms,
        "filters": filters.as_dict() if filters is not None else {},
        "total": total,
        "shown": conversation_ids[:MAX_SHOWN_CONVERSATIONS],
        "via": via,
    }
    if len(conversation_ids) > MAX_SHOWN_CONVERSATIONS:
        detail["shown_count"] = len(conversation_ids)
    return record_event(
        request=request, action=AuditEvent.Action.SEARCH, object_type="search", detail=detail, user=user
    )


def _conversation_ids(shown: Iterable) -> list[str]:
    ids: dict[str, None] = {}
    for item in shown:
        ids.setdefault(getattr(item, "conversation", item).genesys_id, None)
    return list(ids)


def deny(request, error: Exception, *, object_type: str, object_id, reason: str, **detail) -> NoReturn:
    """Audit a refusal as ACCESS_DENIED (path, reason, object, what was attempted), then raise `error`.

    The one way a view refuses access (ASVS 16.3.3): the event records why, the caller chooses what the
    client sees (the same Http404 for "missing" and "not yours", so ids cannot be probed).
    """
    record_event(
        request=request,
        action=AuditEvent.Action.ACCESS_DENIED,
        object_type=object_type,
        object_id=str(object_id),
        detail={"path": request.path, "reason": reason, **detail},
    )
    raise error


def conversation_or_404(request, conversation_id: str, *, operation: str, via: str = "web") -> Conversation:
    """The conversation if the user may see it; otherwise the denial is audited and the same Http404 raised.

    The audit row says which case it was (the client never learns): a probe for conversations outside
    one's scope is worth telling apart from a stale link.
    """
    try:
        return access.get_conversation_for_user(request.user, conversation_id)
    except Http404 as error:
        exists = Conversation.objects.filter(genesys_id=conversation_id).exists()
        deny(
            request,
            error,
            object_type="conversation",
            object_id=conversation_id,
            reason="outside the user's scope" if exists else "no such conversation",
            operation=operation,
            via=via,
        )


def record_folded(*, request, action: str, object_type: str, object_id: str = "", detail: dict) -> None:
    """Record a failure, or count it into the row already open for the same failure from the same address.

    A flood of identical failures (junk bearer tokens from one client) then costs one row per FOLD_WINDOW,
    whose `count` says how many there were and `last_at` when the last one came; detail["reason"] tells
    different failures apart. The in-place update touches only count and last_at, which the hash chain leaves
    out (reviews/audit_chain.py), so folding never breaks the chain.
    """
    now = timezone.now()
    open_row = (
        AuditEvent.objects.filter(
            action=action,
            object_type=object_type,
            ip=client_ip(request),
            detail__reason=detail["reason"],
            at__gte=now - FOLD_WINDOW,
        )
        .order_by("-at")
        .values_list("pk", flat=True)
        .first()
    )
    if open_row is not None and AuditEvent.objects.filter(pk=open_row).update(count=F("count") + 1, last_at=now):
        return
    record_event(request=request, action=action, object_type=object_type, object_id=object_id, detail=detail)


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
