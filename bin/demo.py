"""`make demo`: the whole product on embedded defaults, from a fresh checkout, left running in the background.

`make demo` (bin/demo.py) migrates, starts the Genesys emulator, ingests its 30 days of calls in the foreground
the first time, creates the demo users, starts the web app (gunicorn) and the django-q2 worker, and returns;
its last lines say what still runs (pids, ports, logs) and how to stop it: `make demo-stop` (bin/demo.py stop).

Running `make demo` again restarts it and keeps everything under DATA_DIR (default ./var): the database (so
sessions survive, and the SECRET_KEY that signs them is generated once into DATA_DIR/secrets), the logins, and
the calls. The emulator's calls are pinned to the first start (DATA_DIR/demo/state.json): a restart serves the
very calls the vault archived, at the same times, so nothing is ingested twice or re-versioned, and the worker
carries on where it stopped.

Every demo process writes its Prometheus counters to DATA_DIR/prometheus (emptied at each start, before any
of them runs), so /metrics adds up the web workers, the worker and the first ingest (docs/deploy.md, Metrics).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = int(os.environ.get("PORT", "8000"))
EMULATOR_PORT = int(os.environ.get("EMULATOR_PORT", "8787"))
CONVERSATIONS = int(os.environ.get("DEMO_CONVERSATIONS", "300"))
EMULATOR_SEED = 7
# The emulator's calls cover this much history before its (pinned) start, written as lifelike calls (templated
# sentences, business hours, one locale per division, agents and lines that differ: genesys/emulator/data.py), so
# the quality dashboard's weekly trends over 7 and 30 days have points and per-agent differences to show.
HISTORY = timedelta(days=30)
# The emulator's live calls keep ending for this long after its (pinned) start (genesys_emulator LIVE_WINDOW).
LIVE_WINDOW = timedelta(minutes=30)
# gunicorn waits up to graceful_timeout (gunicorn.conf.py) for requests in flight; qcluster finishes its tasks.
STOP_SECONDS = 30.0

# Demo pacing: transcripts that are late show up within minutes, not hours.
DEMO_ENV = {
    "TRANSCRIPT_POLL_BASE_SECONDS": "5",
    "TRANSCRIPT_POLL_MAX_SECONDS": "60",
    "TRANSCRIPT_DEADLINE_SECONDS": "240",
    "DISCOVERY_INTERVAL_MINUTES": "1",
    "DISCOVERY_OVERLAP_MINUTES": "10",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
}
SETUP_COMMANDS = (
    ("migrate", "--noinput", "--verbosity", "0"),
    ("collectstatic", "--noinput", "--verbosity", "0"),
)


# ------------------------------------------------------------------------------------------------ places


def data_dir_of(env: dict[str, str]) -> Path:
    return Path(env.get("DATA_DIR") or ROOT / "var").resolve()


def demo_env(base: dict[str, str], *, data_dir: Path, emulator_port: int) -> dict[str, str]:
    """The environment of every demo process: pacing, the emulator's address, the shared metrics directory."""
    emulator = f"http://127.0.0.1:{emulator_port}"
    return {
        **base,
        **DEMO_ENV,
        "DATA_DIR": str(data_dir),
        "GENESYS_API_URL": emulator,
        "GENESYS_LOGIN_URL": emulator,
        "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "prometheus"),
    }


def reset_metrics_dir(directory: Path) -> None:
    """Empty the multiprocess metrics directory. Only while no demo process runs: a live process's files would go."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)


# ------------------------------------------------------------------------------------------------ state


def load_state(demo_dir: Path, *, now: datetime) -> dict:
    """What the first start decided: the moment the emulator's calls are pinned to, and whether they were ingested."""
    path = demo_dir / "state.json"
    if path.exists():
        return json.loads(path.read_text())
    state = {"emulator_now": now.astimezone(UTC).replace(microsecond=0).isoformat(), "ingested": False}
    save_state(demo_dir, state)
    return state


def save_state(demo_dir: Path, state: dict) -> None:
    demo_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staged = demo_dir / "state.json.tmp"
    staged.write_text(json.dumps(state, indent=2))
    staged.replace(demo_dir / "state.json")


def ingest_window(state: dict, *, now: datetime) -> tuple[datetime, datetime] | None:
    """The window the foreground ingest covers, or None once a start ingested it (the worker then carries on)."""
    if state["ingested"]:
        return None
    pinned = datetime.fromisoformat(state["emulator_now"])
    # From an hour before the emulator's first call (HISTORY back); up to now, and no further than the live calls
    # go: a first start interrupted and resumed later still gets the live calls, which the worker's incremental
    # discovery (24 h back from now) might no longer reach.
    return pinned - HISTORY - timedelta(hours=1), min(now.astimezone(UTC).replace(microsecond=0), pinned + LIVE_WINDOW)


def emulator_command(state: dict, *, port: int, conversations: int) -> list[str]:
    start = datetime.fromisoformat(state["emulator_now"]) - HISTORY
    return [
        PYTHON,
        str(Path(__file__).resolve()),
        "emulator",
        "--now",
        state["emulator_now"],
        "--port",
        str(port),
        "--seed",
        str(EMULATOR_SEED),
        "--conversations",
        str(conversations),
        "--start",  # the window ends at --now (no --end), so the live calls keep coming
        start.isoformat(),
        "--lifelike",
    ]


# ------------------------------------------------------------------------------------------------ processes


def spawn(name: str, args: list[str], *, env: dict[str, str], log_dir: Path, url: str = "") -> dict:
    """Start one background process in its own session (closing the terminal does not stop it) and describe it."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        log.write(f"\n=== {datetime.now(UTC).isoformat(timespec='seconds')} make demo starts {name}\n".encode())
        log.flush()
        child = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    print(f"  starting {name} (log: {log_path})")
    return {
        "name": name,
        "pid": child.pid,
        "created": psutil.Process(child.pid).create_time(),
        "url": url,
        "log": str(log_path),
    }


def record_processes(demo_dir: Path, records: list[dict]) -> None:
    demo_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staged = demo_dir / "processes.json.tmp"
    staged.write_text(json.dumps(records, indent=2))
    staged.replace(demo_dir / "processes.json")


def recorded_processes(demo_dir: Path) -> list[dict]:
    path = demo_dir / "processes.json"
    return json.loads(path.read_text()) if path.exists() else []


def is_running(record: dict) -> bool:
    """The recorded process itself, still alive: a pid the system has since given to another process is not it.

    The start time is compared loosely: psutil derives it from the boot time, which moves with the wall clock.
    """
    try:
        process = psutil.Process(record["pid"])
        same_start = abs(process.create_time() - record["created"]) < 2.0
        alive = process.status() != psutil.STATUS_ZOMBIE
        return same_start and alive and os.getsid(record["pid"]) == record["pid"]  # it leads its own session
    except (psutil.NoSuchProcess, ProcessLookupError):
        return False


def stop(records: list[dict], *, seconds: float = STOP_SECONDS) -> list[dict]:
    """SIGTERM each running process's group (gunicorn's and qcluster's workers too), SIGKILL it after `seconds`."""
    running = [record for record in records if is_running(record)]
    for record in running:
        _signal_group(record["pid"], signal.SIGTERM)
    _wait_until_stopped(running, seconds=seconds)
    for record in running:  # a leader that did not stop in time, and anything of its group that outlived it
        _signal_group(record["pid"], signal.SIGKILL)
    _wait_until_stopped(running, seconds=5.0)
    return running


def _wait_until_stopped(records: list[dict], *, seconds: float) -> None:
    # Polled rather than waited for: they are not this process's children after a restart, and an exited one
    # may stay a zombie where nothing reaps orphans (is_running counts a zombie as stopped).
    deadline = time.monotonic() + seconds
    while any(is_running(record) for record in records) and time.monotonic() < deadline:
        time.sleep(0.1)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)  # each demo process leads its own group (start_new_session)


def stop_recorded(demo_dir: Path) -> list[dict]:
    """Stop what an earlier `make demo` left running; the records go with it."""
    stopped = stop(recorded_processes(demo_dir))
    (demo_dir / "processes.json").unlink(missing_ok=True)
    return stopped


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for_port(port: int, *, log_dir: Path, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not port_is_free(port):
            return
        time.sleep(0.2)
    raise SystemExit(f"nothing is listening on 127.0.0.1:{port} after {seconds:.0f}s; see the logs in {log_dir}")


# ------------------------------------------------------------------------------------------------ what it says


def shown(path: str | Path) -> str:
    """A path as the reader would type it: relative to the current directory when it is inside it."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def background_lines(records: list[dict]) -> list[str]:
    """The last lines of `make demo`: what keeps running after it returns, and how to stop or restart it."""
    lines = ["Still running in the background (they keep running after this command returns):"]
    width = max(len(record["name"]) for record in records)
    for record in records:
        where = record["url"] or "-"
        lines.append(f"  {record['name']:<{width}}  pid {record['pid']:<7}  {where:<24}  log {shown(record['log'])}")
    lines.append("Stop them: make demo-stop    Restart, keeping the data and whoever is signed in: make demo")
    return lines


def named(records: list[dict]) -> str:
    return ", ".join(f"{record['name']} (pid {record['pid']})" for record in records)


# ------------------------------------------------------------------------------------------------ commands


def interrupt_on_signals() -> None:
    """`kill`/`timeout`/systemd send SIGTERM, a closed terminal SIGHUP: stop what was started, as Ctrl-C does."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def manage(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=check)


def start() -> None:
    interrupt_on_signals()
    data_dir = data_dir_of(dict(os.environ))
    env = demo_env(dict(os.environ), data_dir=data_dir, emulator_port=EMULATOR_PORT)
    demo_dir, log_dir = data_dir / "demo", data_dir / "logs"
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner-only, as the settings would create it
    log_dir.mkdir(mode=0o700, exist_ok=True)

    stopped = stop_recorded(demo_dir)
    if stopped:
        print(f"Restarting: stopped {named(stopped)}")
    for port in (PORT, EMULATOR_PORT):
        if not port_is_free(port):
            raise SystemExit(
                f"port {port} is in use, not by this demo; stop what runs there or set PORT / EMULATOR_PORT"
            )
    reset_metrics_dir(Path(env["PROMETHEUS_MULTIPROC_DIR"]))

    # A vault an older `make demo` filled, before the calls were pinned: its calls were generated around another
    # moment, so this one start re-dates them (new archive versions); removing DATA_DIR gives a clean demo.
    unpinned = (data_dir / "transcript_vault.sqlite3").exists() and not (demo_dir / "state.json").exists()
    print("Preparing the database and static files")
    for command in SETUP_COMMANDS:
        manage(*command, env=env)
    state = load_state(demo_dir, now=datetime.now(UTC))
    if unpinned:
        print(f"Note: {shown(data_dir)} was filled by an older make demo; its calls are re-dated once now")

    records: list[dict] = []
    try:
        records.append(
            spawn(
                "emulator",
                emulator_command(state, port=EMULATOR_PORT, conversations=CONVERSATIONS),
                env=env,
                log_dir=log_dir,
                url=f"http://127.0.0.1:{EMULATOR_PORT}/",
            )
        )
        record_processes(demo_dir, records)
        wait_for_port(EMULATOR_PORT, log_dir=log_dir)

        window = ingest_window(state, now=datetime.now(UTC))
        if window is None:
            print(f"Keeping what the vault holds: the emulator serves the same calls as on {state['emulator_now']},")
            print("and the worker carries on where it stopped")
        else:
            since, until = (moment.isoformat().replace("+00:00", "Z") for moment in window)
            print(f"Ingesting the emulator's conversations from {since} to {until}")
            sync = manage("genesys_sync", "--since", since, "--until", until, "--max-wait", "45", env=env, check=False)
            if sync.returncode == 0:  # discovered: the worker drives whatever is not final yet
                save_state(demo_dir, {**state, "ingested": True})
            else:
                print("The ingest stopped early; the next `make demo` runs it again")
        manage("demo_users", env=env)
        # A scorecard to start from (once), and automatic answers for the calls stored so far; the worker's
        # schedule scores the rest as they arrive.
        manage("auto_evaluate", "--install-starter-form", env=env)

        records.append(spawn("worker", [PYTHON, "manage.py", "qcluster"], env=env, log_dir=log_dir))
        record_processes(demo_dir, records)
        web = [PYTHON, "-m", "gunicorn", "transcripts_site.wsgi", "--bind", f"127.0.0.1:{PORT}", "--workers", "2"]
        web += ["--threads", "4", "--access-logfile", "-"]
        records.append(spawn("web", web, env=env, log_dir=log_dir, url=f"http://127.0.0.1:{PORT}/"))
        record_processes(demo_dir, records)
        wait_for_port(PORT, log_dir=log_dir)
    except BaseException:
        stopped = stop(records)
        (demo_dir / "processes.json").unlink(missing_ok=True)
        if stopped:
            print(f"\nStopped {named(stopped)}")
        raise

    print()
    print(f"Transcript Vault is running at http://127.0.0.1:{PORT}/  (sign in with a login above)")
    print("admin and compliance: have an authenticator app ready (TOTP); the first sign-in pairs it")
    print(f"Metrics: http://127.0.0.1:{PORT}/metrics (staff), every process's counters added up")
    print()
    for line in background_lines(list(reversed(records))):
        print(line)


def stop_command() -> None:
    demo_dir = data_dir_of(dict(os.environ)) / "demo"
    stopped = stop_recorded(demo_dir)
    print(f"Stopped {named(stopped)}" if stopped else f"No demo is running (nothing recorded in {shown(demo_dir)})")


def build_pinned_emulator(arguments: list[str]):
    """`emulator --now ISO [genesys_emulator options]`: the emulator `manage.py genesys_emulator` would have
    built at NOW. The demo pins NOW to its first start, so every restart serves the same calls at the same times."""
    from django.core.management.base import CommandParser

    from reviews.management.commands.genesys_emulator import Command, build_emulator

    parser = CommandParser(prog="bin/demo.py emulator")
    parser.add_argument("--now", required=True, help="ISO moment the calls are generated around")
    Command().add_arguments(parser)
    options = vars(parser.parse_args(arguments))
    now = datetime.fromisoformat(options.pop("now"))
    emulator, _live_until = build_emulator(options, now=now)
    return emulator, options


def serve_emulator(arguments: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transcripts_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    emulator, options = build_pinned_emulator(arguments)
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    with emulator.serve(options["host"], options["port"]) as base_url:
        dataset = emulator.dataset
        print(f"Genesys emulator listening on {base_url}", flush=True)
        print(f"  calls from {dataset.start.isoformat()} to {dataset.end.isoformat()} (pinned)", flush=True)
        while not stopping:
            time.sleep(0.5)
    emulator.close()


def main(argv: list[str]) -> None:
    sys.stdout.reconfigure(line_buffering=True)  # in order with the output of the commands it runs, even in a pipe
    command, arguments = (argv[0], argv[1:]) if argv else ("start", [])
    if command == "start":
        try:
            start()
        except KeyboardInterrupt:
            raise SystemExit(130) from None
    elif command == "stop":
        stop_command()
    elif command == "emulator":
        serve_emulator(arguments)
    else:
        raise SystemExit("usage: bin/demo.py [start | stop]")


if __name__ == "__main__":
    main(sys.argv[1:])
