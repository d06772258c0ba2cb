"""Crash/restart: SIGKILL the pipeline driver 3 times mid-run; the final state must equal a clean run's.

Two runs over the same emulator dataset (fresh emulator, same seed, each with its own temp DATA_DIR/SQLite):
  clean:  bench/run_pipeline.py once, to completion;
  crashy: bench/run_pipeline.py started and SIGKILLed --kills times at random moments in
          [--kill-min, --kill-max] seconds after start, then started once more and left to finish.
Then both databases are dumped (bench/inspect_db.py) and compared per conversation: final state, each
transcript's sha256 / utterance count / idempotency key / outbox rows, audio recordings, archive manifest
keys; plus the webhook receiver: every key delivered, and no version under two keys. The SQLite file must
pass PRAGMA integrity_check and the FTS5 'integrity-check' command.

PIPELINE_LEASE_SECONDS and COMPLIANCE_LEASE_SECONDS are 10 (their minimum) so that conversations and outbox
rows leased by a killed driver are taken over after 10 s instead of the production 900 s / 600 s.

    .venv/bin/python bench/crash_restart.py                         # 40 conversations
    .venv/bin/python bench/crash_restart.py --conversations 200     # documented full size
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
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
    Receiver,
    md_table,
    migrate,
    scaled_dataset_delays,
    section_text,
    write_section,
)
from bench.chaos import inspect, pipeline_env, receiver_versions  # noqa: E402


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def comparable(dump: dict) -> dict:
    out = {}
    for gid, c in dump["conversations"].items():
        out[gid] = {
            "state": c["state"],
            "recordings": c["recordings"],
            "transcripts": sorted(
                (
                    t["communication_id"],
                    t["sha256"],
                    t["utterances"],
                    t["version_key"],
                    tuple(tuple(o[:3]) for o in t["outbox"]),
                )
                for t in c["transcripts"]
            ),
        }
    return out


def one_side(args: argparse.Namespace, *, kills: int) -> dict:
    from genesys.emulator import Emulator, generate_dataset

    end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=24)
    ds = generate_dataset(seed=args.seed, conversations=args.conversations, start=start, end=end, malformed=2)
    scaled_dataset_delays(ds, args.scale)
    receiver = Receiver().start()
    emulator = Emulator(
        ds,
        client_id=EMULATOR_CLIENT_ID,
        client_secret=EMULATOR_CLIENT_SECRET,
        rate_limit_per_minute=args.rate,
        seed=args.seed,
    )
    rng = random.Random(args.seed)
    kill_log = []
    with tempfile.TemporaryDirectory(prefix="tv-bench-crash-") as tmp, emulator.serve(host="127.0.0.1", port=0) as url:
        env = pipeline_env(Path(tmp), url, receiver, args, PIPELINE_LEASE_SECONDS=10, COMPLIANCE_LEASE_SECONDS=10)
        migrate(env)
        cmd = [PYTHON, str(BENCH / "run_pipeline.py"), "--since", iso(start), "--until", iso(end), "--max-wait", "600"]
        started = time.monotonic()
        for i in range(kills):
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            delay = rng.uniform(args.kill_min, args.kill_max)
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                dump_mid = inspect(env)
                states = {}
                for c in dump_mid["conversations"].values():
                    states[c["state"]] = states.get(c["state"], 0) + 1
                kill_log.append(f"kill {i + 1} at {delay:.1f}s: states {states}")
            else:
                kill_log.append(f"kill {i + 1}: driver had already exited after {delay:.1f}s (rc {proc.returncode})")
        final = subprocess.run(cmd + ["--relay-seconds", "120"], env=env, cwd=ROOT, capture_output=True, text=True)
        if final.returncode != 0:
            raise RuntimeError(final.stderr[-3000:])
        seconds = time.monotonic() - started
        summary = json.loads(final.stdout.strip().splitlines()[-1])
        dump = inspect(env)
        db = Path(tmp) / "transcript_vault.sqlite3"
        con = sqlite3.connect(db)
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        try:
            con.execute("INSERT INTO reviews_utterance_fts(reviews_utterance_fts) VALUES('integrity-check')")
            fts = "ok"
        except sqlite3.DatabaseError as exc:
            fts = f"FAILED: {exc}"
        con.close()
    receiver.stop()
    versions, posts = receiver_versions(receiver)
    return {
        "dump": dump,
        "summary": summary,
        "seconds": seconds,
        "kills": kill_log,
        "integrity": integrity,
        "fts": fts,
        "versions": versions,
        "posts": posts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="SIGKILL the driver mid-run; compare with a clean run")
    parser.add_argument("--conversations", type=int, default=40, help="full: 200")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--kill-min", type=float, default=2.0)
    parser.add_argument("--kill-max", type=float, default=6.0)
    parser.add_argument("--rate", type=int, default=600)
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--deadline", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    print(f"[crash] clean run, {args.conversations} conversations ...", flush=True)
    clean = one_side(args, kills=0)
    print(f"[crash] crashy run: {args.kills} SIGKILLs ...", flush=True)
    crashy = one_side(args, kills=args.kills)
    for line in crashy["kills"]:
        print("  ", line)

    a, b = comparable(clean["dump"]), comparable(crashy["dump"])
    diffs = [gid for gid in set(a) | set(b) if a.get(gid) != b.get(gid)]
    dup_versions = sum(1 for keys in crashy["versions"].values() if len(keys) > 1)
    keys_a = set(clean["dump"]["manifest_keys"])
    keys_b = set(crashy["dump"]["manifest_keys"])
    rows = [
        ("conversations (clean / crashy)", f"{len(a)} / {len(b)}"),
        ("final states (clean)", clean["summary"]["states"]),
        ("final states (crashy)", crashy["summary"]["states"]),
        ("conversations whose final state differs", len(diffs)),
        ("archive manifest keys equal", keys_a == keys_b),
        ("manifest keys listed twice (crashy)", sum(1 for n in crashy["dump"]["manifest_keys"].values() if n > 1)),
        ("webhook keys received (clean / crashy)", f"{len(clean['posts'])} / {len(crashy['posts'])}"),
        ("versions delivered under >1 key (crashy)", dup_versions),
        ("PRAGMA integrity_check (crashy)", crashy["integrity"]),
        ("FTS5 integrity-check (crashy)", crashy["fts"]),
        ("wall time clean / crashy", f"{clean['seconds']:.0f} s / {crashy['seconds']:.0f} s"),
    ]
    table = md_table(["check", "result"], rows)
    notes = ["Kills: " + "; ".join(crashy["kills"])]
    if diffs:
        sample = diffs[0]
        notes.append(f"First difference ({sample}): clean={a.get(sample)} crashy={b.get(sample)}")
    notes.append(
        "SIGKILL of the single driver process (bench/run_pipeline.py = reviews.pipeline.run_backfill + relay), "
        "SQLite WAL, filesystem + webhook sinks; PIPELINE_LEASE_SECONDS=10, COMPLIANCE_LEASE_SECONDS=10."
    )
    body = section_text(f"Crash/restart: {args.kills} SIGKILLs, {args.conversations} conversations", table, notes)
    print(body)
    if not args.no_write:
        write_section("crash_restart", body, doc="reliability.md", title="Reliability evidence")


if __name__ == "__main__":
    main()
