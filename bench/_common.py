"""Shared helpers for the bench/ scripts: tables, doc sections, Django child processes, RSS, receivers.

Every bench script runs product code in a *child process* with its own DATA_DIR / DATABASE_URL, so one
script can compare SQLite and PostgreSQL (or two ingestion runs) in one invocation without settings leaking.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOCS = ROOT / "docs"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EMULATOR_CLIENT_ID = "transcript-vault-demo"
EMULATOR_CLIENT_SECRET = "transcript-vault-demo-secret"
WEBHOOK_SECRET = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ=="


# ---------------------------------------------------------------- output


def compliance_client(username: str, password: str, **client_kwargs):
    """(user, Django test Client) for a compliance officer signed in the whole way (inside a Django child).

    Compliance sees every conversation (is_staff alone sees none: reviews/access.py) and needs a verified
    second factor, which the session records as the verification page would (reviews/mfa.py).
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.create_user(username, password=password)
    user.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    client = Client(**client_kwargs)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(user=user, name="bench", confirmed=True).persistent_id
    session.save()
    return user, client


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            if value == 0:
                return "0"
            if abs(value) >= 100:
                return f"{value:,.0f}"
            if abs(value) >= 1:
                return f"{value:.2f}"
            return f"{value:.3g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line() -> str:
    args = " ".join(_quote(a) for a in sys.argv[1:])
    script = Path(sys.argv[0]).resolve()
    with suppress(ValueError):
        script = script.relative_to(ROOT)
    return f".venv/bin/python {script} {args}".strip()


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else json.dumps(arg)


def machine_line() -> str:
    import platform

    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM"
    except Exception:  # pragma: no cover - psutil is a product dependency
        mem = "?"
    load = "load average (1/5/15 min) at write time: " + " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {mem}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {load} (machine shared with other engineers)"
    )


def write_section(name: str, body: str, *, doc: str = "benchmarks.md", title: str | None = None) -> Path:
    """Replace this script's own block between <!-- bench:NAME:start --> and <!-- bench:NAME:end -->."""
    import fcntl

    path = DOCS / doc
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    with open(Path(tempfile.gettempdir()) / f"tv-bench-{doc}.lock", "w") as lock:  # scripts may finish at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.exists() else f"# {title or doc}\n"
        if start in text and end in text:
            before, rest = text.split(start, 1)
            _, after = rest.split(end, 1)
            text = before + block + after
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        path.write_text(text)
    return path


def section_text(heading: str, table: str, notes: Sequence[str] = ()) -> str:
    parts = [
        f"### {heading}",
        "",
        f"Command: `{command_line()}`",
        "",
        f"Machine: {machine_line()}",
        "",
        table,
    ]
    if notes:
        parts += ["", *[f"- {n}" for n in notes]]
    if os.environ.get("BENCH_SHIM_PATH"):
        parts += ["", "**SMOKE RUN with a local shim over product code (BENCH_SHIM_PATH): not a valid measurement.**"]
    return "\n".join(parts)


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.3)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {seconds}s")


def child_pythonpath() -> str:
    """ROOT, preceded by BENCH_SHIM_PATH when set (smoke tests only; such runs are marked in the docs)."""
    return os.pathsep.join(p for p in (os.environ.get("BENCH_SHIM_PATH"), str(ROOT)) if p)


BENCH_SECRET_KEY = secrets.token_urlsafe(48)
BENCH_VAULT_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def django_env(data_dir: Path, *, database_url: str | None = None, **extra: object) -> dict[str, str]:
    """Environment for a product child process: its own DATA_DIR, optional PostgreSQL, no Redis."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "transcripts_site.settings",
            "DATA_DIR": str(data_dir),
            "PYTHONPATH": child_pythonpath(),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "Q_LOG_LEVEL": "WARNING",
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
        # A shared deployment must be given its keys (issue 11): one fresh pair per bench run, for all its children.
        env.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
        env.setdefault("VAULT_ENCRYPTION_KEY", BENCH_VAULT_KEY)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def manage(*args: str, env: dict[str, str], check: bool = True, timeout: float | None = None, capture: bool = True):
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=check,
        timeout=timeout,
        capture_output=capture,
        text=True,
    )


def migrate(env: dict[str, str]) -> None:
    result = manage("migrate", "--noinput", "--verbosity", "0", env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class ChildResult:
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def populate_from_emulator(data_dir: Path, *, url: str, start, end, database_url: str | None = None) -> dict[str, str]:
    """A migrated database filled by the real pipeline from the emulator at `url`, with fast polling.

    Returns the child environment so the caller can run more commands against the same data.
    """
    env = django_env(
        data_dir,
        database_url=database_url,
        GENESYS_API_URL=url,
        GENESYS_LOGIN_URL=url,
        GENESYS_RATE_LIMIT_PER_MINUTE=6000,
        TRANSCRIPT_POLL_BASE_SECONDS=0.2,
        TRANSCRIPT_POLL_MAX_SECONDS=1,
        TRANSCRIPT_DEADLINE_SECONDS=3,
        STATIC_MANIFEST="false",
    )
    migrate(env)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    command = [PYTHON, str(BENCH / "run_pipeline.py"), "--since", start.strftime(fmt), "--until", end.strftime(fmt)]
    result = subprocess.run([*command, "--max-wait", "300"], env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pipeline populate failed:\n{result.stderr[-3000:]}")
    return env


def run_measured(
    args: list[str], *, env: dict[str, str], timeout: float | None = None, cwd: Path = ROOT
) -> ChildResult:
    """Run a child and return its wall time and its own peak RSS (os.wait4 rusage, exact per child)."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed after the child exits
    err = tempfile.TemporaryFile()  # noqa: SIM115
    started = time.monotonic()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)
    timer = None
    if timeout:
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    if timer:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    result = ChildResult(
        returncode=proc.returncode,
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024.0,  # Linux: KiB
        stdout=out.read().decode(errors="replace"),
        stderr=err.read().decode(errors="replace"),
    )
    out.close()
    err.close()
    return result


def last_json(text: str) -> dict:
    """The last JSON object printed on stdout (commands print logs before their --json summary)."""
    text = text.strip()
    for start in [i for i, ch in enumerate(text) if ch == "{"]:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    lines = [line for line in text.splitlines() if line.strip().startswith("{")]
    for line in reversed(lines):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    raise ValueError(f"no JSON object in output: {text[-500:]!r}")


# ---------------------------------------------------------------- PostgreSQL


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@contextmanager
def pg_database(name: str):
    """Create a throwaway database, yield its URL, drop it afterwards."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- compliance receiver


@dataclass
class Receiver:
    """A local HTTP endpoint standing in for the compliance store; records every POST."""

    status: int = 200
    posts: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.posts.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "at": time.time(),
                        }
                    )
                    status = receiver.status
                payload = b'{"ok":true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def scaled_dataset_delays(dataset, scale: float) -> int:
    """Multiply every simulated readiness delay by `scale` (the emulator's own clock stays real)."""
    changed = 0
    for conv in dataset.conversations:
        tr = getattr(conv, "transcript", None)
        if tr is not None and getattr(tr, "ready_delay_s", None):
            tr.ready_delay_s = tr.ready_delay_s * scale
            changed += 1
    return changed


def stat(stats: object, name: str, default: object = 0) -> object:
    if isinstance(stats, dict):
        return stats.get(name, default)
    return getattr(stats, name, default)
