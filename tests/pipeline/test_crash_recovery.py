from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from genesys.emulator import Emulator, generate_dataset
from tests.pipeline.expectations import STORABLE_KINDS

ROOT = Path(__file__).resolve().parents[2]
# Real time: a window well in the past, so every transcript is ready or (delayed, never) past its deadline.
SINCE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
UNTIL = SINCE + timedelta(hours=6)
# Guards against a hung subprocess, not a speed requirement: the correctness checks below count rows and read the
# second run's own summary (`finished`), never the elapsed wall time (that is measured in bench/).
HANG_GUARD_SECONDS = 120


def expected_stored(dataset) -> set[str]:
    return {
        c.conversation_id
        for c in dataset.conversations
        if c.transcript is not None and c.transcript.kind in STORABLE_KINDS and not c.transcript.delayed
    }


def environment(data_dir: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "GENESYS_", "REDIS_"))}
    env.update(
        DATA_DIR=str(data_dir),
        GENESYS_API_URL=base_url,
        GENESYS_RATE_LIMIT_BACKEND="database",
        TRANSCRIPT_POLL_BASE_SECONDS="0.2",
        TRANSCRIPT_POLL_MAX_SECONDS="1",
        TRANSCRIPT_DEADLINE_SECONDS="1",
        PIPELINE_LEASE_SECONDS="10",
        LOG_LEVEL="WARNING",
    )
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_it_recovers_from_sigkill_mid_run_without_duplicates(tmp_path):
    dataset = generate_dataset(11, 80, SINCE, UNTIL, large=3, large_mb=1, malformed=2)
    stored_ids = expected_stored(dataset)
    emulator = Emulator(dataset, faults="slow", seed=11)
    with emulator.serve() as base_url:
        env = environment(tmp_path, base_url)
        db = tmp_path / "transcript_vault.sqlite3"
        migrate = manage("migrate", "--noinput", env=env)
        assert migrate.wait(timeout=HANG_GUARD_SECONDS) == 0, migrate.stderr.read().decode()
        sync_args = ("genesys_sync", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--json")

        first = manage(*sync_args, "--max-wait", "60", env=env)
        while first.poll() is None and count(db, "select count(*) from reviews_transcript") < 5:
            time.sleep(0.02)
        assert first.poll() is None, "the first run finished before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = count(db, "select count(*) from reviews_transcript")
        assert 0 < killed_at < len(stored_ids)

        second = manage(*sync_args, "--max-wait", "45", env=env)
        out, err = second.communicate(timeout=HANG_GUARD_SECONDS)
        assert second.returncode == 0, err.decode()
        summary = json.loads(out.decode().strip().splitlines()[-1])
        # The second run took over what the killed one left (expired leases, half-written downloads) and finished
        # the window within its own --max-wait budget: every conversation final.
        assert summary["finished"] is True, summary
        assert summary["transcripts_new"] == len(stored_ids) - killed_at, summary

    with sqlite3.connect(db) as connection:
        states = dict(connection.execute("select genesys_id, state from reviews_conversation").fetchall())
        transcripts = connection.execute(
            "select c.genesys_id from reviews_transcript t join reviews_conversation c on c.id = t.conversation_id"
        ).fetchall()
        leased = connection.execute("select count(*) from reviews_conversation where lease_token != ''").fetchone()[0]
        recordings = connection.execute(
            "select count(*), count(distinct conversation_id) from reviews_audiorecording"
        ).fetchone()
    assert len(states) == len(dataset.conversations)
    assert {gid for gid, state in states.items() if state == "stored"} == stored_ids
    assert {state for gid, state in states.items() if gid not in stored_ids} == {"audio_fallback"}
    assert sorted(gid for (gid,) in transcripts) == sorted(stored_ids)  # each transcript exactly once
    assert recordings == (len(states) - len(stored_ids),) * 2
    assert leased == 0
