"""SQLite soak: the dashboard searching while the worker writes, for --seconds; count "database is locked".

One temp DATA_DIR on the default SQLite settings (WAL, IMMEDIATE transactions, busy timeout 20 s):
  * populated first by our pipeline from the emulator (--conversations);
  * WRITER: a child process storing transcripts continuously through the product's store path
    (parse_transcript + write_utterances + write_findings + record_transcript_version in one
    transaction.atomic per transcript, as store_transcript does), plus running the relay every 20 stores;
  * WEB: gunicorn (repo gunicorn.conf.py) + wrk with 20 connections on search and review pages (each view
    also writes an AuditEvent);
  * SEARCHER: a child calling reviews.search.search() in a loop.
At the end: count "database is locked" / OperationalError in every log and every non-2xx from wrk.

    .venv/bin/python bench/sqlite_soak.py --seconds 30      # smoke
    .venv/bin/python bench/sqlite_soak.py --seconds 600     # the documented 10 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    BENCH,
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    PYTHON,
    ROOT,
    free_port,
    md_table,
    populate_from_emulator,
    section_text,
    wait_for_port,
    write_section,
)
from bench.dashboard_load import LUA, SEARCHES, login  # noqa: E402


def writer_child(seconds: float) -> None:
    import django

    django.setup()
    from django.db import OperationalError, transaction

    from bench._data import populate_conversations
    from genesys.emulator.data import generate_dataset
    from genesys.emulator.documents import iter_document
    from genesys.transcript import parse_transcript
    from reviews.compliance.outbox import record_transcript_version
    from reviews.compliance.relay import relay_due
    from reviews.pipeline.ingest import write_findings, write_utterances

    tmp = Path(tempfile.mkdtemp(prefix="tv-soak-docs-"))
    end = datetime(2026, 10, 1, tzinfo=UTC)
    ds = generate_dataset(seed=29, conversations=30, start=end - timedelta(days=1), end=end)
    docs = []
    for conv in ds.conversations:
        if conv.transcript is not None and conv.transcript.kind == "normal":
            path = tmp / f"{conv.conversation_id}.json"
            path.write_bytes(b"".join(iter_document(ds, conv)))
            docs.append(path)
    stored = utterances = errors = locked = relays = 0
    messages: dict[str, int] = {}
    batch = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pairs, _ = populate_conversations(20, seed=batch, prefix=f"soak{batch}")
            batch += 1
            for i, (_, transcript) in enumerate(pairs):
                with transaction.atomic():
                    doc = parse_transcript(docs[i % len(docs)])
                    written = write_utterances(transcript=transcript, document=doc)
                    write_findings(transcript=transcript, findings=written.report.findings)
                    transcript.utterance_count = written.utterances
                    transcript.save()
                    record_transcript_version(transcript)
                stored += 1
                utterances += written.utterances
                if time.monotonic() >= deadline:
                    break
            relay_due(limit=200)
            relays += 1
        except OperationalError as exc:
            errors += 1
            text = str(exc)
            locked += "locked" in text
            messages[text[:120]] = messages.get(text[:120], 0) + 1
    print(
        json.dumps(
            {
                "stored": stored,
                "utterances": utterances,
                "operational_errors": errors,
                "locked": locked,
                "relays": relays,
                "messages": messages,
            }
        )
    )


def searcher_child(seconds: float) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import OperationalError

    from reviews.search import search

    user = get_user_model().objects.get(username="bench-staff")
    n = errors = locked = 0
    worst = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        q = SEARCHES[n % len(SEARCHES)]
        t0 = time.perf_counter()
        try:
            search(user=user, query=q, limit=20)
        except OperationalError as exc:
            errors += 1
            locked += "locked" in str(exc)
        worst = max(worst, time.perf_counter() - t0)
        n += 1
    print(json.dumps({"searches": n, "operational_errors": errors, "locked": locked, "worst_s": worst}))


def main() -> None:
    parser = argparse.ArgumentParser(description="SQLite soak: search while writing")
    parser.add_argument("--seconds", type=float, default=30.0, help="soak duration (documented: 600)")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--writer-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--searcher-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer_child:
        writer_child(args.seconds)
        return
    if args.searcher_child:
        searcher_child(args.seconds)
        return

    from genesys.emulator import Emulator, generate_dataset

    end = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=24)
    ds = generate_dataset(seed=23, conversations=args.conversations, start=start, end=end)
    for c in ds.conversations:
        if c.transcript:
            c.transcript.ready_delay_s = 0.0
    emulator = Emulator(
        ds, client_id=EMULATOR_CLIENT_ID, client_secret=EMULATOR_CLIENT_SECRET, rate_limit_per_minute=6000
    )
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tv-bench-soak-") as tmp_s, emulator.serve(host="127.0.0.1", port=0) as url:
        tmp = Path(tmp_s)
        env = populate_from_emulator(tmp, url=url, start=start, end=end)
        info = subprocess.run(
            [PYTHON, str(BENCH / "dashboard_load.py"), "--populate-child"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if info.returncode != 0:
            raise RuntimeError(info.stderr[-3000:])
        conv_ids = json.loads(info.stdout.strip().splitlines()[-1])["conversations"]

        port = free_port()
        glog = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115
        gun = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "transcripts_site.wsgi", "--access-logfile", "/dev/null"],
            cwd=ROOT,
            env=env | {"GUNICORN_BIND": f"127.0.0.1:{port}"},
            stdout=glog,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(gun)
        try:
            wait_for_port(port, 60)
            base = f"http://127.0.0.1:{port}"
            cookie = login(base)
            paths = [f"/search/?q={quote(q)}" for q in SEARCHES] + [f"/conversations/{c}/" for c in conv_ids[:10]]
            (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
            (tmp / "load.lua").write_text(LUA)
            started = time.monotonic()
            writer = subprocess.Popen(
                [PYTHON, __file__, "--writer-child", "--seconds", str(args.seconds)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            searcher = subprocess.Popen(
                [PYTHON, __file__, "--searcher-child", "--seconds", str(args.seconds)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wrk = subprocess.run(
                [
                    shutil.which("wrk") or "wrk",
                    "-t",
                    "2",
                    "-c",
                    str(args.clients),
                    "-d",
                    f"{int(args.seconds)}s",
                    "--timeout",
                    "30s",
                    "-s",
                    str(tmp / "load.lua"),
                    base,
                ],
                env=os.environ | {"WRK_PATHS": str(tmp / "paths.txt"), "WRK_COOKIE": cookie},
                capture_output=True,
                text=True,
            )
            w_out, w_err = writer.communicate(timeout=args.seconds + 300)
            s_out, s_err = searcher.communicate(timeout=args.seconds + 300)
            elapsed = time.monotonic() - started
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=30)
            glog.close()
        glog_text = (tmp / "gunicorn.log").read_text(errors="replace")
    wres = json.loads(w_out.strip().splitlines()[-1]) if w_out.strip() else {"error": w_err[-500:]}
    sres = json.loads(s_out.strip().splitlines()[-1]) if s_out.strip() else {"error": s_err[-500:]}
    line = next((ln for ln in wrk.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    wj = json.loads(line[8:]) if line else {}
    web_locked = glog_text.count("database is locked")
    total_locked = (
        web_locked
        + wres.get("locked", 0)
        + sres.get("locked", 0)
        + w_err.count("database is locked")
        + s_err.count("database is locked")
    )
    web_errors = sum(wj.get(k, 0) for k in ("connect", "read", "write", "status", "timeout"))
    rows = [
        ("duration", f"{elapsed:.0f} s (requested {args.seconds:g} s)"),
        ("writer: transcripts / utterances stored", f"{wres.get('stored')} / {wres.get('utterances')}"),
        ("writer: OperationalError", wres.get("operational_errors")),
        (
            "searcher: search() calls / OperationalError / worst",
            f"{sres.get('searches')} / {sres.get('operational_errors')} / {sres.get('worst_s', 0):.2f} s",
        ),
        ("web (wrk): requests / errors (socket + HTTP ≥400)", f"{wj.get('requests')} / {web_errors}"),
        (
            "web (wrk): p50 / p95 / p99 ms",
            f"{wj.get('p50', 0) / 1000:.0f} / {wj.get('p95', 0) / 1000:.0f} / {wj.get('p99', 0) / 1000:.0f}",
        ),
        ('**"database is locked" (all processes and logs)**', total_locked),
    ]
    table = md_table(["check", "result"], rows)
    notes = [
        f"SQLite defaults from settings.py (WAL, transaction_mode IMMEDIATE, timeout 20 s); {args.clients} wrk connections; "
        "gunicorn from gunicorn.conf.py (3 workers × 4 threads).",
        f"Writer errors: {wres.get('messages') or 'none'}",
    ]
    body = section_text(f"SQLite soak ({args.seconds:g} s): searching while writing", table, notes)
    print(body)
    if not args.no_write:
        write_section("sqlite_soak", body, doc="reliability.md", title="Reliability evidence")


if __name__ == "__main__":
    main()
