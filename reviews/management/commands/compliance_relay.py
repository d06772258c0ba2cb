"""python manage.py compliance_relay [--once]: deliver the compliance outbox in the foreground.

The django-q2 schedule (reviews.compliance.relay.relay_outbox_task) does the same job; this loop is
for deployments without the cluster and for operators draining a backlog by hand.
"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from genesys.clock import SYSTEM_CLOCK
from reviews.compliance.relay import relay_due


class Command(BaseCommand):
    help = "Deliver due compliance outbox rows to their sinks; loops until stopped unless --once."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one round and exit")
        parser.add_argument("--limit", type=int, default=100, help="rows per round")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds to wait when nothing was due")

    def handle(self, *args, once=False, limit=100, interval=5.0, **options):
        self.stopping = False
        if not once:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        while True:
            result = relay_due(clock=SYSTEM_CLOCK, limit=limit)
            if result.handled or once:
                self.stdout.write(f"compliance relay: {result}")
            if once or self.stopping:
                return
            if result.handled < limit:  # a full round means more is probably due right now
                SYSTEM_CLOCK.sleep(interval)
            if self.stopping:
                return

    def _stop(self, signum, frame):
        # Finish the round in progress; a half-recorded delivery would only be redelivered anyway.
        self.stopping = True
