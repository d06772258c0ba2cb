"""POST /api/v2/analytics/conversations/details/query (genesys-api.md §7.1) for the Emulator.

Interval semantics (`OrgBehaviour.analytics_interval_semantics`):
- "started" (default): conversations whose start lies in [interval start, interval end).
- "active_day_touched" (the §7.1 text): conversations active during the interval AND started on a UTC day the
  interval touches. A call from yesterday 23:30 to today 01:00 is not returned by an interval lying in today.
No maximum interval length unless `analytics_max_interval_days` sets one. Restricted conversations (divisions
the role cannot read recordings in) are still listed: analytics is not recording-scoped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from .data import SimConversation
from .protocol import ApiError, int_field, parse_interval, require_object
from .resources import analytics_conversation


class AnalyticsEndpoints:
    """Mixed into Emulator; uses its dataset, clock and behaviour."""

    def _api_analytics_details_query(self, *, query, body) -> tuple[int, dict]:
        body = require_object(body)
        start, end = parse_interval(body.get("interval"))
        max_days = self.behaviour.analytics_max_interval_days
        if max_days is not None and end - start > timedelta(days=max_days):
            raise ApiError(400, "bad.request", f"The interval must not be longer than {max_days} days.")
        paging = body.get("paging") or {}
        page_size = int_field(paging, "pageSize", 25, 1, 100)
        page_number = int_field(paging, "pageNumber", 1, 1, 10_000)
        now = self._now_dt()
        ended_only = _has_predicate(body.get("conversationFilters"), "conversationEnd", "exists")
        media_values = _predicate_values(body.get("segmentFilters"), "mediaType")
        matches = []
        for conv in self.dataset.conversations:
            if not self._in_interval(conv, start, end) or conv.start > now:
                continue
            if ended_only and conv.end > now:
                continue
            if media_values and "voice" not in media_values:
                continue
            matches.append(conv)
        if body.get("order") == "desc":
            matches.reverse()
        if body.get("orderBy") == "conversationEnd":
            matches.sort(key=lambda c: c.end, reverse=body.get("order") == "desc")
        page = matches[(page_number - 1) * page_size : page_number * page_size]
        response: dict = {"totalHits": len(matches)}
        if page:  # Genesys omits `conversations` entirely when a page has no hits
            response["conversations"] = [analytics_conversation(self.dataset, c, now) for c in page]
        return 200, response

    def _in_interval(self, conv: SimConversation, start: datetime, end: datetime) -> bool:
        if self.behaviour.analytics_interval_semantics == "started":
            return start <= conv.start < end
        active = conv.start < end and conv.end > start
        first_day, last_day = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()
        return active and first_day <= conv.start.date() <= last_day


def _predicates(filters) -> Iterator[dict]:
    for flt in filters or []:
        if not isinstance(flt, dict):
            continue
        yield from (p for p in flt.get("predicates") or [] if isinstance(p, dict))
        for clause in flt.get("clauses") or []:
            if isinstance(clause, dict):
                yield from (p for p in clause.get("predicates") or [] if isinstance(p, dict))


def _has_predicate(filters, dimension: str, operator: str) -> bool:
    return any(p.get("dimension") == dimension and p.get("operator") == operator for p in _predicates(filters))


def _predicate_values(filters, dimension: str) -> set[str]:
    return {
        str(p.get("value")).lower()
        for p in _predicates(filters)
        if p.get("dimension") == dimension and p.get("operator", "matches") == "matches"
    }
