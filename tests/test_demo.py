"""bin/demo.py: a restarted `make demo` keeps the data and the sessions, and says what it leaves running.

The whole demo is not started here (its ports would clash); its pieces are, on temporary directories.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from django.core.management import call_command
from django.core.management.base import CommandParser

from reviews.management.commands.genesys_emulator import Command as EmulatorCommand
from reviews.management.commands.genesys_emulator import build_emulator

ROOT = Path(__file__).resolve().parents[1]
FIRST_START = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def _load_demo():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "bin" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def calls(emulator) -> list[tuple[str, datetime, datetime]]:
    return [(call.conversation_id, call.start, call.end) for call in emulator.dataset.conversations]


def test_it_pins_the_emulators_calls_to_the_first_start(tmp_path):
    first = demo.load_state(tmp_path, now=FIRST_START)
    restart = demo.load_state(tmp_path, now=FIRST_START + timedelta(days=2))

    assert restart == first == {"emulator_now": "2026-05-04T12:00:00+00:00", "ingested": False}
    command = demo.emulator_command(restart, port=18787, conversations=12)
    assert command[command.index("--now") + 1] == "2026-05-04T12:00:00+00:00"


def test_it_serves_after_a_restart_the_calls_the_first_start_served():
    """Same ids at the same times: a restart neither adds calls nor re-dates archived ones (new versions)."""
    parser = CommandParser()
    EmulatorCommand().add_arguments(parser)
    at_first_start, _ = build_emulator(vars(parser.parse_args(["--conversations", "12"])), now=FIRST_START)

    pinned, options = demo.build_pinned_emulator(["--now", FIRST_START.isoformat(), "--conversations", "12"])

    assert calls(pinned) == calls(at_first_start)
    assert options["conversations"] == 12 and "now" not in options


def test_it_ingests_in_the_foreground_only_until_a_start_did():
    state = {"emulator_now": FIRST_START.isoformat(), "ingested": False}

    assert demo.ingest_window(state, now=FIRST_START + timedelta(seconds=5)) == (
        FIRST_START - demo.HISTORY - timedelta(hours=1),
        FIRST_START + timedelta(seconds=5),
    )
    # A first start interrupted and run again the next day still reaches the live calls, and no further.
    assert demo.ingest_window(state, now=FIRST_START + timedelta(days=1))[1] == FIRST_START + demo.LIVE_WINDOW
    assert demo.ingest_window({**state, "ingested": True}, now=FIRST_START) is None


def test_it_gives_every_process_one_metrics_directory_and_empties_it_at_start(tmp_path):
    env = demo.demo_env({"PATH": "/usr/bin"}, data_dir=tmp_path, emulator_port=18787)
    metrics = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    assert metrics == tmp_path / "prometheus"
    assert env["GENESYS_API_URL"] == "http://127.0.0.1:18787" and env["DATA_DIR"] == str(tmp_path)
    metrics.mkdir()
    (metrics / "counter_4242.db").write_bytes(b"a previous run's counts")

    demo.reset_metrics_dir(metrics)

    assert metrics.is_dir() and not list(metrics.iterdir())


def _wait_for(path: Path) -> str:
    deadline = time.monotonic() + 20
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text()


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited; whoever adopted it has not reaped it yet
    except psutil.NoSuchProcess:
        return True


def test_it_stops_what_an_earlier_start_left_running_with_its_children(tmp_path):
    """Like gunicorn's and qcluster's workers, a child of a demo process goes with it."""
    child_pid_file = tmp_path / "child.pid"
    parent = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        f"open({str(child_pid_file)!r}, 'w').write(str(child.pid)); time.sleep(120)"
    )
    record = demo.spawn("sleeper", [sys.executable, "-c", parent], env=dict(os.environ), log_dir=tmp_path)
    demo.record_processes(tmp_path / "demo", [record])
    child = psutil.Process(int(_wait_for(child_pid_file)))
    assert demo.is_running(record)

    stopped = demo.stop_recorded(tmp_path / "demo")

    assert [entry["pid"] for entry in stopped] == [record["pid"]]
    assert not demo.is_running(record)
    deadline = time.monotonic() + 10
    while not _gone(child):
        assert time.monotonic() < deadline, "the child outlived its parent's stop"
        time.sleep(0.05)
    assert not (tmp_path / "demo" / "processes.json").exists()
    assert "make demo starts sleeper" in (tmp_path / "sleeper.log").read_text()


def test_it_never_signals_a_process_that_only_has_a_recorded_pid(tmp_path):
    """A pid from an old record may belong to someone else by now: its start time tells them apart."""
    me = psutil.Process()
    stranger = {"name": "web", "pid": me.pid, "created": me.create_time() - 3600, "url": "", "log": "web.log"}

    assert not demo.is_running(stranger)
    assert demo.stop([stranger], seconds=0.1) == []


def test_it_ends_by_saying_what_still_runs_and_how_to_stop_it(tmp_path):
    records = [
        {"name": "web", "pid": 4101, "created": 0, "url": "http://127.0.0.1:8000/", "log": str(tmp_path / "web.log")},
        {"name": "worker", "pid": 4102, "created": 0, "url": "", "log": str(tmp_path / "worker.log")},
        {"name": "emulator", "pid": 4103, "created": 0, "url": "http://127.0.0.1:8787/", "log": "emulator.log"},
    ]

    lines = demo.background_lines(records)

    assert "in the background" in lines[0]
    for record, line in zip(records, lines[1:4], strict=True):
        assert record["name"] in line and f"pid {record['pid']}" in line and record["log"].split("/")[-1] in line
    assert "http://127.0.0.1:8000/" in lines[1] and "http://127.0.0.1:8787/" in lines[3]
    assert "make demo-stop" in lines[-1] and "make demo" in lines[-1].replace("make demo-stop", "")


@pytest.mark.django_db
def test_it_keeps_a_signed_in_session_across_a_restart(client, settings, tmp_path):
    """What a restart runs against the database (setup and demo_users) signs nobody out."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)  # demo-logins.json lives there
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("demo_users", stdout=io.StringIO())  # the first start
    password = json.loads((settings.DATA_DIR / "demo-logins.json").read_text())["supervisor"]
    signed_in = client.post("/login/", {"username": "supervisor", "password": password})
    assert signed_in.status_code == 302 and client.get("/search/").status_code == 200

    for command in demo.SETUP_COMMANDS:  # the restart
        call_command(*command)
    call_command("demo_users", stdout=io.StringIO())

    assert client.get("/search/").status_code == 200  # not a redirect to the sign-in page


def test_it_serves_thirty_days_of_lifelike_calls():
    state = {"emulator_now": FIRST_START.isoformat(), "ingested": False}
    command = demo.emulator_command(state, port=18787, conversations=40)
    assert command[command.index("--start") + 1] == (FIRST_START - demo.HISTORY).isoformat()

    pinned, _ = demo.build_pinned_emulator(command[command.index("emulator") + 1 :])

    dataset = pinned.dataset
    assert dataset.lifelike and (dataset.start, dataset.end) == (FIRST_START - demo.HISTORY, FIRST_START)
    assert min(c.start for c in dataset.conversations) < FIRST_START - demo.HISTORY + timedelta(days=3)
