"""Child process: run OUR pipeline (reviews.pipeline.run_backfill) against whatever GENESYS_API_URL says.

Used by ingest_compare.py, chaos.py, crash_restart.py, sink_outage.py and sqlite_soak.py. Configuration comes
from the environment exactly as in production (DATA_DIR, DATABASE_URL, GENESYS_*, TRANSCRIPT_POLL_*,
COMPLIANCE_*). After the backfill it keeps relaying the compliance outbox until nothing is pending (or
--relay-seconds pass), then prints one JSON line: the BackfillSummary plus outbox state counts.

    DATA_DIR=/tmp/x GENESYS_API_URL=http://127.0.0.1:8787 .venv/bin/python bench/run_pipeline.py \
        --since 2026-11-01T00:00:00Z --until 2026-11-02T00:00:00Z --max-wait 120
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_client():
    from reviews.genesys_factory import build_client as factory

    return factory()


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--since", required=True)
    parser.add_argument("--until", required=True)
    parser.add_argument("--max-wait", type=float, default=600.0)
    parser.add_argument("--relay-seconds", type=float, default=60.0)
    parser.add_argument("--no-relay", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db.models import Count

    from genesys.clock import SYSTEM_CLOCK
    from reviews.models import OutboxMessage
    from reviews.pipeline import run_backfill

    client = build_client()
    started = time.monotonic()
    summary = run_backfill(
        client=client,
        since=parse_iso(args.since),
        until=parse_iso(args.until),
        clock=SYSTEM_CLOCK,
        max_wait=args.max_wait,
    )
    backfill_s = time.monotonic() - started
    relay_rounds = 0
    if not args.no_relay:
        from reviews.compliance.relay import relay_due

        deadline = time.monotonic() + args.relay_seconds
        while time.monotonic() < deadline:
            if not OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING).exists():
                break
            result = relay_due(clock=SYSTEM_CLOCK, limit=200)
            relay_rounds += 1
            if not getattr(result, "handled", 0):
                time.sleep(0.2)
    outbox = dict(OutboxMessage.objects.values_list("state").annotate(n=Count("id")))
    out = summary.as_dict()
    out.update(
        {
            "backfill_seconds": backfill_s,
            "total_seconds": time.monotonic() - started,
            "relay_rounds": relay_rounds,
            "outbox": outbox,
            "client_by_endpoint": {f"{k[0]} {k[1]}": v for k, v in getattr(client.stats, "by_endpoint", {}).items()},
        }
    )
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
