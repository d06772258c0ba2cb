"""Chaos run: our pipeline against the emulator's "chaos" fault profile with malformed documents.

The emulator (faults="chaos": 5xx, 429 bursts, cut S3 bodies, expired URLs, Range ignored, ETag changes,
latency) serves generate_dataset(..., malformed=M) (half invalid JSON, half invalid UTF-8). Our pipeline
(bench/run_pipeline.py, SQLite in a temp DATA_DIR, filesystem + webhook compliance sinks, the webhook going to
a local receiver) runs until every conversation is final. Then bench/inspect_db.py dumps the database and the
archive manifest and this script checks, against the dataset's ground truth:

  * every good transcript (normal/large) is stored exactly once, with all its phrases as utterances;
  * every malformed / invalid-UTF-8 one has no Transcript and no utterances, and a clear error recorded;
  * no transcript version was delivered under two different idempotency keys (receiver + manifest), and no
    good transcript's delivery is missing.

    .venv/bin/python bench/chaos.py                                  # 100 conversations
    .venv/bin/python bench/chaos.py --conversations 1000 --malformed 40   # documented full size
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
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
    md_table,
    migrate,
    run_measured,
    scaled_dataset_delays,
    section_text,
    write_section,
)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pipeline_env(tmp: Path, url: str, receiver: Receiver, args: argparse.Namespace, **extra) -> dict:
    # The lease also bounds how long batch-download members wait for a lost job (batch_patience_seconds):
    # scale it like every other delay (minimum 10 s).
    extra.setdefault("PIPELINE_LEASE_SECONDS", max(10, round(900 * args.scale)))
    return django_env(
        tmp,
        GENESYS_API_URL=url,
        GENESYS_LOGIN_URL=url,
        GENESYS_RATE_LIMIT_PER_MINUTE=args.rate,
        TRANSCRIPT_POLL_BASE_SECONDS=30.0 * args.scale,
        TRANSCRIPT_POLL_MAX_SECONDS=900.0 * args.scale,
        TRANSCRIPT_POLL_FRESH_SECONDS=300.0 * args.scale,
        TRANSCRIPT_DEADLINE_SECONDS=args.deadline,
        COMPLIANCE_WEBHOOK_URL=receiver.url,
        COMPLIANCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        COMPLIANCE_RETRY_BASE_SECONDS=10.0 * args.scale,
        COMPLIANCE_RETRY_MAX_SECONDS=3600.0 * args.scale,
        **extra,
    )


def inspect(env: dict) -> dict:
    import subprocess

    res = subprocess.run([PYTHON, str(BENCH / "inspect_db.py")], env=env, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def receiver_versions(receiver: Receiver) -> tuple[dict, Counter]:
    """(conversationId, communicationId, sha256) -> set of webhook-ids; and POSTs per webhook-id."""
    versions: dict[tuple, set] = defaultdict(set)
    posts = Counter()
    for post in receiver.posts:
        key = post["headers"].get("webhook-id")
        posts[key] += 1
        try:
            body = json.loads(post["body"])
            version = (
                body.get("conversationId"),
                body.get("communicationId"),
                (body.get("document") or {}).get("sha256"),
            )
        except ValueError:
            version = ("<bad json>", key, None)
        versions[version].add(key)
    return versions, posts


def check(dataset, dump: dict, receiver: Receiver, sinks: tuple[str, ...]) -> tuple[list, dict]:
    """Return (problems, facts)."""
    problems: list[str] = []
    convs = dump["conversations"]
    versions, posts = receiver_versions(receiver)
    delivered_keys = {k for ks in versions.values() for k in ks}
    errors_by_kind: dict[str, Counter] = defaultdict(Counter)
    facts = Counter()
    for sim in dataset.conversations:
        got = convs.get(sim.conversation_id)
        kind = sim.transcript.kind if sim.transcript else "never_ready"
        facts[f"{kind} conversations"] += 1
        if got is None:
            problems.append(f"{sim.conversation_id} ({kind}) was never discovered")
            continue
        trs = got["transcripts"]
        if kind in ("normal", "large"):
            mine = [t for t in trs if t["communication_id"] == sim.transcript.communication_id]
            if len(mine) != 1:
                problems.append(f"{sim.conversation_id} ({kind}): {len(mine)} Transcript rows, expected 1")
                continue
            t = mine[0]
            if t["utterances"] != sim.transcript.phrase_count:
                problems.append(
                    f"{sim.conversation_id} ({kind}): {t['utterances']} utterances, expected {sim.transcript.phrase_count}"
                )
            if got["state"] != "stored":
                problems.append(f"{sim.conversation_id} ({kind}): state {got['state']}")
            for sink in sinks:
                rows = [o for o in t["outbox"] if o[0] == sink]
                if len(rows) != 1 or rows[0][1] != t["version_key"]:
                    problems.append(f"{sim.conversation_id}: outbox rows for {sink}: {rows}")
                elif rows[0][2] != "delivered":
                    problems.append(f"{sim.conversation_id}: {sink} delivery {rows[0][2]} after {rows[0][3]} attempts")
            if "webhook" in sinks and t["version_key"] not in delivered_keys:
                problems.append(f"{sim.conversation_id}: webhook never received {t['version_key']}")
            if "filesystem" in sinks and dump["manifest_keys"].get(t["version_key"], 0) != 1:
                problems.append(
                    f"{sim.conversation_id}: manifest lists {t['version_key']} {dump['manifest_keys'].get(t['version_key'], 0)}×"
                )
            facts["good stored exactly once"] += 1
        else:
            if trs:
                problems.append(
                    f"{sim.conversation_id} ({kind}): {len(trs)} Transcript rows stored from a bad/missing document"
                )
            if got["state"] not in ("audio_fallback", "failed"):
                problems.append(f"{sim.conversation_id} ({kind}): state {got['state']}, expected audio_fallback/failed")
            message = (got["manual_review_reason"] or got["last_error"] or "").strip()
            if not message:
                problems.append(f"{sim.conversation_id} ({kind}): no error/reason recorded")
            errors_by_kind[kind][f"{got['state']}: {message[:160]}"] += 1
            facts[f"{kind} → {got['state']}, nothing partial"] += 0 if trs else 1
    for version, keys in versions.items():
        if len(keys) > 1:
            problems.append(f"version {version} delivered under {len(keys)} different keys")
    facts["webhook POSTs"] = sum(posts.values())
    facts["distinct webhook keys"] = len(posts)
    facts["max POSTs of one key (retries after timeouts are allowed)"] = max(posts.values()) if posts else 0
    facts["manifest entries"] = sum(dump["manifest_keys"].values())
    facts["manifest keys listed twice"] = sum(1 for n in dump["manifest_keys"].values() if n > 1)
    return problems, {"facts": facts, "errors_by_kind": errors_by_kind}


def main() -> None:
    parser = argparse.ArgumentParser(description="chaos fault profile + malformed documents")
    parser.add_argument("--conversations", type=int, default=100, help="full: 1000")
    parser.add_argument(
        "--malformed", type=int, default=6, help="malformed documents (half invalid JSON, half invalid UTF-8); full: 40"
    )
    parser.add_argument("--faults", default="chaos")
    parser.add_argument("--rate", type=int, default=3000, help="emulator + client allowance per minute")
    parser.add_argument("--scale", type=float, default=0.02, help="time scale for readiness delays and polling")
    parser.add_argument("--deadline", type=float, default=30.0, help="TRANSCRIPT_DEADLINE_SECONDS (real seconds)")
    parser.add_argument("--max-wait", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from genesys.emulator import Emulator, generate_dataset

    end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=24)
    ds = generate_dataset(
        seed=args.seed,
        conversations=args.conversations,
        start=start,
        end=end,
        malformed=args.malformed,
        large=1,
        large_mb=2,
    )
    scaled_dataset_delays(ds, args.scale)
    receiver = Receiver().start()
    emulator = Emulator(
        ds,
        client_id=EMULATOR_CLIENT_ID,
        client_secret=EMULATOR_CLIENT_SECRET,
        faults=args.faults,
        rate_limit_per_minute=args.rate,
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory(prefix="tv-bench-chaos-") as tmp, emulator.serve(host="127.0.0.1", port=0) as url:
        env = pipeline_env(Path(tmp), url, receiver, args)
        migrate(env)
        print(
            f"[chaos] {args.conversations} conversations, {args.malformed} malformed, faults={args.faults} ...",
            flush=True,
        )
        res = run_measured(
            [
                PYTHON,
                str(BENCH / "run_pipeline.py"),
                "--since",
                iso(start),
                "--until",
                iso(end),
                "--max-wait",
                str(args.max_wait),
                "--relay-seconds",
                "300",
            ],
            env=env,
        )
        if res.returncode != 0:
            raise RuntimeError(res.stderr[-3000:])
        summary = json.loads(res.stdout.strip().splitlines()[-1])
        dump = inspect(env)
        stats = emulator.stats
    receiver.stop()
    locked = (res.stderr + res.stdout).count("database is locked")
    problems, detail = check(ds, dump, receiver, ("filesystem", "webhook"))
    rows = [(k, v) for k, v in detail["facts"].items()]
    rows += [
        (
            "emulator: API calls / 429s sent / injected 5xx",
            f"{stats.api_calls} / {stats.rate_limited} / {stats.server_errors}",
        ),
        ("emulator: S3 requests / cut bodies", f"{stats.s3_requests} / {stats.s3_drops}"),
        ("client retries (BackfillSummary)", summary.get("retries")),
        ("final states", summary.get("states")),
        ("finished (all final)", summary.get("finished")),
        ('"database is locked" in output', locked),
        ("wall time", f"{res.seconds:.0f} s"),
        ("**problems found**", len(problems)),
    ]
    table = md_table(["check", "result"], rows)
    err_rows = [
        (kind, n, msg) for kind, counter in detail["errors_by_kind"].items() for msg, n in counter.most_common(4)
    ]
    err_table = md_table(["document kind", "conversations", "state: recorded reason (first 160 chars)"], err_rows)
    notes = [
        f"generate_dataset(seed={args.seed}, conversations={args.conversations}, malformed={args.malformed}, large=1, large_mb=2); "
        f"emulator faults={args.faults!r}, allowance {args.rate}/min (raised from 300 to keep the run short; 429 bursts still injected).",
        f"Time scale {args.scale}: readiness delays, TRANSCRIPT_POLL_BASE/MAX and PIPELINE_LEASE_SECONDS (900 s, min 10) × {args.scale}; "
        f"TRANSCRIPT_DEADLINE_SECONDS={args.deadline:g}.",
        "Problems (first 15): " + ("none" if not problems else "; ".join(problems[:15])),
    ]
    body = section_text(
        f"Chaos: {args.conversations} conversations, faults={args.faults}",
        table + "\n\nErrors recorded:\n\n" + err_table,
        notes,
    )
    print(body)
    if not args.no_write:
        write_section("chaos", body, doc="reliability.md", title="Reliability evidence")


if __name__ == "__main__":
    main()
