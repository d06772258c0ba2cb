"""Compliance sink outage: the webhook receiver is down for 5 minutes (time-scaled); nothing may be lost.

1. The webhook URL points at a port where nothing listens. Our pipeline ingests --conversations from the
   emulator (bench/run_pipeline.py --no-relay-wait), so the outbox fills; the filesystem sink keeps working.
2. The production relay loop (`manage.py compliance_relay --interval …`) runs throughout, retrying with the
   product's backoff (COMPLIANCE_RETRY_BASE_SECONDS / _MAX_SECONDS, scaled by --scale).
3. After OUTAGE = 300 s × scale the receiver comes up on that port. We wait until every webhook row is
   delivered (or --drain-timeout), then check: every transcript version received, none dead, no version
   under two keys, and the time from "receiver up" to "backlog drained".

    .venv/bin/python bench/sink_outage.py                    # scale 0.1: 30 s outage
    .venv/bin/python bench/sink_outage.py --scale 1          # the real 5 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    BENCH,
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    PYTHON,
    ROOT,
    WEBHOOK_SECRET,
    Receiver,
    django_env,
    free_port,
    md_table,
    migrate,
    section_text,
    write_section,
)
from bench.chaos import inspect, receiver_versions  # noqa: E402


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    parser = argparse.ArgumentParser(description="webhook sink outage and drain")
    parser.add_argument("--conversations", type=int, default=30)
    parser.add_argument(
        "--scale", type=float, default=0.1, help="1.0 = real 5-minute outage and production retry timings"
    )
    parser.add_argument("--drain-timeout", type=float, default=None, help="default: 4 × outage + 60 s")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from genesys.emulator import Emulator, generate_dataset

    outage = 300.0 * args.scale
    if args.drain_timeout is None:
        args.drain_timeout = 4 * outage + 60
    end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=24)
    ds = generate_dataset(seed=args.seed, conversations=args.conversations, start=start, end=end)
    for c in ds.conversations:
        if c.transcript:
            c.transcript.ready_delay_s = 0.0
    port = free_port()
    receiver = Receiver()
    emulator = Emulator(
        ds, client_id=EMULATOR_CLIENT_ID, client_secret=EMULATOR_CLIENT_SECRET, rate_limit_per_minute=3000
    )
    timeline = []
    with tempfile.TemporaryDirectory(prefix="tv-bench-outage-") as tmp, emulator.serve(host="127.0.0.1", port=0) as url:
        env = django_env(
            Path(tmp),
            GENESYS_API_URL=url,
            GENESYS_LOGIN_URL=url,
            GENESYS_RATE_LIMIT_PER_MINUTE=3000,
            TRANSCRIPT_POLL_BASE_SECONDS=0.5,
            TRANSCRIPT_POLL_MAX_SECONDS=5,
            TRANSCRIPT_DEADLINE_SECONDS=10,
            COMPLIANCE_WEBHOOK_URL=f"http://127.0.0.1:{port}/ingest",
            COMPLIANCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            COMPLIANCE_WEBHOOK_TIMEOUT_SECONDS=5,
            COMPLIANCE_RETRY_BASE_SECONDS=10.0 * args.scale,
            COMPLIANCE_RETRY_MAX_SECONDS=3600.0 * args.scale,
        )
        migrate(env)
        t0 = time.monotonic()
        relay = subprocess.Popen(
            [PYTHON, "manage.py", "compliance_relay", "--interval", str(max(0.2, 5.0 * args.scale))],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timeline.append(("0 s", "receiver DOWN; relay loop (manage.py compliance_relay) started"))
        ingest = subprocess.run(
            [
                PYTHON,
                str(BENCH / "run_pipeline.py"),
                "--since",
                iso(start),
                "--until",
                iso(end),
                "--max-wait",
                "300",
                "--no-relay",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if ingest.returncode != 0:
            raise RuntimeError(ingest.stderr[-3000:])
        summary = json.loads(ingest.stdout.strip().splitlines()[-1])
        timeline.append(
            (f"{time.monotonic() - t0:.0f} s", f"ingest finished: {summary['transcripts_new']} transcripts stored")
        )
        remaining = outage - (time.monotonic() - t0)
        if remaining > 0:
            time.sleep(remaining)
        during = inspect(env)
        pending_webhook = [o for o in during["outbox"] if o["sink"] == "webhook" and o["state"] != "delivered"]
        attempts_during = max((o["attempts"] for o in pending_webhook), default=0)
        timeline.append(
            (
                f"{time.monotonic() - t0:.0f} s",
                f"end of outage: {len(pending_webhook)} webhook rows undelivered, max attempts {attempts_during}; receiver UP",
            )
        )
        receiver.start(port=port)
        up_at = time.monotonic()
        drained_at = None
        while time.monotonic() - up_at < args.drain_timeout:
            dump = inspect(env)
            if all(o["state"] == "delivered" for o in dump["outbox"]):
                drained_at = time.monotonic()
                break
            if any(o["state"] == "dead" for o in dump["outbox"]):
                break
            time.sleep(max(0.5, args.scale * 5))
        final = inspect(env)
        os.killpg(relay.pid, signal.SIGTERM)
        try:
            relay.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(relay.pid, signal.SIGKILL)
        receiver.stop()
    if drained_at:
        timeline.append(
            (f"{drained_at - t0:.0f} s", f"backlog drained {drained_at - up_at:.1f} s after the receiver came up")
        )
    states = {}
    for o in final["outbox"]:
        states[(o["sink"], o["state"])] = states.get((o["sink"], o["state"]), 0) + 1
    versions, posts = receiver_versions(receiver)
    transcript_keys = {t["version_key"] for c in final["conversations"].values() for t in c["transcripts"]}
    missing = transcript_keys - set(posts)
    rows = [
        ("outage (scaled)", f"{outage:.0f} s (300 s × {args.scale})"),
        ("transcripts stored", len(transcript_keys)),
        ("outbox rows by sink/state at the end", ", ".join(f"{s}/{st}: {n}" for (s, st), n in sorted(states.items()))),
        ("webhook rows undelivered at end of outage", len(pending_webhook)),
        (
            "drain time after receiver up",
            f"{drained_at - up_at:.1f} s" if drained_at else f"**not drained within {args.drain_timeout:.0f} s**",
        ),
        ("transcript versions never received", len(missing)),
        ("versions received under >1 key", sum(1 for k in versions.values() if len(k) > 1)),
        ("POSTs received / distinct keys", f"{sum(posts.values())} / {len(posts)}"),
        ("max delivery attempts on a row", max((o["attempts"] for o in final["outbox"]), default=0)),
        ("dead letters", sum(1 for o in final["outbox"] if o["state"] == "dead")),
    ]
    table = md_table(["check", "result"], rows)
    tl = md_table(["t", "event"], timeline)
    notes = [
        f"COMPLIANCE_RETRY_BASE_SECONDS={10 * args.scale:g}, COMPLIANCE_RETRY_MAX_SECONDS={3600 * args.scale:g} (production 10 / 3600 × scale), "
        "COMPLIANCE_MAX_ATTEMPTS default 10; relay = the real `manage.py compliance_relay` loop.",
    ]
    body = section_text(f"Webhook sink outage ({outage:.0f} s)", table + "\n\nTimeline:\n\n" + tl, notes)
    print(body)
    if not args.no_write:
        write_section("sink_outage", body, doc="reliability.md", title="Reliability evidence")


if __name__ == "__main__":
    main()
