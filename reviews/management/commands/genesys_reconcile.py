from __future__ import annotations

import json

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from genesys.clock import SYSTEM_CLOCK
from genesys.errors import AuthenticationError, PermissionDeniedError
from reviews.genesys_factory import build_client
from reviews.management.commands._window import parse_window
from reviews.pipeline import reconcile


class Command(BaseCommand):
    help = (
        "Compare what Genesys lists for a past window with what we hold; re-queue missing conversations and "
        "failed ones. Records a ReconciliationRun."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, help="window start, ISO 8601 (UTC if no offset)")
        parser.add_argument("--until", required=True, help="window end, ISO 8601 (UTC if no offset)")
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")

    def handle(self, *args, **options) -> None:
        since, until = parse_window(options["since"], options["until"])
        try:
            client = build_client(clock=SYSTEM_CLOCK)
            run = reconcile(client=client, clock=client.clock, since=since, until=until)
        except (AuthenticationError, PermissionDeniedError, ImproperlyConfigured) as exc:
            raise CommandError(f"Genesys reconcile stopped: {exc}") from None
        result = {
            "run": run.pk,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "detected": run.detected,
            "recovered": run.recovered,
            "failed": run.failed,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, sort_keys=True))
        else:
            self.stdout.write(
                f"Reconciled {since.isoformat()} .. {until.isoformat()}: detected {run.detected}, "
                f"recovered {run.recovered}, failed {run.failed}"
            )
