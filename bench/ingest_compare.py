"""Ingestion: our pipeline vs the two fair baselines, same emulator data and per-client rate limit, one run.

Sides (issue 14 §1):
  tutorial N  bench/tutorial_baseline.py, the Node tutorial ported onto the real API, with N concurrent process
              handlers (--tutorial-handlers 1,4,8,16,32 is swept in the scenarios of --sweep-in; the best N, by the
              scenario's goal metric, is the one the goals are measured against; 0 = one handler per call)
  SDK         bench/sdk_baseline.py, the official SDK (PureCloudPlatformClientV2 269.0.0) with a thread pool of
              --sdk-workers, as its users write it
  ours        bench/run_pipeline.py (reviews.pipeline.run_backfill + outbox relay), configured as in production

For each side a FRESH emulator (genesys.emulator, same seed, same dataset, same rate limit) runs in this process;
the client runs as a child process, so wall time and peak RSS (os.wait4 ru_maxrss) are its own. API calls,
token requests and 429s are counted by the emulator (server side), so every side is measured the same way.
Compliance deliveries go to a local HTTP receiver in this process; "archived" = its first compliance POST.

Per-client rate limit: the emulator keys its 60 s window by token (a token is what Genesys limits); the tutorial
asks for a fresh token before every call, which would give it a fresh allowance per call. Here every token of the
client shares ONE window (PerClientEmulator), so all sides get the same allowance per minute.

Correctness, per side, against the emulator's ground truth: transcripts exact (sha256 of what the side archived
== sha256 of the document Genesys serves, for every conversation with a non-empty transcript), leaks found
(conversations with a planted PII leak the side flagged; ours: RedactionFinding rows; the baselines have no
detector), audio fallbacks right (a fallback for exactly the conversations without a usable transcript: never
ready or empty).

Scenarios (--scenario backfill|live|backlog|all, several comma-separated):
  backfill  every conversation ENDED one hour before the run: every transcript that will ever be ready already
            is; time scale --scale k (readiness, transcode, every polling delay and the give-up budget x k);
            rate limit --rate (not scaled).
  live      every conversation ends when its side's client is launched; transcripts become ready during the run
            (normal 60-180 s, delayed 30-300 s, never) x --live-scale (default 1 = real polling speed); rate
            limit --rate / --live-scale (compressing time by k multiplies request rates by 1/k).
  backlog   --backlog N transcripts, all ready (never-ready, delayed, empty and malformed removed), rate limit
            --backlog-rate: rate-limit bound; transcripts/min vs the physical limit allowance / calls per transcript.
Every side gives up on a transcript after the tutorial's 20-poll budget (510 s) x k, counted from the start of
its run (ours: TRANSCRIPT_DEADLINE_SECONDS, counted from max(call end, discovery)).

    .venv/bin/python bench/ingest_compare.py --conversations 20 --scenario backfill --no-write     # smoke (~2 min)
    .venv/bin/python bench/ingest_compare.py --scenario backfill --conversations 200                # full, each
    .venv/bin/python bench/ingest_compare.py --scenario live --conversations 200 --tutorial-handlers 0 --parallel-sides
    .venv/bin/python bench/ingest_compare.py --scenario backlog --backlog 2000 --tutorial-handlers 16 --parallel-sides
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
    stat,
    write_section,
)
from bench.chaos import inspect  # noqa: E402
from genesys.emulator import Emulator  # noqa: E402

TUTORIAL_POLL_BUDGET_S = 2 + 4 + 8 + 16 + 16 * 30  # 20 attempts: 2 s doubled, capped at 30 s (jitter excluded)
SCENARIOS = ("backfill", "live", "backlog")

# Run inside our side's Django child after the run: planted-leak detection per conversation (kinds, never values).
FINDINGS_CHILD = """
import json, django
django.setup()
from reviews.models import RedactionFinding
found = {}
for gid, kind in RedactionFinding.objects.values_list("transcript__conversation__genesys_id", "kind"):
    found.setdefault(gid, []).append(kind)
print(json.dumps(found))
"""


class PerClientEmulator(Emulator):
    """The emulator with ONE rate-limit window per client id instead of per token (see the module docstring)."""

    def _take_rate_slot(self, token: str) -> dict[str, str]:
        return super()._take_rate_slot(f"client:{self.client_id}")


@dataclass(frozen=True)
class Side:
    kind: str  # "tutorial" | "sdk" | "ours"
    handlers: int = 1  # tutorial: concurrent handlers (0 = one per call); sdk: thread-pool workers

    @property
    def label(self) -> str:
        if self.kind == "tutorial":
            return f"tutorial N={self.handlers or 'per call'}"
        if self.kind == "sdk":
            return f"SDK ({self.handlers or 'one per call'} workers)"
        return "ours"


@dataclass(frozen=True)
class Setup:
    scenario: str
    rate: int
    k: float  # time scale of every delay


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def window() -> tuple[datetime, datetime]:
    end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=24), end


def setup_for(args: argparse.Namespace, scenario: str) -> Setup:
    if scenario == "live":
        return Setup(scenario, args.live_rate or round(args.rate / args.live_scale), args.live_scale)
    if scenario == "backlog":
        return Setup(scenario, args.backlog_rate, 1.0)
    return Setup(scenario, args.rate, args.scale)


def make_dataset(args: argparse.Namespace, setup: Setup):
    """The dataset and the (since, until) discovery window; built when the side's client is about to start.

    backfill/live: every conversation is moved so that it ENDED at one moment T0 (one hour ago, or now for live;
    durations kept), so every side's give-up budget starts with its run and all face the same situations.
    """
    from genesys.emulator import generate_dataset

    start, end = window()
    if setup.scenario == "backlog":
        ds = generate_dataset(seed=args.seed, conversations=int(args.backlog / 0.85) + 1, start=start, end=end)
        keep = [c for c in ds.conversations if c.transcript is not None and c.transcript.kind == "normal"]
        for c in keep:
            c.transcript.ready_delay_s = 0.0
            c.transcript.delayed = False
        ds.conversations = keep[: args.backlog]
        ds.__post_init__()
        return ds, start, end
    ds = generate_dataset(seed=args.seed, conversations=args.conversations, start=start, end=end)
    scaled_dataset_delays(ds, setup.k)
    t0 = now_utc() if setup.scenario == "live" else end
    for c in ds.conversations:
        duration = c.end - c.start
        c.end = t0
        c.start = t0 - duration
    ds.conversations.sort(key=lambda c: (c.start, c.conversation_id))
    ds.__post_init__()
    return ds, t0 - timedelta(hours=1), t0 + timedelta(minutes=1)


def scaled_faults(k: float):
    """Fault profile "none" with the recording transcode time (3-8 s) scaled like every other delay."""
    from dataclasses import replace

    from genesys.emulator import FAULT_PROFILES

    base = FAULT_PROFILES["none"]
    lo, hi = base.transcode_seconds
    return replace(base, transcode_seconds=(lo * k, hi * k))


def emulator_stats(emulator) -> dict:
    s = emulator.stats
    return {
        "api_calls": stat(s, "api_calls"),
        "token_requests": stat(s, "token_requests"),
        "rate_limited": stat(s, "rate_limited"),
        "by_endpoint": {str(k): v for k, v in dict(stat(s, "by_endpoint", {}) or {}).items()},
    }


def posted_conversation(post: dict) -> str | None:
    """The conversation a compliance POST is about: ours and the SDK send conversationId, the tutorial "cid/comm"."""
    try:
        body = json.loads(post["body"])
    except ValueError:
        return None
    return body.get("conversationId") or str(body.get("transcriptId") or "").split("/")[0] or None


def delivery_latency(posts: list[dict], emulator, k: float) -> dict:
    """Seconds (real time: divided by k) from "Genesys has the transcript" (the emulator's ready time) to its
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


# ---------------------------------------------------------------- correctness


def expected_outcome(conv) -> str:
    """ "transcript" when Genesys serves a non-empty transcript; "fallback" (audio) when it never does or it is empty."""
    transcript = conv.transcript
    if transcript is None or transcript.kind == "empty" or not conv.parts:
        return "fallback"
    return "transcript"


def correctness(emulator, results: dict[str, dict], leaks_found: dict[str, list]) -> dict:
    """Per side: transcripts exact, planted leaks flagged, audio fallbacks right (see the module docstring)."""
    facts = Counter()
    for conv in emulator.dataset.conversations:
        want = expected_outcome(conv)
        got = results.get(conv.conversation_id) or {"outcome": "missing"}
        if want == "transcript":
            facts["transcripts expected"] += 1
            expected_sha = hashlib.sha256(emulator.document_bytes(conv, conv.parts[0])).hexdigest()
            facts["transcripts exact"] += got["outcome"] == "transcript" and got.get("sha256") == expected_sha
            if conv.parts[0].leaks:
                facts["leaks planted"] += 1
                facts["leaks found"] += bool(leaks_found.get(conv.conversation_id))
            facts["fallback where a transcript exists"] += got["outcome"] == "fallback"
        else:
            facts["fallbacks expected"] += 1
            facts["fallbacks right"] += got["outcome"] == "fallback" and bool(got.get("audio_bytes", 1))
        facts["errors or missing"] += got["outcome"] in ("error", "missing")
    return dict(facts)


def correctness_text(facts: dict) -> str:
    return (
        f"exact {facts.get('transcripts exact', 0)}/{facts.get('transcripts expected', 0)}; "
        f"leaks {facts.get('leaks found', 0)}/{facts.get('leaks planted', 0)}; "
        f"fallbacks {facts.get('fallbacks right', 0)}/{facts.get('fallbacks expected', 0)}"
        + (
            f" (+{facts['fallback where a transcript exists']} wrong)"
            if facts.get("fallback where a transcript exists")
            else ""
        )
    )


def ours_results(dump: dict, ds) -> dict[str, dict]:
    """Our archive as per-conversation outcomes: the customer leg's transcript sha256, or the audio fallback."""
    by_id = {c.conversation_id: c for c in ds.conversations}
    results = {}
    for gid, row in dump["conversations"].items():
        sim = by_id.get(gid)
        comm = sim.communication_ids[0] if sim else None
        transcript = next((t for t in row["transcripts"] if t["communication_id"] == comm), None)
        if row["state"] == "stored" and transcript:
            results[gid] = {"outcome": "transcript", "sha256": transcript["sha256"]}
        elif row["state"] == "audio_fallback":
            results[gid] = {"outcome": "fallback", "audio_bytes": row["recordings"]}
        else:
            results[gid] = {"outcome": "error", "error": row["state"]}
    return results


def ours_findings(env: dict[str, str]) -> dict[str, list]:
    res = subprocess.run([PYTHON, "-c", FINDINGS_CHILD], env=env, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- one side


def baseline_command(args: argparse.Namespace, side: Side, setup: Setup, *, url, start, end, receiver) -> list[str]:
    common = ["--api-url", url, "--client-id", EMULATOR_CLIENT_ID, "--client-secret", EMULATOR_CLIENT_SECRET]
    common += ["--since", iso(start), "--until", iso(end), "--compliance-url", receiver.url, "--scale", str(setup.k)]
    if side.kind == "sdk":
        return [PYTHON, str(BENCH / "sdk_baseline.py"), *common, "--workers", str(side.handlers)]
    cmd = [PYTHON, str(BENCH / "tutorial_baseline.py"), *common, "--seed", str(args.seed)]
    cmd += ["--handlers", str(side.handlers)]
    return [*cmd, "--no-bearer-on-s3"] if args.no_bearer_on_s3 else cmd


def ours_env(args: argparse.Namespace, setup: Setup, tmp: Path, *, url: str, receiver) -> dict[str, str]:
    k = setup.k
    return django_env(
        tmp,
        GENESYS_API_URL=url,
        GENESYS_LOGIN_URL=url,
        GENESYS_RATE_LIMIT_PER_MINUTE=setup.rate,
        TRANSCRIPT_POLL_BASE_SECONDS=30.0 * k,
        TRANSCRIPT_POLL_MAX_SECONDS=900.0 * k,
        TRANSCRIPT_POLL_FRESH_SECONDS=300.0 * k,
        # max(ended_at, discovered_at) + D: from the start of our run, as the baselines' polling budget is.
        TRANSCRIPT_DEADLINE_SECONDS=TUTORIAL_POLL_BUDGET_S * k,
        COMPLIANCE_WEBHOOK_URL=receiver.url,
        COMPLIANCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        COMPLIANCE_RETRY_BASE_SECONDS=10.0 * k,
        COMPLIANCE_RETRY_MAX_SECONDS=3600.0 * k,
        **({"GENESYS_RATE_LIMIT_HEADROOM": args.headroom} if args.headroom else {}),
    )


def run_side(args: argparse.Namespace, setup: Setup, side: Side) -> dict:
    try:
        with tempfile.TemporaryDirectory(prefix="tv-bench-ingest-") as tmp:
            if side.kind == "ours":
                # Migrate first: in the live scenario the calls end when the client starts, not before migrations.
                migrate(django_env(Path(tmp)))
            return _run_side(args, setup, side, Path(tmp))
    except Exception as error:  # noqa: BLE001 - one failed side is reported, the others still run
        print(f"[ingest] {setup.scenario} {side.label} FAILED: {error}", flush=True)
        return {"side": side.label, "kind": side.kind, "handlers": side.handlers, "failed": str(error)[-1500:]}


def _run_side(args: argparse.Namespace, setup: Setup, side: Side, tmp: Path) -> dict:
    ds, start, end = make_dataset(args, setup)
    receiver = Receiver().start()
    emulator = PerClientEmulator(
        ds,
        client_id=EMULATOR_CLIENT_ID,
        client_secret=EMULATOR_CLIENT_SECRET,
        rate_limit_per_minute=setup.rate,
        seed=args.seed,
        faults=scaled_faults(setup.k),
    )
    env, findings, dump = None, {}, None
    try:
        with emulator.serve(host="127.0.0.1", port=0) as url:
            if side.kind == "ours":
                env = ours_env(args, setup, tmp, url=url, receiver=receiver)
                cmd = [PYTHON, str(BENCH / "run_pipeline.py"), "--since", iso(start), "--until", iso(end)]
                cmd += ["--max-wait", str(args.timeout), "--relay-seconds", "120"]
            else:
                cmd = baseline_command(args, side, setup, url=url, start=start, end=end, receiver=receiver)
            launched = time.time()
            res = run_measured(cmd, env=env, timeout=args.timeout + 200)
            stats = emulator_stats(emulator)
            if res.returncode == 0 and side.kind == "ours":
                dump, findings = inspect(env), ours_findings(env)
    finally:
        receiver.stop()
    if res.returncode != 0:
        raise RuntimeError(f"{side.label} exited {res.returncode}:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    results = ours_results(dump, ds) if dump else out.get("results", {})
    outcomes = Counter(r["outcome"] for r in results.values())
    last_post = max((p["at"] for p in receiver.posts), default=launched)
    return {
        "side": side.label,
        "kind": side.kind,
        "handlers": side.handlers,
        "rate": setup.rate,
        "seconds": res.seconds,
        # From the client's own start (imports done: the SDK's take seconds, Django's about one) to its exit.
        "run_seconds": out.get("seconds") or out.get("total_seconds"),
        "last_archived_s": last_post - launched,
        "peak_rss_mb": res.peak_rss_mb,
        "transcripts": outcomes["transcript"],
        "fallbacks": outcomes["fallback"],
        "errors": outcomes["error"],
        "compliance_posts": len(receiver.posts),
        "delivery_latency": delivery_latency(receiver.posts, emulator, setup.k),
        "correctness": correctness(emulator, results, findings),
        "emulator": stats,
        "conversations": len(ds.conversations),
        "dataset": ds.summary(),
        "client": {k: v for k, v in out.items() if k != "results"},
    }


# ---------------------------------------------------------------- one scenario


def per_transcript(side: dict, key: str) -> float:
    return side["emulator"][key] / max(side["transcripts"], 1)


def throughput(side: dict) -> float:
    """Transcripts archived per minute of the side's wall time (start of its child to exit)."""
    return side["transcripts"] / max(side["seconds"], 1e-9) * 60


def physical_limit(side: dict) -> float:
    """Allowance per minute ÷ the API calls a transcript needs (429 answers excluded: they are not needed)."""
    needed = (side["emulator"]["api_calls"] - side["emulator"]["rate_limited"]) / max(side["transcripts"], 1)
    return side["rate"] / max(needed, 1e-9)


def p50(side: dict) -> float:
    return (side.get("delivery_latency") or {}).get("p50", float("inf"))


# The goal metric per scenario, and whether a lower value is better.
GOAL_METRIC = {"backfill": (lambda s: s["seconds"], True), "live": (p50, True), "backlog": (throughput, False)}


def best_of(sides: list[dict], scenario: str) -> dict:
    metric, lower = GOAL_METRIC[scenario]
    ok = [s for s in sides if not s.get("failed")]
    return (min if lower else max)(ok, key=metric)


def scenario_sides(args: argparse.Namespace, scenario: str, best_n: int | None) -> list[Side]:
    """Every N of --tutorial-handlers, or only the best N a swept scenario earlier in this run found."""
    swept_before = best_n is not None and scenario not in args.sweep_in
    tutorial = [Side("tutorial", best_n)] if swept_before else [Side("tutorial", n) for n in args.tutorial_handlers]
    return [*tutorial, *[Side("sdk", n) for n in args.sdk_workers], Side("ours")]


def run_scenario(args: argparse.Namespace, scenario: str, best_n: int | None) -> dict:
    setup = setup_for(args, scenario)
    sides = scenario_sides(args, scenario, best_n)
    print(f"[ingest] {scenario}: {[s.label for s in sides]} at {setup.rate}/min, k={setup.k}", flush=True)

    def one(side: Side) -> dict:
        result = run_side(args, setup, side)
        brief = {k: v for k, v in result.items() if k not in ("client", "dataset")}
        print(f"[ingest] {scenario} {side.label}: {json.dumps(brief, default=str)}", flush=True)
        return result

    if args.parallel_sides:
        with ThreadPoolExecutor(max_workers=len(sides)) as pool:
            results = list(pool.map(one, sides))
    else:
        results = [one(side) for side in sides]
    ours = results[-1]
    baselines = [r for r in results[:-1] if not r.get("failed")]
    tutorials = [r for r in baselines if r["kind"] == "tutorial"]
    return {
        "scenario": scenario,
        "setup": setup,
        "sides": results,
        "ours": ours,
        "best": best_of(baselines, scenario) if baselines else None,
        "best_tutorial": best_of(tutorials, scenario) if tutorials else None,
    }


def side_row(scenario: str, side: dict) -> tuple:
    if side.get("failed"):
        return (scenario, side["side"], "FAILED: " + side["failed"].splitlines()[0][:120], *[""] * 14)
    latency = side["delivery_latency"]
    return (
        scenario,
        side["side"],
        side["rate"],
        side["seconds"],
        side["run_seconds"],
        side["last_archived_s"],
        side["transcripts"],
        side["fallbacks"],
        side["errors"],
        per_transcript(side, "api_calls"),
        per_transcript(side, "token_requests"),
        side["emulator"]["rate_limited"],
        f"{throughput(side):.1f} / {physical_limit(side):.1f}",
        f"{latency['p50']:.1f} / {latency['p95']:.1f}" if latency.get("n") and scenario == "live" else "n/a",
        correctness_text(side["correctness"]),
        f"{side['peak_rss_mb']:.0f} MB",
        side["compliance_posts"],
    )


SIDE_HEADERS = (
    "scenario",
    "side",
    "rate limit /min",
    "wall s",
    "after imports s",
    "last archived s",
    "transcripts",
    "audio fallbacks",
    "errors",
    "API calls / transcript",
    "tokens / transcript",
    "429s",
    "transcripts/min / physical limit",
    "ready → archived p50 / p95 s (real time)",
    "correctness",
    "peak RSS",
    "compliance POSTs",
)


def goal_row(result: dict) -> tuple:
    scenario, ours, best = result["scenario"], result["ours"], result["best"]
    if best is None or ours.get("failed"):
        return (scenario, "-", "-", "no measurement (a side failed)", "**no**")
    if scenario == "backlog":
        ratio = throughput(ours) / max(throughput(best), 1e-9)
        measured = (
            f"{throughput(ours):.1f} vs {throughput(best):.1f} transcripts/min ({best['side']}) = {ratio:.2f}×; "
            f"physical limits {physical_limit(ours):.1f} vs {physical_limit(best):.1f}"
        )
        return (scenario, "transcripts/min ≥ 2.5× the best baseline's", best["side"], measured, met(ratio >= 2.5))
    if scenario == "live":
        ratio = p50(ours) / max(p50(best), 1e-9)
        measured = f"p50 {p50(ours):.1f} s vs {p50(best):.1f} s ({best['side']}) = {ratio:.2f}× of it"
        return (scenario, "ready → archived p50 ≤ ½ the best baseline's", best["side"], measured, met(ratio <= 0.5))
    ratio = ours["seconds"] / max(best["seconds"], 1e-9)
    measured = f"{ours['seconds']:.1f} s vs {best['seconds']:.1f} s ({best['side']}) = {ratio:.2f}× of it"
    quick = min((s for s in result["sides"][:-1] if not s.get("failed")), key=lambda s: s["run_seconds"] or 1e9)
    after_imports = ours["run_seconds"] / max(quick["run_seconds"], 1e-9)
    measured += (
        f"; after imports {ours['run_seconds']:.1f} s vs {quick['run_seconds']:.1f} s ({quick['side']}) = "
        f"{after_imports:.2f}×"
    )
    verdict = f"wall: {met(ratio <= 1.0)}; after imports: {met(after_imports <= 1.0)}"
    return (scenario, "wall time ≤ the best baseline's", best["side"], measured, verdict)


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def scenario_section(args: argparse.Namespace, result: dict) -> str:
    scenario, setup = result["scenario"], result["setup"]
    table = md_table(SIDE_HEADERS, [side_row(scenario, s) for s in result["sides"]])
    goals = md_table(["scenario", "goal", "best baseline", "measured (ours vs best)", "met"], [goal_row(result)])
    first = next((s for s in result["sides"] if not s.get("failed")), {})
    notes = [
        f"Dataset: genesys.emulator.generate_dataset(seed={args.seed}), "
        f"{first.get('conversations', '?')} conversations, the same for every side; mix {first.get('dataset')}.",
        f"Rate limit {setup.rate}/min per CLIENT for every side (one window shared by all of a client's tokens, so "
        "the tutorial's token per call buys no extra allowance); Retry-After is real. Time scale k="
        f"{setup.k}: readiness delays, transcode time, every side's polling delays and its give-up budget "
        f"(the tutorial's 20 polls = {TUTORIAL_POLL_BUDGET_S} s) × k.",
        "API calls, token requests and 429s are counted by the emulator (a 429 is also an API call; OAuth and S3 are "
        "not). Wall time is the child's, start to exit; 'last archived' is its last compliance POST after launch. "
        "transcripts/min = transcripts ÷ wall; physical limit = allowance ÷ API calls a transcript needs (429s "
        "excluded); a run of T s gets ceil(T / 60) fixed windows, so a short run can beat the per-minute limit.",
        "Correctness: exact = archived sha256 equals the served document's; leaks = conversations with a planted leak "
        "the side flagged (the baselines have no leak detector; the tutorial's regex is a character class and flags "
        "nothing meaningful); fallbacks = audio fetched for the conversations with no usable (never ready or empty) "
        "transcript.",
        "SDK side: the SDK's default urllib3 pool (4 connections per host) and Retry() (sleeps Retry-After on "
        "429/503, up to 10 times).",
    ]
    tutorials = [s for s in result["sides"] if s["kind"] == "tutorial" and not s.get("failed")]
    if len(tutorials) > 1:
        metric, _ = GOAL_METRIC[scenario]
        sweep = ", ".join(f"{s['side']}: {metric(s):.1f}" for s in tutorials)
        unit = {"backfill": "wall s", "live": "p50 s", "backlog": "transcripts/min"}[scenario]
        notes.append(f"Tutorial sweep ({unit}): {sweep}; best: {result['best_tutorial']['side']}.")
    if scenario == "live":
        notes.append(
            "live: every call ends at the moment its side's client is launched; child start-up (≈0.3 s for a "
            "baseline, ≈1 s for Django) counts as time after the calls ended."
        )
    heading = f"Ingestion {scenario}: ours vs the best baseline (tutorial N, official SDK)"
    return section_text(heading, table + "\n\n" + goals, notes)


def handler_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def scenario_list(text: str) -> list[str]:
    names = list(SCENARIOS) if text == "all" else [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ours vs the tutorial (N handlers) and the official SDK flow")
    parser.add_argument("--scenario", type=scenario_list, default=["backfill"], help="backfill,live,backlog or all")
    parser.add_argument("--conversations", type=int, default=200, help="backfill and live dataset size")
    parser.add_argument("--backlog", type=int, default=2000, help="backlog: ready transcripts")
    parser.add_argument("--rate", type=int, default=300, help="per-client rate limit per minute (every side)")
    parser.add_argument("--live-rate", type=int, default=None, help="live rate limit (default --rate / --live-scale)")
    parser.add_argument("--backlog-rate", type=int, default=300, help="backlog rate limit per minute")
    parser.add_argument("--scale", type=float, default=0.02, help="backfill time scale applied to every delay")
    parser.add_argument("--live-scale", type=float, default=1.0, help="live time scale (1 = real polling speed)")
    parser.add_argument("--tutorial-handlers", type=handler_list, default=[1, 4, 8, 16, 32], help="N list (0=per call)")
    parser.add_argument(
        "--sweep-in", type=scenario_list, default=["backfill"], help="scenarios that sweep every N (others: best N)"
    )
    parser.add_argument(
        "--sdk-workers", type=handler_list, default=[16], help="the SDK flow's ThreadPoolExecutor size(s) (0=per call)"
    )
    parser.add_argument("--parallel-sides", action="store_true", help="run a scenario's sides at once (I/O-bound)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="max seconds per side")
    parser.add_argument("--headroom", type=float, default=None, help="override GENESYS_RATE_LIMIT_HEADROOM")
    parser.add_argument("--no-bearer-on-s3", action="store_true", help="tutorial deviation: no Authorization on S3")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--json-out", type=Path, default=None, help="also dump every side's raw result here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results, best_n = [], None
    for scenario in [s for s in SCENARIOS if s in args.scenario]:
        result = run_scenario(args, scenario, best_n)
        if scenario in args.sweep_in and result["best_tutorial"]:
            best_n = result["best_tutorial"]["handlers"]  # later scenarios run the tutorial at its best N
        results.append(result)
    sections = [scenario_section(args, r) for r in results]
    print("\n\n".join(sections))
    if args.json_out:
        args.json_out.write_text(json.dumps([{**r, "setup": vars(r["setup"])} for r in results], default=str))
    if not args.no_write:
        for result, section in zip(results, sections, strict=True):
            write_section(f"ingest_{result['scenario']}", section)


if __name__ == "__main__":
    main()
