"""Real processes against real services for the scale-out tests.

A scratch PostgreSQL database and a flushed Redis database per test, the Genesys emulator in this
process (so its ground truth and a log of every API request are at hand), a signed-webhook receiver
that records every delivery, and helpers to start, stop and SIGKILL `manage.py qcluster` process groups.
Nothing here touches the suite's own database: the subprocesses get their own DATABASE_URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from genesys.emulator import Emulator
from reviews.compliance.sinks.webhook import InvalidSignature, verify_signature
from reviews.models import Conversation
from tests.pipeline.expectations import STORABLE_KINDS

# The pipeline's own lists, so these raw-SQL checks never fall behind the state machine.
ACTIVE_STATES = tuple(str(state) for state in Conversation.ACTIVE_STATES)
FINAL_STATES_SQL = ", ".join(f"'{state}'" for state in Conversation.FINAL_STATES)

ROOT = Path(__file__).resolve().parents[2]
TICKER = Path(__file__).with_name("_ticker.py")
POSTGRES_ADMIN_URL = os.environ.get("SCALEOUT_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("SCALEOUT_REDIS_URL", "redis://127.0.0.1:6379")
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"scale-out-test-webhook-secret-32b").decode()


# ------------------------------------------------------------------------------------------ services


def postgres_unreachable() -> str | None:
    """None when a scratch database can be created, else why not (the skip reason)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3, autocommit=True) as connection:
            connection.execute("select 1")
    except Exception as exc:
        return f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL} (SCALEOUT_POSTGRES_URL): {type(exc).__name__}"
    return None


def redis_unreachable() -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed"
    try:
        redis.from_url(REDIS_SERVER_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"Redis is unreachable at {REDIS_SERVER_URL} (SCALEOUT_REDIS_URL): {type(exc).__name__}"
    return None


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (unique name) for the subprocesses; dropped afterwards."""
    import psycopg

    name = f"tv_scaleout_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    parts = urlsplit(POSTGRES_ADMIN_URL)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def scratch_redis(db: int) -> Iterator[str]:
    """A Redis database index, flushed before and after (broker queue and rate-limit bucket)."""
    import redis

    url = f"{REDIS_SERVER_URL.rstrip('/')}/{db}"
    connection = redis.from_url(url)
    connection.flushdb()
    try:
        yield url
    finally:
        connection.flushdb()
        connection.close()


class Database:
    """Read-only look at the workers' database from the test process (plain SQL, not the suite's ORM):
    a PostgreSQL URL, or the path of the SQLite file the workers use."""

    def __init__(self, target: str | Path) -> None:
        self.target = target

    def rows(self, sql: str, params=()) -> list[tuple]:
        if isinstance(self.target, Path):
            try:
                with sqlite3.connect(f"file:{self.target}?mode=ro", uri=True, timeout=10) as connection:
                    return connection.execute(sql.replace("%s", "?"), params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc) or "unable to open" in str(exc):
                    return []
                raise
        import psycopg

        try:
            with psycopg.connect(self.target, autocommit=True) as connection:
                return connection.execute(sql, params).fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    def scalar(self, sql: str, params=()):
        rows = self.rows(sql, params)
        return rows[0][0] if rows else 0

    def execute(self, sql: str, params=()) -> int:
        """One write (the tests use it only to let time pass for a lease); returns the rows changed."""
        if isinstance(self.target, Path):
            with sqlite3.connect(self.target, timeout=20) as connection:
                return connection.execute(sql.replace("%s", "?"), params).rowcount
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as connection:
            return connection.execute(sql, params).rowcount

    def states(self) -> dict[str, str]:
        return dict(self.rows("select genesys_id, state from reviews_conversation"))

    def transcripts(self) -> int:
        """Genesys' transcripts stored (not the workers' own speech-to-text of audio-only calls)."""
        return self.scalar("select count(*) from reviews_transcript where source = 'genesys'")

    def progress(self) -> dict:
        return {
            "states": dict(Counter(self.states().values())),
            "transcripts": self.transcripts(),
            "outbox": self.rows("select sink, state, count(*) from reviews_outboxmessage group by 1, 2"),
            "last_errors": self.rows(
                "select last_error, count(*) from reviews_conversation where last_error != '' group by 1 limit 5"
            ),
        }


# A worker's line for each transcript it stored. The late-transcript check logs "late Genesys transcript stored" after
# the store's own line for the same transcript: counted once, not twice.
STORED_LINE = re.compile(r"(?<!late Genesys )transcript stored conversation=(\S+)")


GENESYS_TRANSCRIPT_OUTBOX_SQL = (
    "from reviews_outboxmessage o join reviews_transcript t on t.id = o.transcript_id "
    "where o.kind = 'transcript' and t.source = 'genesys'"
)


def final_snapshot(db: Database) -> dict:
    """Everything the assertions need, read before the scratch database is dropped."""
    return {
        "states": db.states(),
        # Genesys' transcripts, what the ground truth lists; the workers' own speech-to-text of the audio-only calls
        # (source vault-asr) may land as well while the run lasts, and is not what these runs check.
        "transcripts": db.rows(
            "select c.genesys_id, t.communication_id, count(u.id) from reviews_transcript t "
            "join reviews_conversation c on c.id = t.conversation_id "
            "left join reviews_utterance u on u.transcript_id = t.id where t.source = 'genesys' "
            "group by c.genesys_id, t.communication_id, t.id"
        ),
        "duplicate_utterances": db.scalar(
            'select count(*) from (select transcript_id, "index" from reviews_utterance '
            'group by transcript_id, "index" having count(*) > 1) d'
        ),
        # Unfinished rows still held by a lease: work a dead worker would block. A final row may keep
        # the lease a killed worker never gave back; nothing claims final rows, so it blocks nothing.
        "leased": db.scalar(
            f"select count(*) from reviews_conversation where lease_token != '' and state not in ({FINAL_STATES_SQL})"
        ),
        # Conversations with their audio kept: every audio-only call, and a delayed one whose transcript came after
        # its audio fallback (the late-transcript check then stores Genesys' transcript beside the audio).
        "recordings": {
            gid
            for (gid,) in db.rows(
                "select distinct c.genesys_id from reviews_audiorecording r "
                "join reviews_conversation c on c.id = r.conversation_id"
            )
        },
        # The compliance rows of Genesys' transcripts; a vault-asr transcript's rows are its own schema (the
        # receiver files them apart) and only need to be delivered, which `finished` waits for.
        "outbox": {
            (sink, state): n
            for sink, state, n in db.rows(
                f"select o.sink, o.state, count(*) {GENESYS_TRANSCRIPT_OUTBOX_SQL} group by 1, 2"
            )
        },
        "webhook_keys": {
            key
            for (key,) in db.rows(f"select o.idempotency_key {GENESYS_TRANSCRIPT_OUTBOX_SQL} and o.sink = 'webhook'")
        },
    }


# ------------------------------------------------------------------------------------------ emulator


@dataclass
class ApiLog:
    """Arrival time and status of every /api/v2 request the emulator answered, from every process."""

    entries: list[tuple[float, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def times(self) -> list[float]:
        with self.lock:
            return sorted(t for t, _, _ in self.entries)

    def by_endpoint(self) -> Counter:
        with self.lock:
            return Counter(re.sub(r"[0-9a-f-]{36}", "{id}", path) for _, path, _ in self.entries)

    def statuses(self, status: int) -> int:
        with self.lock:
            return sum(1 for _, _, s in self.entries if s == status)


def record_api_requests(emulator: Emulator) -> ApiLog:
    log = ApiLog()
    handle_api = emulator.handle_api

    def recording(method, target, headers, body):
        arrived = time.time()
        response = handle_api(method, target, headers, body)
        with log.lock:
            log.entries.append((arrived, urlsplit(target).path, response.status))
        return response

    emulator.handle_api = recording
    return log


def bucket_overrun(times: list[float], *, capacity: float, refill_per_second: float) -> float:
    """How far the busiest interval went beyond what one token bucket allows (<= 0: never).

    A bucket of `capacity` refilled at `refill_per_second` grants at most capacity + refill * L requests
    in any interval of length L, however many processes share it.
    """
    worst = float("-inf")
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            worst = max(worst, (j - i + 1) - (capacity + refill_per_second * (times[j] - start)))
    return worst


def expected_stored(dataset, *, delayed: bool = False) -> dict[str, tuple[str, int]]:
    """Conversations whose transcript is ready and valid: {conversationId: (communicationId, phrases)}.

    `delayed=True` gives the others with a valid transcript: it arrives 30-300 s after the emulator starts,
    after the tests' 1 s deadline, so they end stored only when the final direct probe before the audio
    fallback comes after it (timing-dependent in these wall-clock tests)."""
    return {
        c.conversation_id: (c.transcript.communication_id, c.transcript.phrase_count)
        for c in dataset.conversations
        if c.transcript is not None and c.transcript.kind in STORABLE_KINDS and c.transcript.delayed is delayed
    }


def settled_stored(states: dict[str, str], dataset) -> dict[str, tuple[str, int]]:
    """The conversations that ended stored: every ready one, plus any delayed one whose transcript arrived
    before its final probe; never another."""
    sure, late = expected_stored(dataset), expected_stored(dataset, delayed=True)
    ended_stored = {gid for gid, state in states.items() if state == "stored"}
    assert set(sure) <= ended_stored <= set(sure) | set(late), sorted(ended_stored ^ set(sure))
    return {gid: {**sure, **late}[gid] for gid in ended_stored}


# ------------------------------------------------------------------------------------------ webhook sink


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    body_sha256: str
    version: tuple[str, str, str]  # conversationId, communicationId, document sha256
    status: int


class WebhookReceiver:
    """A compliance webhook endpoint: verifies the signature, records every delivery, and answers 503
    to the first attempt of every `fail_first_every`-th message id so the relay has to retry."""

    def __init__(self, *, secret: str = WEBHOOK_SECRET, fail_first_every: int = 0) -> None:
        self.secret = secret
        self.fail_first_every = fail_first_every
        self.deliveries: list[Delivery] = []
        # Payloads of the other message types (audio-only calls, facts versions: docs/compliance.md), by webhook-id.
        self.other_payloads: dict[str, str] = {}
        self.bad_signatures = 0
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/compliance"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(receiver.receive(dict(self.headers.items()), body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        try:
            verify_signature(self.secret, headers, body)
        except InvalidSignature:
            with self._lock:
                self.bad_signatures += 1
            return 400
        payload = json.loads(body)
        webhook_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        if payload.get("schema") != "transcript-vault.compliance/v1":  # a consumer dispatches on schema
            with self._lock:
                self.other_payloads[webhook_id] = payload["schema"]
            return 200
        with self._lock:
            order = self._seen.setdefault(webhook_id, len(self._seen))
            first_attempt = not any(d.webhook_id == webhook_id for d in self.deliveries)
            fail = self.fail_first_every and first_attempt and order % self.fail_first_every == 0
            status = 503 if fail else 200
            self.deliveries.append(
                Delivery(
                    webhook_id=webhook_id,
                    body_sha256=hashlib.sha256(body).hexdigest(),
                    version=(payload["conversationId"], payload["communicationId"], payload["document"]["sha256"]),
                    status=status,
                )
            )
        return status

    def accepted(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.status == 200]

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def webhook_violations(deliveries: list[Delivery]) -> dict[str, object]:
    """Everything that would be a duplicate compliance record: a version under two ids, an id with two bodies
    or standing for two versions. Repeats of one id with the byte-identical body are fine (at least once)."""
    ids_per_version: dict[tuple, set[str]] = {}
    bodies_per_id: dict[str, set[str]] = {}
    versions_per_id: dict[str, set[tuple]] = {}
    for d in deliveries:
        ids_per_version.setdefault(d.version, set()).add(d.webhook_id)
        bodies_per_id.setdefault(d.webhook_id, set()).add(d.body_sha256)
        versions_per_id.setdefault(d.webhook_id, set()).add(d.version)
    return {
        "versions_under_several_ids": {v: ids for v, ids in ids_per_version.items() if len(ids) > 1},
        "ids_with_several_bodies": {i: b for i, b in bodies_per_id.items() if len(b) > 1},
        "ids_for_several_versions": {i: v for i, v in versions_per_id.items() if len(v) > 1},
    }


# ------------------------------------------------------------------------------------------ processes


def environment(
    *, data_dir: Path, database_url: str | None, redis_url: str | None, base_url: str, **extra: str
) -> dict[str, str]:
    """The worker environment: PostgreSQL + Redis (broker and rate limiter), or without them SQLite under
    DATA_DIR + the ORM broker + the database rate limiter; the emulator; tiny poll delays."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "GENESYS_", "REDIS_", "COMPLIANCE_", "Q_CLUSTER", "TRANSCRIPT_", "PIPELINE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="transcripts_site.settings",
        DATA_DIR=str(data_dir),
        GENESYS_API_URL=base_url,
        GENESYS_RATE_LIMIT_BACKEND="redis" if redis_url else "database",
        Q_CLUSTER_NAME="transcript-vault-scaleout",
        Q_CLUSTER_WORKERS="2",
        Q_CLUSTER_POLL_SECONDS="0.1",
        DISCOVERY_INITIAL_LOOKBACK_HOURS="24",
        TRANSCRIPT_POLL_BASE_SECONDS="0.2",
        TRANSCRIPT_POLL_MAX_SECONDS="1",
        TRANSCRIPT_DEADLINE_SECONDS="1",
        PIPELINE_LEASE_SECONDS="10",
        COMPLIANCE_RETRY_BASE_SECONDS="0.2",
        COMPLIANCE_RETRY_MAX_SECONDS="1",
        LOG_LEVEL="INFO",  # the tests count "transcript stored" lines per process
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env.update(DATABASE_URL=database_url, DATABASE_CONN_MAX_AGE="0")
    if redis_url:
        env.update(REDIS_URL=redis_url)
    env.update(extra)
    return env


class Process:
    """A subprocess in its own process group (qcluster forks workers; SIGKILL must reach them all)."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.args, self.log = args, log
        self._log_file = log.open("ab")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    @classmethod
    def manage(cls, *args: str, env: dict[str, str], log: Path) -> Process:
        return cls([sys.executable, "manage.py", *args], env=env, log=log)

    @classmethod
    def ticker(cls, *, env: dict[str, str], log: Path) -> Process:
        return cls([sys.executable, str(TICKER)], env=env, log=log)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self) -> None:
        """SIGKILL the whole process group: the cluster's sentinel, pusher, monitor and every worker."""
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log_file.close()

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (graceful: running tasks finish), then SIGKILL the group if it does not exit in time."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        code = self.popen.poll()
        with suppress(ProcessLookupError):  # leftovers of the group (workers that did not stop cleanly)
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log_file.close()
        return code

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def run_manage(*args: str, env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "",
    progress: Callable[[], object] | None = None,
) -> float:
    """Poll until predicate() is true; returns the seconds it took. Fails the test after `timeout`,
    saying what `progress()` reports at that moment."""
    started = time.monotonic()
    last = started
    while not predicate():
        if progress and os.environ.get("SCALEOUT_VERBOSE") and time.monotonic() - last > 3:
            last = time.monotonic()
            print(f"{last - started:5.1f}s {progress()}", flush=True)
        if time.monotonic() - started > timeout:
            where = f"; progress: {progress()}" if progress else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}{where}")
        time.sleep(interval)
    return time.monotonic() - started


def assert_matches_ground_truth(final: dict, *, dataset, stored: dict) -> None:
    """Every conversation final in the state the emulator's data implies; each transcript once, every phrase."""
    expected = {
        c.conversation_id: ("stored" if c.conversation_id in stored else "audio_fallback")
        for c in dataset.conversations
    }
    wrong = {
        gid: (final["states"].get(gid), state) for gid, state in expected.items() if final["states"].get(gid) != state
    }
    assert not wrong and set(final["states"]) == set(expected), wrong
    got = sorted(tuple(row) for row in final["transcripts"])
    want = sorted((gid, communication_id, phrases) for gid, (communication_id, phrases) in stored.items())
    assert got == want, (sorted(set(got) - set(want))[:5], sorted(set(want) - set(got))[:5], len(got), len(want))
    assert final["duplicate_utterances"] == 0
