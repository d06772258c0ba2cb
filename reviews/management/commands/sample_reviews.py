"""python manage.py sample_reviews [--dry-run] [--json] [--now ISO] [--seed S]: run the sampling rules."""

from __future__ import annotations

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reviews.management.commands._window import parse_instant
from reviews.sampling import run_sampling

MAX_SEED_CHARS = 100


class Command(BaseCommand):
    help = (
        "Run every active sampling rule: pick calls for review and assign them to reviewers who may see them. "
        "Idempotent: a second run the same week assigns nothing new."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be assigned; change nothing")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--now", default=None, help="ISO 8601 time to sample at (default: now)")
        parser.add_argument(
            "--seed", default="", help="seed of the random picks (default: none; same week, same picks)"
        )

    def handle(self, *args, dry_run=False, json=False, now=None, seed="", **options):
        if len(seed) > MAX_SEED_CHARS:
            raise CommandError(f"--seed must be at most {MAX_SEED_CHARS} characters")
        report = run_sampling(now=_parse_now(now), dry_run=dry_run, seed=seed)
        if json:
            self.stdout.write(_json_dumps(report.as_dict()))
            return
        for result in report.rules:
            start, end = result.window
            self.stdout.write(
                f"rule {result.rule.name!r} ({result.rule.get_kind_display()}), calls started "
                f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}: {result.matched} matched, "
                f"{len(result.picks)} {'would be ' if dry_run else ''}assigned, "
                f"{result.unassignable} no reviewer may see"
            )
            for pick in result.picks:
                self.stdout.write(
                    f"  {pick.conversation.genesys_id} -> {pick.assignee.get_username()} (due {pick.due_at:%Y-%m-%d})"
                )
        self.stdout.write(self.style.SUCCESS(report.summary()))


def _json_dumps(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


def _parse_now(raw: str | None) -> datetime:
    return timezone.now() if raw is None else parse_instant(raw, option="--now")
