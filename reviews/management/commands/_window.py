"""Shared argument handling for the commands that work on a past time window."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError


def parse_instant(value: str, *, option: str) -> datetime:
    """An ISO 8601 date or date-time; naive values are UTC."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"{option} must be an ISO 8601 date or date-time such as 2026-05-01 or 2026-05-01T08:00:00Z, got {value!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(since: str, until: str) -> tuple[datetime, datetime]:
    start = parse_instant(since, option="--since")
    end = parse_instant(until, option="--until")
    if end <= start:
        raise CommandError(f"--until ({end.isoformat()}) must be later than --since ({start.isoformat()})")
    return start, end
