"""python manage.py retention_purge [--dry-run] [--json]: delete from the vault what retention says is due."""

from __future__ import annotations

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reviews.retention import run_purge


class Command(BaseCommand):
    help = (
        "Delete due transcripts and audio from the vault (rows, search index, blobs), leaving a tombstone. "
        "Held conversations and items not yet archived are kept; the compliance archive is never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what is due; change nothing")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--limit", default=None, help="most items to delete (default RETENTION_PURGE_MAX_ITEMS)")
        parser.add_argument("--now", default=None, help="ISO 8601 time to judge 'due' at (default: now)")

    def handle(self, *args, dry_run=False, json=False, limit=None, now=None, **options):
        report = run_purge(now=_parse_now(now), dry_run=dry_run, limit=_parse_limit(limit))
        if json:
            self.stdout.write(_json_dumps(report.as_dict()))
            return
        for item in report.plan.due if dry_run else report.purged:
            self.stdout.write(
                f"{'due' if dry_run else 'purged'}: {item.conversation.genesys_id} {item.item} "
                f"{item.as_dict()['item_id']} sha256={item.row.sha256} (due {item.due_at:%Y-%m-%d}, {item.rule})"
            )
        for conversation_id, hold_ids in report.plan.held.items():
            self.stdout.write(f"held: {conversation_id} (holds {', '.join(map(str, hold_ids))})")
        for item_id in report.plan.awaiting_archive:
            self.stdout.write(f"kept until archived: {item_id}")
        self.stdout.write(self.style.SUCCESS(report.summary()))


def _json_dumps(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def _parse_limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise CommandError(f"--limit must be a whole number of items, got {raw!r}") from None
    if value < 1:
        raise CommandError(f"--limit must be at least 1, got {value}")
    return value


def _parse_now(raw: str | None) -> datetime:
    if raw is None:
        return timezone.now()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--now must be an ISO 8601 time such as 2026-01-31T00:00:00Z, got {raw!r}") from None
    if value.tzinfo is None:
        raise CommandError(f"--now must carry a time zone (e.g. a trailing Z for UTC), got {raw!r}")
    return value
