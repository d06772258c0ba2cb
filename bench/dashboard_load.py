"""Dashboard under load: 20 signed-in users on search, review, quality dashboard, charts and "My queue",
gunicorn on loopback; p50/p95/p99 per page kind against the goal p95 ≤ 200 ms (issue 13).

Data: a fresh DATA_DIR (SQLite, or PostgreSQL with --engine postgresql) filled by OUR pipeline from the
emulator (--conversations, realistic transcripts), plus optional --extra-rows synthetic utterances
(bench/_data.py) so search runs over a bigger index. The real calls are scored with the starter scorecard
(as the worker does), and each bench reviewer gets open assignments (ReviewAssignment rows, some overdue), so
the quality dashboard has scores and "My queue" has rows. Users: --users-per-role supervisors (every division)
and as many reviewers (every queue), one session each, shared by the connections that play them (20 connections
on 10 users by default). Reviewers request /queue/, search, review, quality and charts in turn; supervisors the
same, their /queue/ with the team list and the bulk-assign form.

Two loads: 20 users with a think time (Python threads, the per-page table), then, when `wrk` is installed
(apt-get install -y wrk), 20 connections without think time over the same paths and sessions (saturation, one
line for all pages). gunicorn runs with the repo's gunicorn.conf.py (GUNICORN_WORKERS/THREADS as given).

    .venv/bin/python bench/dashboard_load.py --conversations 40 --seconds 5 --no-write       # smoke
    .venv/bin/python bench/dashboard_load.py --conversations 300 --extra-rows 200000 --seconds 30   # full
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    PYTHON,
    ROOT,
    free_port,
    md_table,
    pg_available,
    pg_database,
    populate_from_emulator,
    section_text,
    wait_for_port,
    write_section,
)

GOAL_P95_MS = 200.0
PASSWORD = "bench-password-123"
ASSIGNMENTS_PER_REVIEWER = 25
SEARCHES = [
    "card",
    "payment",
    "balance",
    "account",
    "refund",
    '"direct debit"',
    "mortgage",
    "statement",
    "fee",
    "address",
]
QUALITY_URLS = ["/quality/", "/quality/?group_by=queue", "/quality/?days=90", "/quality/?days=7"]
CHART_URLS = ["/charts/", "/charts/?days=7", "/charts/?days=90"]
# Page kinds in the order a user goes through them; "my queue" is a reviewer's with assignments, "team queue" a
# supervisor's (their team's assignments and the bulk-assign form).
KINDS = ("search", "review", "quality dashboard", "charts", "my queue", "team queue")
ROLE_KINDS = {
    "reviewer": ("my queue", "search", "review", "quality dashboard", "charts"),
    "supervisor": ("team queue", "search", "review", "quality dashboard", "charts"),
}

LUA = r"""
local paths, cookies = {}, {}
for line in io.lines(os.getenv("WRK_PATHS")) do
  local path, cookie = line:match("^(.-)\t(.*)$")
  paths[#paths + 1] = path
  cookies[#cookies + 1] = cookie
end
local counter = 0
request = function()
  counter = counter + 1
  local i = (counter % #paths) + 1
  return wrk.format("GET", paths[i], {["Cookie"] = cookies[i]})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def populate_child(args: argparse.Namespace) -> None:
    """Inside Django: synthetic utterances for search volume, the starter scorecard scored on the real calls, the
    bench users and the reviewers' assignments; print what the load needs as one JSON line."""
    import django

    django.setup()
    from datetime import timedelta as _timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from bench._data import TextGenerator, bulk_load_utterances, populate_conversations, rare_row_plan, utterance_rows
    from reviews.evaluations.auto import score_conversation_automatically
    from reviews.evaluations.starter import install_starter_form
    from reviews.models import AccessScope, Conversation, Division, Queue, ReviewAssignment, Utterance

    if args.extra_rows:
        pairs, _ = populate_conversations(args.extra_rows // 100, seed=3, prefix="load")
        bulk_load_utterances(
            utterance_rows(pairs, 100, TextGenerator(seed=3), rare=rare_row_plan(args.extra_rows), chunk=20_000)
        )
    now = timezone.now()
    real = list(
        Conversation.objects.filter(state="stored", transcripts__isnull=False)
        .exclude(genesys_id__startswith="load-")
        .distinct()
        .order_by("-started_at", "pk")
    )
    install_starter_form(now=now)
    for conversation in real:  # what the worker's auto-evaluate schedule does
        score_conversation_automatically(conversation, now=now)

    users = get_user_model().objects
    users.filter(username__startswith="bench-").delete()
    # Passwords alone sign these roles in (Compliance and staff would need a TOTP code; staff sees no call).
    supervisors, reviewers = [], []
    for n in range(args.users_per_role):
        supervisor = users.create_user(f"bench-sup-{n}", password=PASSWORD)
        supervisor.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
        AccessScope.objects.create(user=supervisor).divisions.set(Division.objects.all())
        supervisors.append(supervisor)
        reviewer = users.create_user(f"bench-rev-{n}", password=PASSWORD)
        reviewer.groups.add(Group.objects.get_or_create(name="Reviewer")[0])
        AccessScope.objects.create(user=reviewer).queues.set(Queue.objects.all())
        reviewers.append(reviewer)
    rows = []
    for n, reviewer in enumerate(reviewers):
        for k in range(min(ASSIGNMENTS_PER_REVIEWER, len(real))):
            rows.append(
                ReviewAssignment(
                    conversation=real[(n * 7 + k) % len(real)],
                    assignee=reviewer,
                    assigned_by=supervisors[n % len(supervisors)],
                    created_at=now - _timedelta(days=4),
                    due_at=now + _timedelta(hours=12 * k - 72),  # the first few overdue
                )
            )
    ReviewAssignment.objects.bulk_create(rows)
    print(
        json.dumps(
            {
                "conversations": [c.genesys_id for c in real[:200]],
                "utterances": Utterance.objects.count(),
                "assignments": len(rows),
                "users": {"supervisor": [u.username for u in supervisors], "reviewer": [u.username for u in reviewers]},
            }
        )
    )


def paths_by_kind(conversations: list[str]) -> dict[str, list[str]]:
    return {
        "search": [f"/search/?q={quote(q)}" for q in SEARCHES],
        "review": [f"/conversations/{cid}/" for cid in conversations[: max(10, len(SEARCHES))]],
        "quality dashboard": QUALITY_URLS,
        "charts": CHART_URLS,
        "my queue": ["/queue/"],
        "team queue": ["/queue/"],
    }


def user_plan(sessions: list[tuple[str, str]], paths: dict[str, list[str]], n: int, length: int) -> list[tuple]:
    """Connection n's requests, (kind, path, cookie): its user's kinds in turn, each kind's paths in turn."""
    role, cookie = sessions[n % len(sessions)]
    kinds = ROLE_KINDS[role]
    plan = []
    for i in range(length):
        kind = kinds[(n + i) % len(kinds)]
        options = paths[kind]
        plan.append((kind, options[(n + i // len(kinds)) % len(options)], cookie))
    return plan


def summary(latencies: list[float], errors: int, seconds: float) -> dict:
    from bench._common import pct

    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds if seconds else 0.0,
        "p50": pct(latencies, 0.5),
        "p95": pct(latencies, 0.95),
        "p99": pct(latencies, 0.99),
        "errors": errors,
    }


def think_time_load(base: str, sessions, paths, *, clients: int, seconds: float, think: float) -> dict:
    """`clients` users: each thread requests its next page, then pauses a random think time (exponential, mean
    `think`). Latency per page kind, and for all pages."""
    import random
    import threading
    from collections import Counter, defaultdict

    import requests

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    error_kinds: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def user(n: int) -> None:
        rng = random.Random(n)
        http = requests.Session()
        plan = user_plan(sessions, paths, n, 997)
        i = 0
        while time.monotonic() < deadline:
            kind, path, cookie = plan[i % len(plan)]
            i += 1
            t0 = time.perf_counter()
            try:
                r = http.get(base + path, headers={"Cookie": cookie}, timeout=30, allow_redirects=False)
                ok, detail = r.status_code == 200, f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                ok, detail = False, type(exc).__name__
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies[kind].append(ms)
                if not ok:
                    errors[kind] += 1
                    error_kinds[f"{kind}: {detail}"] += 1
            time.sleep(rng.expovariate(1.0 / think))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [ms for kind in latencies for ms in latencies[kind]]
    return {
        "kinds": {kind: summary(latencies[kind], errors[kind], seconds) for kind in KINDS if latencies[kind]},
        "all": summary(every, sum(errors.values()), seconds),
        "error_kinds": dict(error_kinds),
    }


def login(base: str, username: str) -> str:
    import requests

    s = requests.Session()
    page = s.get(f"{base}/login/", timeout=30)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    res = s.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if res.status_code not in (302, 303) or "sessionid" not in s.cookies:
        raise RuntimeError(f"login of {username} failed: HTTP {res.status_code}")
    return "; ".join(f"{k}={v}" for k, v in s.cookies.items())


def run(args: argparse.Namespace, engine: str, stack: ExitStack) -> dict:
    from genesys.emulator import Emulator, generate_dataset

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tv-bench-dash-")))
    db_url = stack.enter_context(pg_database("tv_bench_dash")) if engine == "postgresql" else None
    end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=24)
    ds = generate_dataset(seed=21, conversations=args.conversations, start=start, end=end)
    for c in ds.conversations:
        if c.transcript is not None:
            c.transcript.ready_delay_s = 0.0
    emulator = Emulator(
        ds, client_id=EMULATOR_CLIENT_ID, client_secret=EMULATOR_CLIENT_SECRET, rate_limit_per_minute=6000
    )
    url = stack.enter_context(emulator.serve(host="127.0.0.1", port=0))
    env = populate_from_emulator(tmp, url=url, start=start, end=end, database_url=db_url)
    pop = subprocess.run(
        [
            PYTHON,
            __file__,
            "--populate-child",
            "--extra-rows",
            str(args.extra_rows),
            "--users-per-role",
            str(args.users_per_role),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if pop.returncode != 0:
        raise RuntimeError(f"populate failed:\n{pop.stderr[-3000:]}")
    info = json.loads(pop.stdout.strip().splitlines()[-1])

    port = free_port()
    genv = env | {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
    }
    log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 - closed by the stack
    stack.callback(log.close)
    gun = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "transcripts_site.wsgi", "--access-logfile", "/dev/null"],
        cwd=ROOT,
        env=genv,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def stop_gunicorn() -> None:
        if gun.poll() is None:
            os.killpg(gun.pid, signal.SIGTERM)
            try:
                gun.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(gun.pid, signal.SIGKILL)

    stack.callback(stop_gunicorn)
    wait_for_port(port, 60)
    base = f"http://127.0.0.1:{port}"
    # One session per bench user, reviewers and supervisors alternating; connections share them round-robin.
    sessions = [
        (role, login(base, username))
        for pair in zip(info["users"]["reviewer"], info["users"]["supervisor"], strict=True)
        for role, username in zip(("reviewer", "supervisor"), pair, strict=True)
    ]
    paths = paths_by_kind(info["conversations"])
    # Preflight: every (role, page) answers 200; the second pass is the warm single-client latency per kind.
    import requests

    bad: dict[str, int] = {}
    single: dict[str, list[float]] = {}
    checks = [
        (kind, path, cookie) for role, cookie in sessions[:2] for kind in ROLE_KINDS[role] for path in paths[kind]
    ]
    for _ in range(2):
        single.clear()
        for kind, path, cookie in checks:
            t0 = time.perf_counter()
            r = requests.get(base + path, headers={"Cookie": cookie}, timeout=60, allow_redirects=False)
            single.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                bad[f"{kind} {path}"] = r.status_code
    think = think_time_load(base, sessions, paths, clients=args.clients, seconds=args.seconds, think=args.think)
    saturation = None
    wrk = shutil.which("wrk")
    if wrk:
        paths_file = tmp / "paths.txt"
        lines = [
            f"{path}\t{cookie}" for n in range(args.clients) for _, path, cookie in user_plan(sessions, paths, n, 20)
        ]
        paths_file.write_text("\n".join(lines) + "\n")
        lua = tmp / "load.lua"
        lua.write_text(LUA)
        out = subprocess.run(
            [
                wrk,
                "-t",
                "2",
                "-c",
                str(args.clients),
                "-d",
                f"{args.seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(lua),
                base,
            ],
            env=os.environ | {"WRK_PATHS": str(paths_file)},
            capture_output=True,
            text=True,
        )
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no summary:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        saturation = json.loads(line[len("WRKJSON ") :]) | {"stdout": out.stdout}
    locked = (tmp / "gunicorn.log").read_bytes().count(b"database is locked")
    return {
        "engine": engine,
        "think": think,
        "saturation": saturation,
        "single_ms": {k: statistics.median(v) for k, v in single.items() if v},
        "utterances": info["utterances"],
        "assignments": info["assignments"],
        "sessions": len(sessions),
        "preflight_bad": bad,
        "locked": locked,
    }


def met(p95: float, errors: int) -> str:
    return "met" if p95 <= GOAL_P95_MS and errors == 0 else "**NOT met**"


def main() -> None:
    parser = argparse.ArgumentParser(description="dashboard load test")
    parser.add_argument("--conversations", type=int, default=40, help="emulator conversations ingested (full: 300)")
    parser.add_argument(
        "--extra-rows", type=int, default=0, help="synthetic utterances added for search volume (full: 200000)"
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--users-per-role", type=int, default=5, help="bench reviewers, and as many supervisors")
    parser.add_argument("--seconds", type=int, default=10, help="load duration (full: 30)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (repo default 3)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (repo default 4)")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time (s) per user in the think-time run")
    parser.add_argument("--engines", default="sqlite")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--populate-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate_child:
        populate_child(args)
        return
    results = []
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            continue
        print(
            f"[dashboard] {engine}: ingest {args.conversations} conversations, then {args.clients} clients × {args.seconds}s",
            flush=True,
        )
        with ExitStack() as stack:
            r = run(args, engine, stack)
        if r["saturation"]:
            print(r["saturation"]["stdout"])
        results.append(r)
    rows = []
    for r in results:
        t = r["think"]
        for kind, k in t["kinds"].items():
            rows.append(
                (r["engine"], kind, f"{r['utterances']:,}", k["requests"], f"{k['rps']:.1f}", k["p50"], k["p95"],
                 k["p99"], k["errors"], met(k["p95"], k["errors"]))
            )  # fmt: skip
        a = t["all"]
        rows.append(
            (r["engine"], "all pages", f"{r['utterances']:,}", a["requests"], f"{a['rps']:.1f}", a["p50"], a["p95"],
             a["p99"], a["errors"], met(a["p95"], a["errors"]))
        )  # fmt: skip
    table = md_table(
        [
            "engine",
            "page",
            "utterances",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors (socket + HTTP ≠ 200)",
            "goal p95 ≤ 200 ms, 0 errors",
        ],
        rows,
    )
    saturation_rows = []
    for r in results:
        w = r["saturation"]
        if not w:
            continue
        errors = w["connect"] + w["read"] + w["write"] + w["status"] + w["timeout"]
        secs = w["duration_us"] / 1e6
        saturation_rows.append(
            (r["engine"], w["requests"], f"{w['requests'] / secs:.1f}", w["p50"] / 1000, w["p95"] / 1000,
             w["p99"] / 1000, errors, met(w["p95"] / 1000, errors))
        )  # fmt: skip
    notes = [
        f"{args.clients} users with a think time (exponential, mean {args.think:g} s; Python threads) for "
        f"{args.seconds} s over {results[0]['sessions'] if results else '?'} sessions: {args.users_per_role} reviewers "
        f"(every queue; {ASSIGNMENTS_PER_REVIEWER} open assignments each, the first ones overdue) and "
        f"{args.users_per_role} supervisors (every division). Each user goes through its role's pages in turn: "
        '/queue/ ("my queue" for a reviewer, "team queue" for a supervisor: team list and bulk-assign form), '
        f"{len(SEARCHES)} searches (/search/?q=…), review pages of ingested calls, {len(QUALITY_URLS)} quality "
        f"dashboard views (/quality/, by agent or queue, 7/30/90 days), {len(CHART_URLS)} chart views (/charts/).",
        f"gunicorn {args.workers} workers × {args.threads} threads (repo gunicorn.conf.py), on the same 2-core machine "
        "as the load generator; STATIC_MANIFEST=false (static files are not requested).",
        "The real calls are scored with the starter scorecard first (the worker's auto-evaluate schedule), so the "
        "quality dashboard aggregates scores. Search and review write an AuditEvent each: a read + write load.",
        "Single-client warm latency (median, sequential preflight): "
        + "; ".join(
            f"{r['engine']}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in r["single_ms"].items()) for r in results
        ),
        "Errors by kind: " + "; ".join(f"{r['engine']}: {r['think'].get('error_kinds') or 'none'}" for r in results),
        "Preflight non-200 pages: " + ", ".join(f"{r['engine']}: {r['preflight_bad'] or 'none'}" for r in results),
        '"database is locked" in the server log: ' + ", ".join(f"{r['engine']}: {r['locked']}" for r in results),
    ]
    if not saturation_rows:
        notes.append("Saturation run (wrk, no think time) skipped: wrk is not installed (apt-get install -y wrk).")
    body = section_text("Dashboard under load", table, notes)
    if saturation_rows:
        body += (
            f"\n\nSaturation: wrk, {args.clients} connections on 2 threads, no think time, the same pages and "
            "sessions, all pages together (how far past 20 users the machine goes, not the goal's load):\n\n"
            + md_table(
                ["engine", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "goal p95 ≤ 200 ms"],
                saturation_rows,
            )
        )
    print(body)
    if not args.no_write:
        write_section("dashboard", body)


if __name__ == "__main__":
    main()
