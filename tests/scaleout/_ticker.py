"""A fine-grained stand-in for the django-q2 scheduler, run as its own process by the scale-out tests.

django-q2's scheduler ticks every 30 s and the schedules are per minute, which is right for production
(backoff starts at 30 s, audio slots are 15 min apart) but far too coarse for a test that must finish
in a minute. This process enqueues the same scheduled task functions through the same broker, often:
advance and relay every TICK_SECONDS, discovery every DISCOVER_EVERY ticks. It only adds work when
the queue is short, like a scheduler that never fires a schedule twice at once. SIGTERM stops it.

    python tests/scaleout/_ticker.py       (environment as for `manage.py qcluster`)
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICK_SECONDS = float(os.environ.get("SCALEOUT_TICK_SECONDS", "0.5"))
DISCOVER_EVERY = 10
MAX_QUEUED = 4


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transcripts_site.settings")
    import django

    django.setup()
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    broker = get_broker()
    tick = 0
    while not stopping:
        if tick % DISCOVER_EVERY == 0:
            async_task("reviews.tasks.discover_task")
        if broker.queue_size() < MAX_QUEUED:
            async_task("reviews.tasks.advance_task")
            async_task("reviews.tasks.relay_outbox_task")
        tick += 1
        time.sleep(TICK_SECONDS)


if __name__ == "__main__":
    main()
