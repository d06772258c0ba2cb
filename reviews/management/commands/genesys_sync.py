from __future__ import annotations

import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from genesys.clock import SYSTEM_CLOCK
from genesys.errors import AuthenticationError, PermissionDeniedError
from reviews.genesys_factory import build_client
from reviews.management.commands._window import parse_window
from reviews.pipeline import run_backfill

BAR_WIDTH = 30


class ProgressBar:
    """A one-line bar on stderr, drawn only when stderr is a terminal (never in logs or pipes)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int, _states: dict) -> None:
        if not self.enabled or not total:
            return
        filled = int(BAR_WIDTH * done / total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} final", ending="")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("")


class Command(BaseCommand):
    help = (
        "Backfill a past window in the foreground: discover its conversations, then poll, download and store "
        "until every one is final (stored, audio_fallback, failed) or --max-wait passes."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, help="window start, ISO 8601 (UTC if no offset)")
        parser.add_argument("--until", required=True, help="window end, ISO 8601 (UTC if no offset)")
        parser.add_argument(
            "--max-wait", type=float, default=3600.0, help="stop driving after this many seconds (default 3600)"
        )
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")

    def handle(self, *args, **options) -> None:
        since, until = parse_window(options["since"], options["until"])
        if options["max_wait"] < 0:
            raise CommandError("--max-wait must be zero or more seconds")
        progress = ProgressBar(self.stderr)
        try:
            client = build_client(clock=SYSTEM_CLOCK)
            summary = run_backfill(
                client=client,
                since=since,
                until=until,
                clock=client.clock,  # the client's clock, so tests can drive the whole run on a fake one
                max_wait=options["max_wait"],
                progress=progress,
            )
        except (AuthenticationError, PermissionDeniedError, ImproperlyConfigured) as exc:
            raise CommandError(f"Genesys sync stopped: {exc}") from None
        finally:
            progress.close()
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_dict(), sort_keys=True))
        else:
            for line in summary.lines():
                self.stdout.write(line)
