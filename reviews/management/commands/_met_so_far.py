"""What the pipeline has met so far, read from the database: conversations per state, why some are restricted,
and the transcript search's health. Shown by every genesys_check so an operator sees it at once."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count

from reviews.management.commands._tables import Row, format_table
from reviews.models import Conversation
from reviews.pipeline import org

TOP_OUTCOMES = 3
State = Conversation.State


def database_summary(*, now: datetime) -> dict:
    counts = dict(Conversation.objects.order_by().values_list("state").annotate(n=Count("pk")))
    states = {state: counts[state] for state in State.values if counts.get(state)}
    restricted = (
        Conversation.objects.filter(state=State.RESTRICTED)
        .order_by()
        .values("outcome")
        .annotate(n=Count("pk"))
        .order_by("-n", "outcome")
    )
    health = org.search_health()
    return {
        "conversations": sum(states.values()),
        "states": states,
        "restricted": {
            "count": states.get(State.RESTRICTED, 0),
            # Outcomes name a permission and a division, never transcript text or PII (Conversation.outcome).
            "top_outcomes": [
                {"outcome": row["outcome"] or "(no outcome recorded)", "count": row["n"]}
                for row in restricted[:TOP_OUTCOMES]
            ],
        },
        "search_health": {
            **health.as_value(),
            "healthy": health.healthy,
            "in_cooldown": not health.usable(now=now),
            "trusted": health.trusted(now=now),
        },
    }


def _ago(value: str | None, *, now: datetime) -> str:
    if not value:
        return "never"
    seconds = max((now - datetime.fromisoformat(value)).total_seconds(), 0)
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def search_health_row(health: dict, *, now: datetime) -> Row:
    if not health.get("ok_at") and not health.get("failed_at"):
        return Row(("search health", "not used yet", "the pipeline has not searched yet"))
    if not health["healthy"]:
        detail = f"{health['failures']} failure(s) in a row, last {_ago(health['failed_at'], now=now)}"
        notes = [f"last error: {health['last_error']}"] if health.get("last_error") else []
        if health["in_cooldown"]:
            notes.append(f"every due conversation is probed directly until {health['cooldown_until']}")
        return Row(("search health", "failing", detail), notes)
    detail = f"last ok {_ago(health['ok_at'], now=now)}; last listed a transcript {_ago(health['listed_at'], now=now)}"
    notes = []
    if not health["trusted"]:
        notes.append("listed nothing for 24 h (content search off?): every second probe is direct")
    return Row(("search health", "healthy", detail), notes)


def format_summary(summary: dict, *, now: datetime) -> str:
    states = ", ".join(f"{state} {count}" for state, count in summary["states"].items()) or "none yet"
    rows = [Row(("conversations", str(summary["conversations"]), states))]
    restricted = summary["restricted"]
    rows.append(
        Row(
            ("restricted", str(restricted["count"]), "Genesys answered 403 for these; the outcome names what to grant"),
            [f"{row['count']} x {row['outcome']}" for row in restricted["top_outcomes"]],
        )
    )
    rows.append(search_health_row(summary["search_health"], now=now))
    return format_table(("PIPELINE SO FAR", "VALUE", "DETAIL"), rows)
