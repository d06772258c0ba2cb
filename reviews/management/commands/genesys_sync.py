"""python manage.py genesys_sync --since ISO --until ISO: backfill a past window in the foreground.

On a terminal a progress bar shows final/total, conversations per state and an ETA (_sync_progress.py);
the summary ends with what happens next (BackfillSummary.lines()); --json prints summary.as_dict().
"""

from __future__ import annotations

import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from genesys.clock import SYSTEM_CLOCK
from genesys.errors import AuthenticationError, PermissionDeniedError
from reviews.genesys_factory import build_client
from reviews.management.commands._sync_progress import ProgressBar, pipeline_logging
from reviews.management.commands._window import parse_window
from reviews.pipeline import run_backfill

SEARCH_ENDPOINT = "sta.transcripts.search"
# Any one of these lets the OAuth client search transcripts (genesys-api.md §5).
SEARCH_PERMISSIONS = (
    "analytics:conversationDetail:view",
    "recording:recording:view",
    "recording:recordingSegment:view",
)


def search_refused(error: PermissionDeniedError) -> str:
    """A 403 on the transcript search is about the role, not a conversation: name the permission to add."""
    named = error.missing_permissions or list(SEARCH_PERMISSIONS)
    code = f" {error.code}" if error.code else ""
    if error.code == "missing.permissions" and error.missing_permissions:
        fix = f"add {', '.join(named)} to the OAuth client's role"
    else:
        fix = f"add one of {', '.join(named)} to the OAuth client's role (any one is enough)"
    context = f" (contextId {error.context_id})" if error.context_id else ""
    return (
        f"the transcript search, an org-wide endpoint, was refused (HTTP 403{code}): {fix}, "
        f"then run genesys_sync again{context}"
    )


def stopped_because(error: Exception) -> str:
    if isinstance(error, PermissionDeniedError) and str(error).startswith(SEARCH_ENDPOINT):
        return search_refused(error)
    return str(error)


class Command(BaseCommand):
    help = (
        "Backfill a past window in the foreground: discover its conversations, then poll, download and store "
        "until every one is final or --max-wait passes. -v 2 shows the pipeline's per-conversation log lines."
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
        # tqdm draws with carriage returns: it needs the raw stream, not Django's line-ending OutputWrapper.
        progress = ProgressBar(getattr(self.stderr, "_out", self.stderr))
        try:
            with pipeline_logging(verbosity=options["verbosity"], bar=progress):
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
            raise CommandError(f"Genesys sync stopped: {stopped_because(exc)}") from None
        finally:
            progress.close()
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_dict(), sort_keys=True))
        else:
            for line in summary.lines():
                self.stdout.write(line)
