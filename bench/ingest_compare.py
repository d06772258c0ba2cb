"""Ingestion: the tutorial's algorithm (bench/tutorial_baseline.py) vs OUR pipeline, same emulator data, one run.

For each side a FRESH emulator (genesys.emulator, same seed, same dataset, same rate limit) runs in this
process; the client under test runs as a child process, so wall time and peak RSS (os.wait4 ru_maxrss) are
its own. API calls, token requests and 429s are counted by the emulator (server side), so both sides are
measured the same way. Compliance deliveries go to a local HTTP receiver in this process.

Time scale (--scale k, default 0.02): every delay is multiplied by k for BOTH sides:
  emulator readiness delays (ready_delay_s), the tutorial's 2 s base / 1 s jitter / 30 s cap, our
  TRANSCRIPT_POLL_BASE_SECONDS (30 s), TRANSCRIPT_POLL_MAX_SECONDS (900 s) and TRANSCRIPT_POLL_FRESH_SECONDS
  (300 s). Our
  TRANSCRIPT_DEADLINE_SECONDS is set to the tutorial's own give-up budget (20 polls = 510 s) x k; the product
  counts it from max(call end, discovery), so both fall back to audio after the same time. Rate limits and Retry-After are NOT scaled (they are real).

Scenarios (--scenario backfill|live|both, default both; the same dataset and k for both):
  backfill  every conversation ENDED one hour (= 3,600 s, unscaled) before the run, so every transcript that
            will ever be ready already is; both sides at --rate. The tutorial handles one conversation after
            another.
  live      the tutorial's own situation: every conversation ends at the moment each side's client is
            launched (T0), so transcripts become ready during the run per the emulator's delays (normal
            60-180 s, delayed 30-300 s, never) x k. The tutorial's /api/transcripts/process runs once per call,
            right after it ended, concurrently (one handler thread per conversation, as Node would serve 200
            requests). Our side runs as in production (discovery, bulk availability probe, transcripturl, audio
            fallback at TRANSCRIPT_DEADLINE_SECONDS = 510 s x k after T0). Compressing time by k multiplies every
            request rate by 1/k, so the rate limit is scaled too (--live-rate, default --rate / k, the same for
            both sides): it binds as --rate would at real speed. Retry-After stays real.

Backlog mode (--backlog N): only our pipeline, N transcripts that are all ready (never-ready, delayed and
malformed conversations removed), rate limit --backlog-rate; reports transcripts/min against the ceiling
allowance / (API calls per transcript).

    .venv/bin/python bench/ingest_compare.py                                  # 40 conversations (~1 min)
    .venv/bin/python bench/ingest_compare.py --conversations 200 --backlog 2000 --backlog-rate 300   # full
    .venv/bin/python bench/ingest_compare.py --conversations 200 --scenario live                      # live only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    BENCH,
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    PYTHON,
    WEBHOOK_SECRET,
    Receiver,
    django_env,
    md_table,
    migrate,
    run_measured,
    scaled_dataset_delays,
    section_text,
    stat,
    write_section,
)
from bench.chaos import inspect  # noqa: E402

TUTORIAL_POLL_BUDGET_S = 2 + 4 + 8 + 16 + 16 * 30  # 20 attempts: 2 s doubled, capped at 30 s (jitter excluded)


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def window() -> tuple[datetime, datetime]:
    end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=24), end


def make_dataset(
    args: argparse.Namespace,
    *,
    conversations: int,
    backlog: bool = False,
    malformed: int = 0,
    live_t0: datetime | None = None,
):
    """The dataset, and the (since, until) discovery window.

    Comparison mode: every conversation is moved so that it ENDED at the same moment T0 (one hour ago,
    durations kept). Our pipeline's give-up deadline is `ended_at + TRANSCRIPT_DEADLINE_SECONDS`, so with a
    common end we can give it exactly the tutorial's polling budget (510 s × k) counted from the start of
    its run (see run_ours), and both sides face the same "transcript still not there" situations.
    """
    from genesys.emulator import generate_dataset

    start, end = window()
    ds = generate_dataset(seed=args.seed, conversations=conversations, start=start, end=end, malformed=malformed)
    if backlog:
        keep = [c for c in ds.conversations if c.transcript is not None and c.transcript.kind == "normal"]
        for c in keep:
            c.transcript.ready_delay_s = 0.0
            c.transcript.delayed = False
        ds.conversations = keep
        ds.__post_init__()
        return ds, start, end
    scaled_dataset_delays(ds, args.scale)
    t0 = live_t0 or end  # live: the calls end right now, transcripts become ready during the run
    for c in ds.conversations:
        duration = c.end - c.start
        c.end = t0
        c.start = t0 - duration
    ds.conversations.sort(key=lambda c: (c.start, c.conversation_id))
    ds.__post_init__()
    return ds, t0 - timedelta(hours=1), t0 + timedelta(minutes=1)


def scaled_faults(args: argparse.Namespace, *, backlog: bool = False):
    """Fault profile "none" with the recording transcode time (3–8 s) scaled like every other delay."""
    from dataclasses import replace

    from genesys.emulator import FAULT_PROFILES

    base = FAULT_PROFILES["none"]
    if backlog:
        return base
    lo, hi = base.transcode_seconds
    return replace(base, transcode_seconds=(lo * args.scale, hi * args.scale))


def emulator_stats(emulator) -> dict:
    s = emulator.stats
    by_endpoint = stat(s, "by_endpoint", {}) or {}
    return {
        "api_calls": stat(s, "api_calls"),
        "token_requests": stat(s, "token_requests"),
        "rate_limited": stat(s, "rate_limited"),
        "s3_bytes": stat(s, "s3_bytes"),
        "by_endpoint": {str(k): v for k, v in dict(by_endpoint).items()},
    }


def scenario_rate(args: argparse.Namespace, scenario: str) -> int:
    if scenario == "live":
        return args.live_rate or round(args.rate / args.scale)
    return args.rate


def posted_conversation(post: dict) -> str | None:
    """The conversation a compliance POST is about: ours sends conversationId, the tutorial "cid/comm"."""
    try:
        body = json.loads(post["body"])
    except ValueError:
        return None
    return body.get("conversationId") or str(body.get("transcriptId") or "").split("/")[0] or None


def delivery_latency(posts: list[dict], emulator, k: float) -> dict:
    """Seconds (unscaled: divided by k) from "Genesys has the transcript" (the emulator's ready time) to its
    first compliance POST, over the conversations whose transcript became ready; p50, p95 and max."""
    ready = {conv.conversation_id: emulator.transcript_ready_at(conv) for conv in emulator.dataset.conversations}
    first_post: dict[str, float] = {}
    for post in posts:
        cid = posted_conversation(post)
        if cid and ready.get(cid) is not None:
            first_post[cid] = min(first_post.get(cid, post["at"]), post["at"])
    waits = sorted(max(at - ready[cid], 0.0) / k for cid, at in first_post.items())
    if not waits:
        return {"n": 0}
    return {
        "n": len(waits),
        "p50": waits[len(waits) // 2],
        "p95": waits[min(len(waits) - 1, int(len(waits) * 0.95))],
        "max": waits[-1],
    }


def run_baseline(args: argparse.Namespace, scenario: str = "backfill") -> dict:
    from genesys.emulator import Emulator

    live = scenario == "live"
    ds, start, end = make_dataset(args, conversations=args.conversations, live_t0=now_utc() if live else None)
    receiver = Receiver().start()
    emulator = Emulator(
        ds,
        client_id=EMULATOR_CLIENT_ID,
        client_secret=EMULATOR_CLIENT_SECRET,
        rate_limit_per_minute=scenario_rate(args, scenario),
        seed=args.seed,
        faults=scaled_faults(args),
    )
    try:
        with emulator.serve(host="127.0.0.1", port=0) as url:
            cmd = [PYTHON, str(BENCH / "tutorial_baseline.py"), "--api-url", url, "--client-id", EMULATOR_CLIENT_ID]
            cmd += ["--client-secret", EMULATOR_CLIENT_SECRET, "--since", iso(start), "--until", iso(end)]
            cmd += ["--compliance-url", receiver.url, "--scale", str(args.scale), "--seed", str(args.seed)]
            if args.no_bearer_on_s3:
                cmd.append("--no-bearer-on-s3")
            if live:
                cmd.append("--concurrent")
            res = run_measured(cmd, env=None, timeout=args.timeout)
            stats = emulator_stats(emulator)
    finally:
        receiver.stop()
    if res.returncode != 0:
        raise RuntimeError(f"baseline failed ({res.returncode}):\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {
        "side": "tutorial baseline",
        "scenario": scenario,
        "rate": scenario_rate(args, scenario),
        "seconds": res.seconds,
        "peak_rss_mb": res.peak_rss_mb,
        "transcripts": out.get("outcomes", {}).get("transcript", 0),
        "fallbacks": out.get("outcomes", {}).get("fallback", 0),
        "errors": out.get("outcomes", {}).get("error", 0),
        "compliance_posts": len(receiver.posts),
        "delivery_latency": delivery_latency(receiver.posts, emulator, args.scale),
        "client": out,
        "emulator": stats,
        "conversations": len(ds.conversations),
        "dataset": ds.summary(),
    }


def run_ours(args: argparse.Namespace, *, backlog: int = 0, scenario: str = "backfill") -> dict:
    with tempfile.TemporaryDirectory(prefix="tv-bench-ingest-") as tmp:
        # Migrate first: in the live scenario the calls end when the client starts, not before the migrations.
        migrate(django_env(Path(tmp)))
        return _run_ours(args, Path(tmp), backlog=backlog, scenario=scenario)


def _run_ours(args: argparse.Namespace, tmp: Path, *, backlog: int, scenario: str) -> dict:
    from genesys.emulator import Emulator

    if backlog:
        ds, start, end = make_dataset(args, conversations=int(backlog / 0.9) + 1, backlog=True)
        ds.conversations = ds.conversations[:backlog]
        ds.__post_init__()
        rate = args.backlog_rate
    else:
        live = scenario == "live"
        ds, start, end = make_dataset(args, conversations=args.conversations, live_t0=now_utc() if live else None)
        rate = scenario_rate(args, scenario)
    receiver = Receiver().start()
    emulator = Emulator(
        ds,
        client_id=EMULATOR_CLIENT_ID,
        client_secret=EMULATOR_CLIENT_SECRET,
        rate_limit_per_minute=rate,
        seed=args.seed,
        faults=scaled_faults(args, backlog=bool(backlog)),
    )
    k = 1.0 if backlog else args.scale
    try:
        with emulator.serve(host="127.0.0.1", port=0) as url:
            env = django_env(
                tmp,
                GENESYS_API_URL=url,
                GENESYS_LOGIN_URL=url,
                GENESYS_RATE_LIMIT_PER_MINUTE=rate,
                TRANSCRIPT_POLL_BASE_SECONDS=30.0 * k,
                TRANSCRIPT_POLL_MAX_SECONDS=900.0 * k,
                TRANSCRIPT_POLL_FRESH_SECONDS=300.0 * k,
                TRANSCRIPT_DEADLINE_SECONDS=48 * 3600.0,
                COMPLIANCE_WEBHOOK_URL=receiver.url,
                COMPLIANCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                COMPLIANCE_RETRY_BASE_SECONDS=10.0 * k,
                COMPLIANCE_RETRY_MAX_SECONDS=3600.0 * k,
                **({"GENESYS_RATE_LIMIT_HEADROOM": args.headroom} if args.headroom else {}),
            )
            if not backlog:
                # The product's deadline is max(ended_at, discovered_at) + D (reviews/pipeline/schedule.py): in both
                # scenarios that is "from the start of our run", as the tutorial's polling budget is.
                env["TRANSCRIPT_DEADLINE_SECONDS"] = str(TUTORIAL_POLL_BUDGET_S * k)
            cmd = [PYTHON, str(BENCH / "run_pipeline.py"), "--since", iso(start), "--until", iso(end)]
            cmd += ["--max-wait", str(args.timeout), "--relay-seconds", "120"]
            res = run_measured(cmd, env=env, timeout=args.timeout + 200)
            stats = emulator_stats(emulator)
            dump = inspect(env) if res.returncode == 0 else {"conversations": {}}
    finally:
        receiver.stop()
    if res.returncode != 0:
        raise RuntimeError(f"pipeline failed ({res.returncode}):\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    truth = {
        c.conversation_id: (c.transcript.kind if c.transcript else "never_ready")
        + (" delayed" if c.transcript and c.transcript.delayed else "")
        for c in ds.conversations
    }
    not_stored = Counter(
        f"{truth.get(gid, '?')} -> {c['state']}: {(c['manual_review_reason'] or c['last_error'])[:80]}"
        for gid, c in dump["conversations"].items()
        if c["state"] != "stored"
    )
    webhook_keys = {p["headers"].get("webhook-id") or p["headers"].get("idempotency-key") for p in receiver.posts}
    return {
        "side": "our pipeline",
        "scenario": scenario,
        "not_stored": dict(not_stored),
        "seconds": res.seconds,
        "backfill_seconds": out.get("backfill_seconds"),
        "peak_rss_mb": res.peak_rss_mb,
        "transcripts": out.get("transcripts_new", 0),
        "fallbacks": out.get("audio_fallbacks", 0),
        "errors": out.get("states", {}).get("failed", 0),
        "compliance_posts": len(receiver.posts),
        "compliance_distinct": len(webhook_keys),
        "delivery_latency": delivery_latency(receiver.posts, emulator, k),
        "client": out,
        "emulator": stats,
        "rate": rate,
        "conversations": len(ds.conversations),
        "dataset": ds.summary(),
    }


def compare(args: argparse.Namespace, scenario: str) -> dict:
    print(f"[ingest] {scenario}: tutorial baseline, {args.conversations} conversations, k={args.scale} ...", flush=True)
    base = run_baseline(args, scenario)
    print(json.dumps({k: v for k, v in base.items() if k not in ("client",)}, default=str), flush=True)
    print(f"[ingest] {scenario}: our pipeline, {args.conversations} conversations ...", flush=True)
    ours = run_ours(args, scenario=scenario)
    print(json.dumps({k: v for k, v in ours.items() if k not in ("client",)}, default=str), flush=True)

    def per_t(side: dict, *keys: str) -> float:
        return sum(side["emulator"][key] for key in keys) / max(side["transcripts"], 1)

    rows = [
        (
            scenario,
            side["side"],
            side["rate"],
            side["seconds"],
            side["transcripts"],
            side["fallbacks"],
            side["errors"],
            side["emulator"]["api_calls"],
            per_t(side, "api_calls"),
            side["emulator"]["token_requests"],
            per_t(side, "api_calls", "token_requests"),
            side["emulator"]["rate_limited"],
            side["compliance_posts"],
            f"{side['peak_rss_mb']:.0f} MB",
        )
        for side in (base, ours)
    ]
    return {
        "scenario": scenario,
        "base": base,
        "ours": ours,
        "rows": rows,
        "call_ratio": per_t(base, "api_calls") / max(per_t(ours, "api_calls"), 1e-9),
        "all_ratio": per_t(base, "api_calls", "token_requests") / max(per_t(ours, "api_calls", "token_requests"), 1e-9),
        "time_ratio": base["seconds"] / max(ours["seconds"], 1e-9),
    }


def latency_text(side: dict) -> str:
    latency = side.get("delivery_latency") or {}
    if not latency.get("n"):
        return "n/a"
    return f"{latency['p50']:.0f} / {latency['p95']:.0f} s"


def compare_section(args: argparse.Namespace, results: list[dict]) -> str:
    table = md_table(
        [
            "scenario",
            "side",
            "rate limit /min",
            "wall s",
            "transcripts",
            "audio fallbacks",
            "errors/failed",
            "API calls",
            "API calls / transcript",
            "token requests",
            "API+token / transcript",
            "429s",
            "compliance POSTs",
            "peak RSS",
        ],
        [row for r in results for row in r["rows"]],
    )
    goal_rows = []
    for r in results:
        goal_rows += [
            (
                r["scenario"],
                "fewer Genesys API calls per transcript (excl. token)",
                "≥ 5×",
                f"{r['call_ratio']:.1f}×",
                "yes" if r["call_ratio"] >= 5 else "**no**",
            ),
            (r["scenario"], "fewer API + token calls per transcript", "-", f"{r['all_ratio']:.1f}×", ""),
            (
                r["scenario"],
                "shorter wall time",
                "≥ 3×",
                f"{r['time_ratio']:.1f}×",
                "yes" if r["time_ratio"] >= 3 else "**no**",
            ),
        ]
        if r["scenario"] == "live":  # in a backfill every transcript was ready long before the run
            goal_rows.append(
                (
                    r["scenario"],
                    "transcript ready → its compliance POST, p50 / p95 (real-time s = measured ÷ k), tutorial vs ours",
                    "-",
                    f"{latency_text(r['base'])} vs {latency_text(r['ours'])}",
                    "",
                )
            )
    goals = md_table(["scenario", "goal", "target", "measured", "met"], goal_rows)
    first = results[0]["base"]
    by_scenario = {r["scenario"]: r for r in results}
    notes = [
        f"Dataset: genesys.emulator.generate_dataset(seed={args.seed}, conversations={args.conversations}), the same for "
        f"every run; mix {first['dataset']}.",
        f"Time scale k={args.scale} in both scenarios, both sides: readiness delays, recording transcode time, the tutorial's "
        "2 s base / 1 s jitter / 30 s cap, our TRANSCRIPT_POLL_BASE_SECONDS 30 s / TRANSCRIPT_POLL_MAX_SECONDS 900 s / "
        "TRANSCRIPT_POLL_FRESH_SECONDS 300 s; "
        "our TRANSCRIPT_DEADLINE_SECONDS = the tutorial's 20-poll budget (510 s) × k; the product counts it from "
        "max(call end, discovery), i.e. from the start of our run in both scenarios, as the tutorial's budget starts "
        "with its first poll (all conversations end at one moment, durations kept).",
    ]
    if "backfill" in by_scenario:
        notes.append(
            f"backfill: conversations ended 1–2 h before the run (every transcript that will be ready is ready); rate "
            f"limit {args.rate}/min for both; the tutorial handles conversations one after another."
        )
    if "live" in by_scenario:
        live = by_scenario["live"]
        notes.append(
            f"live: conversations end at the moment each side's client is launched; transcripts become ready during the "
            f"run (normal 60–180 s, delayed 30–300 s after the emulator starts, never) × k. The tutorial's process route "
            f"runs for every call right after it ended, concurrently (one handler thread per conversation). Rate limit "
            f"{live['base']['rate']}/min for both = {args.rate}/min ÷ k, because compressing time by k multiplies request "
            "rates by 1/k (Retry-After is not scaled). Child start-up (≈0.3 s for the tutorial script, ≈1 s for Django) "
            f"counts as time after the calls ended, i.e. ≈{0.3 / args.scale:.0f}–{1 / args.scale:.0f} s real time at "
            f"k={args.scale}."
        )
    notes += [
        "API calls, token requests and 429s are counted by the emulator (a 429 response is also an API call); S3 "
        "(pre-signed) GETs and OAuth are not API calls. Wall time is the child process's, from start to exit (our side "
        "includes draining the compliance outbox; migrations are run before and excluded).",
        "Baseline sent Authorization: Bearer on the pre-signed S3 GETs: "
        f"{'no (--no-bearer-on-s3)' if args.no_bearer_on_s3 else 'yes'}; S3 rejected it "
        + ", ".join(f"{r['scenario']}: {r['base']['client'].get('s3_rejected_bearer', 0)}" for r in results)
        + " time(s) (then the port drops the header). Baseline S3 requests (8 KB ranges): "
        + ", ".join(f"{r['scenario']}: {r['base']['client'].get('s3_requests', 0):,}" for r in results)
        + ".",
        "The tutorial regex /<REDACTED>|[REDACTED_PII]/ matched "
        + ", ".join(f"{r['scenario']}: {r['base']['client'].get('pii_regex_matches', 0):,}" for r in results)
        + " times (a character class: every R, E, D, A, C, T, _, P, I) — it measures letters, not redaction.",
        "Our compliance POSTs / distinct idempotency keys: "
        + ", ".join(
            f"{r['scenario']}: {r['ours']['compliance_posts']} / {r['ours'].get('compliance_distinct')}"
            for r in results
        )
        + ".",
    ]
    for r in results:
        if r["ours"].get("not_stored"):
            notes.append(f"{r['scenario']}: ours not stored: {r['ours']['not_stored']}.")
    scenarios = " + ".join(r["scenario"] for r in results)
    return section_text(
        f"Ingestion: tutorial vs ours ({args.conversations} conversations; {scenarios})", table + "\n\n" + goals, notes
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="tutorial vs our pipeline, same emulator data")
    parser.add_argument("--conversations", type=int, default=40, help="dataset size for the comparison (full: 200)")
    parser.add_argument("--scenario", choices=("backfill", "live", "both"), default="both")
    parser.add_argument("--rate", type=int, default=300, help="emulator rate limit per minute (both sides)")
    parser.add_argument(
        "--live-rate", type=int, default=None, help="live scenario rate limit per minute (default: --rate / --scale)"
    )
    parser.add_argument("--scale", type=float, default=0.02, help="time scale applied to every delay")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="max seconds per side")
    parser.add_argument(
        "--backlog", type=int, default=0, help="also run the backlog throughput test with N transcripts"
    )
    parser.add_argument("--backlog-rate", type=int, default=300, help="emulator + client rate limit for --backlog")
    parser.add_argument(
        "--headroom", type=float, default=None, help="override GENESYS_RATE_LIMIT_HEADROOM (default: product's 0.9)"
    )
    parser.add_argument(
        "--no-bearer-on-s3", action="store_true", help="baseline deviation: no Authorization on S3 GETs"
    )
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    sections = []
    if not args.skip_compare:
        scenarios = ("backfill", "live") if args.scenario == "both" else (args.scenario,)
        results = [compare(args, scenario) for scenario in scenarios]
        sections.append(compare_section(args, results))

    if args.backlog:
        print(f"[ingest] backlog: {args.backlog} ready transcripts at {args.backlog_rate}/min ...", flush=True)
        bl = run_ours(args, backlog=args.backlog)
        print(json.dumps({k: v for k, v in bl.items() if k not in ("client",)}, default=str), flush=True)
        calls_per = bl["emulator"]["api_calls"] / max(bl["transcripts"], 1)
        minutes = (bl["backfill_seconds"] or bl["seconds"]) / 60
        throughput = bl["transcripts"] / minutes
        ceiling = bl["rate"] / calls_per
        share = throughput / ceiling
        table = md_table(
            ["metric", "value"],
            [
                ("transcripts stored", bl["transcripts"]),
                ("backfill wall time (discovery → last stored, outbox relayed in the loop)", f"{minutes * 60:.1f} s"),
                ("Genesys API calls (emulator count)", bl["emulator"]["api_calls"]),
                ("API calls / transcript", f"{calls_per:.3f}"),
                ("token requests", bl["emulator"]["token_requests"]),
                ("429s", bl["emulator"]["rate_limited"]),
                ("throughput", f"{throughput:.1f} transcripts/min"),
                ("ceiling = allowance / calls per transcript", f"{ceiling:.1f} transcripts/min"),
                ("throughput / ceiling (goal ≥ 90%)", f"**{share:.0%}** ({'met' if share >= 0.9 else 'not met'})"),
                ("peak RSS", f"{bl['peak_rss_mb']:.0f} MB"),
            ],
        )
        notes = [
            f"Emulator and client both at {args.backlog_rate}/min; product headroom setting "
            f"{args.headroom if args.headroom else 'default 0.9'} (GENESYS_RATE_LIMIT_HEADROOM), so the limiter itself "
            "aims at headroom × allowance.",
            "All transcripts ready before the run (normal kind, delay 0); discovery included in the wall time.",
        ]
        sections.append(section_text(f"Ingestion backlog throughput ({args.backlog} transcripts)", table, notes))

    body = "\n\n".join(sections)
    print(body)
    if not args.no_write:
        if not args.skip_compare:
            write_section("ingest" if args.scenario == "both" else f"ingest_{args.scenario}", sections[0])
        if args.backlog:
            write_section("ingest_backlog", sections[-1])


if __name__ == "__main__":
    main()
