"""Dashboard under load: 20 concurrent logged-in clients on the search and review pages, gunicorn on loopback.

Data: a fresh DATA_DIR (SQLite, or PostgreSQL with --engine postgresql) filled by OUR pipeline from the
emulator (--conversations, realistic transcripts), plus optional --extra-rows synthetic utterances
(bench/_data.py) so search runs over a bigger index. gunicorn runs with the repo's gunicorn.conf.py
(GUNICORN_WORKERS/THREADS as given). The load generator is `wrk` (C, so it leaves the CPU to the server);
a Lua script rotates over search URLs and conversation review URLs and reports p50/p95/p99 and every
non-2xx/3xx or socket error. One staff session cookie is shared by all connections.

    .venv/bin/python bench/dashboard_load.py                                     # 40 conversations, 10 s
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

LUA = r"""
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local counter = 0
local statuses = {}
request = function()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  return wrk.format("GET", path, {["Cookie"] = os.getenv("WRK_COOKIE")})
end
response = function(status, headers, body)
  if status >= 400 then statuses[status] = (statuses[status] or 0) + 1 end
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
    """Inside Django: add synthetic utterances for search volume and a staff user; print conversation ids."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from bench._data import TextGenerator, bulk_load_utterances, populate_conversations, rare_row_plan, utterance_rows
    from reviews.models import Conversation, Utterance

    if args.extra_rows:
        pairs, _ = populate_conversations(args.extra_rows // 100, seed=3, prefix="load")
        bulk_load_utterances(
            utterance_rows(pairs, 100, TextGenerator(seed=3), rare=rare_row_plan(args.extra_rows), chunk=20_000)
        )
    user_model = get_user_model()
    user_model.objects.filter(username="bench-staff").delete()
    from django.contrib.auth.models import Group

    from reviews.models import AccessScope, Division

    # A supervisor of every division: signs in with a password alone (is_staff would see nothing, and
    # Compliance would need a TOTP code at sign-in).
    user = user_model.objects.create_user("bench-staff", password="bench-password-123")
    user.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
    AccessScope.objects.create(user=user).divisions.set(Division.objects.all())
    ids = list(
        Conversation.objects.filter(state="stored", transcripts__isnull=False)
        .exclude(genesys_id__startswith="load-")
        .values_list("genesys_id", flat=True)
        .distinct()[:200]
    )
    print(json.dumps({"conversations": ids, "utterances": Utterance.objects.count()}))


def think_time_load(base: str, cookie: str, paths: list[str], *, clients: int, seconds: float, think: float) -> dict:
    """20 'users': each thread requests a page, then pauses a random think time (exponential, mean `think`)."""
    import random
    import threading

    import requests

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def user(n: int) -> None:
        rng = random.Random(n)
        session = requests.Session()
        i = n
        while time.monotonic() < deadline:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                r = session.get(base + path, headers={"Cookie": cookie}, timeout=30, allow_redirects=False)
                ok = r.status_code == 200
                detail = f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                ok, detail = False, type(exc).__name__
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                if not ok:
                    errors.append(detail)
            time.sleep(rng.expovariate(1.0 / think))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from bench._common import pct

    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50": pct(latencies, 0.5),
        "p95": pct(latencies, 0.95),
        "p99": pct(latencies, 0.99),
        "errors": len(errors),
        "error_kinds": dict(__import__("collections").Counter(errors)),
    }


def login(base: str) -> str:
    import requests

    s = requests.Session()
    page = s.get(f"{base}/login/", timeout=30)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    res = s.post(
        f"{base}/login/",
        data={"username": "bench-staff", "password": "bench-password-123", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if res.status_code not in (302, 303) or "sessionid" not in s.cookies:
        raise RuntimeError(f"login failed: HTTP {res.status_code}")
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
        [PYTHON, __file__, "--populate-child", "--extra-rows", str(args.extra_rows)],
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
    cookie = login(base)
    paths = [f"/search/?q={quote(q)}" for q in SEARCHES]
    paths += [f"/conversations/{cid}/" for cid in info["conversations"][: max(10, len(SEARCHES))]]
    # sanity: every path answers 200 before the timed run
    import requests

    bad = {}
    single: dict[str, list[float]] = {"search": [], "review": []}
    for _ in range(2):  # second pass = warm single-client latency
        for kind in single:
            single[kind].clear()
        for p in paths:
            t0 = time.perf_counter()
            r = requests.get(base + p, headers={"Cookie": cookie}, timeout=60, allow_redirects=False)
            single["search" if p.startswith("/search") else "review"].append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                bad[p] = r.status_code
    paths_file = tmp / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    lua = tmp / "load.lua"
    lua.write_text(LUA)
    wrk = shutil.which("wrk")
    if not wrk:
        raise RuntimeError("wrk not installed (apt-get install -y wrk)")
    out = subprocess.run(
        [wrk, "-t", "2", "-c", str(args.clients), "-d", f"{args.seconds}s", "--timeout", "10s", "-s", str(lua), base],
        env=os.environ | {"WRK_PATHS": str(paths_file), "WRK_COOKIE": cookie},
        capture_output=True,
        text=True,
    )
    think = think_time_load(base, cookie, paths, clients=args.clients, seconds=args.seconds, think=args.think)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON "))
    result = json.loads(line[len("WRKJSON ") :])
    locked = (tmp / "gunicorn.log").read_bytes().count(b"database is locked")
    result.update(
        {
            "engine": engine,
            "think": think,
            "single_ms": {k: statistics.median(v) for k, v in single.items() if v},
            "utterances": info["utterances"],
            "preflight_bad": bad,
            "locked": locked,
            "paths": len(paths),
            "wrk_stdout": out.stdout,
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="dashboard load test")
    parser.add_argument("--conversations", type=int, default=40, help="emulator conversations ingested (full: 300)")
    parser.add_argument(
        "--extra-rows", type=int, default=0, help="synthetic utterances added for search volume (full: 200000)"
    )
    parser.add_argument("--clients", type=int, default=20)
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
        print(r["wrk_stdout"])
        results.append(r)
    rows = []
    for r in results:
        errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
        secs = r["duration_us"] / 1e6
        t = r["think"]
        rows.append(
            (
                r["engine"],
                f"20 users, think time exp. mean {args.think:g} s (Python threads)",
                f"{r['utterances']:,}",
                t["requests"],
                f"{t['rps']:.1f}",
                t["p50"],
                t["p95"],
                t["p99"],
                t["errors"],
                r["locked"],
                "yes" if t["p95"] <= GOAL_P95_MS and t["errors"] == 0 else "**no**",
            )
        )
        rows.append(
            (
                r["engine"],
                f"{args.clients} connections, no think time (wrk, saturation)",
                f"{r['utterances']:,}",
                r["requests"],
                f"{r['requests'] / secs:.1f}",
                r["p50"] / 1000,
                r["p95"] / 1000,
                r["p99"] / 1000,
                errors,
                r["locked"],
                "yes" if r["p95"] / 1000 <= GOAL_P95_MS and errors == 0 else "**no**",
            )
        )
    table = md_table(
        [
            "engine",
            "load",
            "utterances",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors (socket + HTTP ≥400)",
            '"database is locked" in server log',
            "goal p95 ≤ 200 ms, 0 errors",
        ],
        rows,
    )
    notes = [
        f"wrk 4.1, {args.clients} connections on 2 threads for {args.seconds} s; requests rotate over "
        f"{len(SEARCHES)} search URLs (/search/?q=…) and the review pages (/conversations/<id>/) of ingested conversations.",
        f"gunicorn {args.workers} workers × {args.threads} threads (repo gunicorn.conf.py), same 2-core machine as wrk; "
        "one staff session; STATIC_MANIFEST=false (no collectstatic in the temp DATA_DIR; static files are not requested).",
        "Every search and review view writes an AuditEvent, so this is a read + write load.",
        "Single-client warm latency (median, sequential preflight): "
        + "; ".join(
            f"{r['engine']}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in r["single_ms"].items()) for r in results
        ),
        "Think-time run errors by kind: "
        + "; ".join(f"{r['engine']}: {r['think'].get('error_kinds') or 'none'}" for r in results),
        "Preflight non-200 paths: " + ", ".join(f"{r['engine']}: {r['preflight_bad'] or 'none'}" for r in results),
    ]
    body = section_text("Dashboard under load", table, notes)
    print(body)
    if not args.no_write:
        write_section("dashboard", body)


if __name__ == "__main__":
    main()
