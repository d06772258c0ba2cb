"""OAuth token requests of a long-running worker fleet, time-compressed (issue 14 §2).

A scaled "day": the emulator's tokens live `--token-ttl` seconds (Genesys: 86,399 s) and the run lasts
`--expiries` lifetimes, while two real `manage.py qcluster` processes (`--workers` each) work a steady
stream of conversations (calls keep ending during the run; discovery, advance and relay are enqueued
through the real broker by a ticker, as in tests/scaleout/_ticker.py). The emulator counts every
POST /oauth/token per client id (Basic credentials) with its arrival time.

Goal: about one token request per token lifetime per client, however many tasks and processes
(ideal = ceil(run / ttl); the provider refreshes `refresh_margin` = 10 % of a short lifetime early, so the
design target is ceil(run / (0.9 ttl))), and no refresh stampede at expiry (a burst of requests
within a second of each other).

Brokers: (a) SQLite + ORM broker + database token cache, (b) PostgreSQL + Redis broker + Redis token
cache (skipped, with the reason, when a server is absent).

    .venv/bin/python bench/token_reuse.py                       # small: ttl 10 s x 3, ~1 min per broker
    .venv/bin/python bench/token_reuse.py --token-ttl 60 --expiries 10 --conversations 300   # full (docs)
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    BENCH_SECRET_KEY,
    BENCH_VAULT_KEY,
    PYTHON,
    ROOT,
    child_pythonpath,
    md_table,
    pg_available,
    pg_database,
    section_text,
    write_section,
)

SECTION = "token_reuse"
REDIS_SERVER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = 12
TICK_SECONDS = 0.5
DISCOVER_EVERY = 4
MAX_QUEUED = 4


# ------------------------------------------------------------------ emulator side (this process)


class TokenLog:
    """Every POST /oauth/token the emulator answered: (arrival, client id, status)."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, str, int]] = []
        self.lock = threading.Lock()

    def per_client(self, status: int = 200) -> Counter:
        with self.lock:
            return Counter(client for _, client, s in self.entries if s == status)

    def times(self, status: int = 200) -> list[float]:
        with self.lock:
            return sorted(t for t, _, s in self.entries if s == status)


def client_id_of(authorization: str) -> str:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return "?"
    try:
        return base64.b64decode(value).decode().partition(":")[0]
    except Exception:
        return "?"


def record_token_requests(emulator) -> TokenLog:
    log = TokenLog()
    handle_token = emulator.handle_token

    def recording(method, headers, body):
        arrived = time.time()
        response = handle_token(method, headers, body)
        with log.lock:
            log.entries.append((arrived, client_id_of(headers.get("Authorization", "")), response.status))
        return response

    emulator.handle_token = recording
    return log


def bursts(times: list[float], window: float = 1.0) -> int:
    """Token requests that came within `window` s of the previous one (a stampede shows up here)."""
    return sum(1 for a, b in zip(times, times[1:], strict=False) if b - a < window)


# ------------------------------------------------------------------ ticker (child process mode)


def ticker_main() -> None:
    """Enqueue discovery / advance / relay through the real broker until SIGTERM; then wait for the queue to
    drain and print {"enqueued": n, "left": q} (tasks run = enqueued - left)."""
    import django

    django.setup()
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    broker = get_broker()
    enqueued = tick = 0
    while not stopping:
        if tick % DISCOVER_EVERY == 0:
            async_task("reviews.tasks.discover_task")
            enqueued += 1
        if broker.queue_size() < MAX_QUEUED:
            async_task("reviews.tasks.advance_task")
            async_task("reviews.tasks.relay_outbox_task")
            enqueued += 2
        tick += 1
        time.sleep(TICK_SECONDS)
    deadline = time.monotonic() + 60
    while broker.queue_size() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # the tasks just taken finish
    print(json.dumps({"enqueued": enqueued, "left": broker.queue_size()}), flush=True)


# ------------------------------------------------------------------ one broker


def environment(data_dir: Path, base_url: str, *, database_url: str | None, redis_url: str | None, workers: int):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "GENESYS_", "REDIS_", "COMPLIANCE_", "Q_CLUSTER", "TRANSCRIPT_", "PIPELINE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="transcripts_site.settings",
        DATA_DIR=str(data_dir),
        PYTHONPATH=child_pythonpath(),
        PYTHONUNBUFFERED="1",
        GENESYS_API_URL=base_url,
        GENESYS_LOGIN_URL=base_url,
        GENESYS_RATE_LIMIT_PER_MINUTE="6000",
        Q_CLUSTER_NAME="transcript-vault-token-bench",
        Q_CLUSTER_WORKERS=str(workers),
        # Tokens are what is counted here; speech-to-text would need a second worker (ASR_CONCURRENCY < workers).
        ASR_ENABLED="false",
        Q_CLUSTER_POLL_SECONDS="0.1",
        DISCOVERY_INITIAL_LOOKBACK_HOURS="24",
        TRANSCRIPT_POLL_BASE_SECONDS="0.2",
        TRANSCRIPT_POLL_MAX_SECONDS="1",
        TRANSCRIPT_DEADLINE_SECONDS="2",
        PIPELINE_LEASE_SECONDS="10",
        COMPLIANCE_RETRY_BASE_SECONDS="0.2",
        COMPLIANCE_RETRY_MAX_SECONDS="1",
        STATIC_MANIFEST="false",
        LOG_LEVEL="WARNING",
        Q_LOG_LEVEL="INFO",  # "Q Cluster … running." says a cluster is ready
    )
    if database_url:
        env.update(DATABASE_URL=database_url, DATABASE_CONN_MAX_AGE="0")
    if redis_url:
        env.update(REDIS_URL=redis_url)
    if database_url or redis_url:
        env.update(SECRET_KEY=BENCH_SECRET_KEY, VAULT_ENCRYPTION_KEY=BENCH_VAULT_KEY)
    return env


@contextmanager
def process_group(args: list[str], *, env: dict[str, str], log: Path):
    with log.open("ab") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group: workers that did not stop
            proc.wait(timeout=10)


def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def run_broker(label: str, args, *, database_url: str | None, redis_url: str | None) -> dict:
    from genesys.emulator import Emulator, generate_dataset

    run_seconds = args.token_ttl * args.expiries
    now = datetime.now(UTC).replace(microsecond=0)
    # Most calls end during the run (live traffic), so discovery keeps finding new work all along.
    dataset = generate_dataset(
        args.seed,
        args.conversations,
        now - timedelta(hours=2),
        now,
        large=0,
        live_until=now + timedelta(seconds=run_seconds),
        live_share=0.8,
    )
    emulator = Emulator(dataset, seed=args.seed, rate_limit_per_minute=6000, token_ttl_s=args.token_ttl)
    tokens = record_token_requests(emulator)
    work = Path(tempfile.mkdtemp(prefix=f"tv-token-bench-{label.split()[0].lower()}-"))
    with emulator.serve() as base_url:
        env = environment(work / "data", base_url, database_url=database_url, redis_url=redis_url, workers=args.workers)
        done = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"migrate failed: {done.stderr[-2000:]}")
        logs = [work / f"cluster-{n}.log" for n in range(1, args.clusters + 1)]
        with ExitStack() as stack:
            clusters = [
                stack.enter_context(process_group([PYTHON, "manage.py", "qcluster"], env=env, log=log)) for log in logs
            ]
            wait_until(
                lambda: all(" running." in log.read_text(errors="replace") for log in logs),
                timeout=90,
                what="every cluster running",
            )
            emulator.reset_stats()
            started = time.time()
            ticker_log = work / "ticker.log"
            ticker = subprocess.Popen(
                [PYTHON, str(Path(__file__).resolve()), "--ticker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=ticker_log.open("wb"),
                text=True,
            )
            try:
                while time.time() - started < run_seconds:
                    dead = [c for c in clusters if c.poll() is not None]
                    if dead or ticker.poll() is not None:
                        raise RuntimeError(f"{label}: a cluster or the ticker died; see {work}")
                    time.sleep(0.5)
            finally:
                ticker.send_signal(signal.SIGTERM)
                out, _ = ticker.communicate(timeout=120)
            ended = time.time()
        stats = emulator.stats
    emulator.close()
    counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"enqueued": 0, "left": 0}
    ok_times = tokens.times()
    per_client = tokens.per_client()
    seconds = ended - started
    ideal = math.ceil(seconds / args.token_ttl)
    margin = min(60.0, args.token_ttl * 0.1)
    design = math.ceil(seconds / (args.token_ttl - margin))
    worst = max(per_client.values(), default=0)
    log_text = "".join(log.read_text(errors="replace") for log in logs)
    result = {
        "label": label,
        "seconds": seconds,
        "ttl": args.token_ttl,
        "processes": f"{args.clusters} clusters x {args.workers} workers",
        "per_client": dict(per_client),
        "token_requests": sum(per_client.values()),
        "token_non_200": len(tokens.entries) - len(ok_times),
        "ideal": ideal,
        "design": design,
        "bursts": bursts(ok_times),
        "gaps": [round(b - a, 1) for a, b in zip(ok_times, ok_times[1:], strict=False)],
        "tasks": counts["enqueued"] - counts["left"],
        "api_calls": stats.api_calls,
        "api_401": sum(n for (_, status), n in stats.by_status.items() if status == 401),
        "worker_recycles": log_text.count("recycled"),
        "met": worst <= design + 1 and bursts(ok_times) == 0,
        "work": str(work),
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def redis_unreachable() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_SERVER, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"Redis unreachable at {REDIS_SERVER}: {type(exc).__name__}"
    return None


@contextmanager
def scratch_redis():
    import redis

    url = f"{REDIS_SERVER.rstrip('/')}/{REDIS_DB}"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    try:
        yield url
    finally:
        connection.flushdb()
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--token-ttl", type=int, default=10, help="emulator token lifetime, seconds")
    parser.add_argument("--expiries", type=int, default=3, help="run length in token lifetimes")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="Q_CLUSTER_WORKERS per cluster")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="run one broker")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--note", action="append", default=[], help="an extra line for the doc section")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, SQLite file)")
    parser.add_argument("--ticker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ticker:
        ticker_main()
        return

    load_before = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    results, skipped = [], []
    if args.only in (None, "sqlite"):
        results.append(
            run_broker("SQLite + ORM broker + database token cache", args, database_url=None, redis_url=None)
        )
    if args.only in (None, "postgres"):
        reason = None if pg_available() else "PostgreSQL unreachable at 127.0.0.1:5432"
        reason = reason or redis_unreachable()
        if reason:
            skipped.append(f"PostgreSQL + Redis: skipped ({reason})")
        else:
            with pg_database(f"tv_bench_tokens_{os.getpid()}") as database_url, scratch_redis() as redis_url:
                results.append(
                    run_broker(
                        "PostgreSQL + Redis broker + Redis token cache",
                        args,
                        database_url=database_url,
                        redis_url=redis_url,
                    )
                )
    load_after = " / ".join(f"{x:.1f}" for x in os.getloadavg())

    for r in results:
        print(json.dumps(r), file=sys.stderr)
    table = md_table(
        [
            "broker",
            "processes",
            "run (s)",
            "token TTL (s)",
            "token requests (per client id)",
            "ideal ceil(run/ttl)",
            "design ceil(run/0.9 ttl)",
            "requests < 1 s apart",
            "tasks run",
            "API calls",
            "API 401s",
            "goal",
        ],
        [
            (
                r["label"],
                r["processes"],
                r["seconds"],
                r["ttl"],
                ", ".join(f"{c}: {n}" for c, n in r["per_client"].items()) or "0",
                r["ideal"],
                r["design"],
                r["bursts"],
                r["tasks"],
                r["api_calls"],
                r["api_401"],
                "met" if r["met"] else "**NOT met**",
            )
            for r in results
        ],
    )
    notes = [
        f"Load average (1/5/15 min) before the run: {load_before}; after: {load_after}.",
        "A scaled day: the emulator's tokens live `--token-ttl` s instead of 86,399 s and the run lasts "
        "`--expiries` lifetimes, so each lifetime stands for one day of a real worker fleet.",
        "Token requests are counted at the emulator (POST /oauth/token, HTTP 200, per client id from the Basic "
        "credentials); tasks run = tasks the ticker enqueued through the real broker minus those left queued.",
        "The provider refreshes 10 % of a short lifetime early (genesys/auth.py refresh_margin; 60 s of a real "
        "24 h token), hence the design count; goal = at most design + 1 per client and no two requests < 1 s apart "
        "(no refresh stampede at expiry).",
        "Gaps between token requests (s): " + "; ".join(f"{r['label'].split(' +')[0]}: {r['gaps']}" for r in results),
        *skipped,
        *args.note,
    ]
    body = section_text("Token reuse across a worker fleet (issue 14 §2)", table, notes)
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
