"""`make demo`: the whole product on embedded defaults, from a fresh checkout.

Migrates, starts the Genesys emulator, ingests its last 24 hours in the foreground,
creates demo users, then runs the web app (gunicorn) and the django-q2 worker until
Ctrl-C. Everything lives under DATA_DIR (default ./var).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = int(os.environ.get("PORT", "8000"))
EMULATOR_PORT = int(os.environ.get("EMULATOR_PORT", "8787"))
CONVERSATIONS = int(os.environ.get("DEMO_CONVERSATIONS", "300"))

# Demo pacing: transcripts that are late show up within minutes, not hours.
DEMO_ENV = {
    "GENESYS_API_URL": f"http://127.0.0.1:{EMULATOR_PORT}",
    "GENESYS_LOGIN_URL": f"http://127.0.0.1:{EMULATOR_PORT}",
    "TRANSCRIPT_POLL_BASE_SECONDS": "5",
    "TRANSCRIPT_POLL_MAX_SECONDS": "60",
    "TRANSCRIPT_DEADLINE_SECONDS": "240",
    "DISCOVERY_INTERVAL_MINUTES": "1",
    "DISCOVERY_OVERLAP_MINUTES": "10",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
}


def manage(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=check)


def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
    print(f"  starting {name} (log: {log.name})")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_port(port: int, *, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing is listening on 127.0.0.1:{port} after {seconds:.0f}s; see the logs under var/logs")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)


def interrupt_on_sigterm() -> None:
    """`kill`/`timeout`/systemd send SIGTERM: stop the children exactly as Ctrl-C does."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    interrupt_on_sigterm()
    env = {**os.environ, **DEMO_ENV}
    data_dir = Path(env.get("DATA_DIR", ROOT / "var"))
    log_dir = data_dir / "logs"
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner-only, as the settings would create it
    log_dir.mkdir(mode=0o700, exist_ok=True)
    for port in (PORT, EMULATOR_PORT):
        if not port_is_free(port):
            raise SystemExit(f"port {port} is in use; stop what runs there or set PORT / EMULATOR_PORT")

    print("Preparing the database and static files")
    manage("migrate", "--verbosity", "0", env=env)
    manage("collectstatic", "--noinput", "--verbosity", "0", env=env)

    children: list[subprocess.Popen] = []
    try:
        children.append(
            spawn(
                "emulator",
                [
                    PYTHON,
                    "manage.py",
                    "genesys_emulator",
                    "--port",
                    str(EMULATOR_PORT),
                    "--seed",
                    "7",
                    "--conversations",
                    str(CONVERSATIONS),
                ],
                env,
                log_dir,
            )
        )
        wait_for_port(EMULATOR_PORT)

        now = datetime.now(UTC).replace(microsecond=0)
        since = (now - timedelta(hours=25)).isoformat().replace("+00:00", "Z")
        until = now.isoformat().replace("+00:00", "Z")
        print(f"Ingesting the emulator's conversations from {since} to {until}")
        manage("genesys_sync", "--since", since, "--until", until, "--max-wait", "45", env=env, check=False)
        manage("demo_users", env=env)

        children.append(spawn("worker", [PYTHON, "manage.py", "qcluster"], env, log_dir))
        children.append(
            spawn(
                "web",
                [
                    PYTHON,
                    "-m",
                    "gunicorn",
                    "transcripts_site.wsgi",
                    "--bind",
                    f"127.0.0.1:{PORT}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                ],
                env,
                log_dir,
            )
        )
        wait_for_port(PORT)
        print()
        print(f"Transcript Vault is running at http://127.0.0.1:{PORT}/  (logins above; Ctrl-C stops everything)")
        print("admin and compliance: have an authenticator app ready (TOTP); the first sign-in pairs it")
        print(f"Genesys emulator: http://127.0.0.1:{EMULATOR_PORT}   logs: {log_dir}")
        while all(child.poll() is None for child in children):
            time.sleep(1)
        failed = [child.args[2] if len(child.args) > 2 else child.args for child in children if child.poll()]
        raise SystemExit(f"a demo process stopped unexpectedly: {failed}; see {log_dir}")
    except KeyboardInterrupt:
        print("\nStopping")
    finally:
        stop(children)


if __name__ == "__main__":
    main()
