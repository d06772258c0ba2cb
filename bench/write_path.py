"""Write path: utterances stored and indexed per second, SQLite vs PostgreSQL, in one run.

Two measurements per engine, each in a fresh migrated database (so FTS5 triggers / generated tsvector + GIN
are the product's):

1. product store path: emulator-generated Genesys transcript documents (genesys.emulator), each parsed with
   genesys.transcript.parse_transcript and written by reviews.pipeline.ingest.write_utterances +
   write_findings inside one transaction.atomic per transcript (what store_transcript does, minus the
   lease/outbox bookkeeping). Includes JSON streaming, redaction scanning, metrics, and indexing.
2. raw insert: Utterance.objects.bulk_create in batches of 500 (the product's UTTERANCE_BATCH), one
   transaction per 100-utterance transcript, indexing included.

    .venv/bin/python bench/write_path.py                                   # small (< 1 min)
    .venv/bin/python bench/write_path.py --transcripts 300 --raw-rows 200000  # documented full size
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    PYTHON,
    django_env,
    md_table,
    migrate,
    pg_available,
    pg_database,
    run_measured,
    section_text,
    write_section,
)


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from datetime import UTC, datetime, timedelta

    from django.db import connection, transaction

    from bench._data import TextGenerator, populate_conversations
    from genesys.emulator.data import generate_dataset
    from genesys.emulator.documents import iter_document
    from genesys.transcript import parse_transcript
    from reviews.models import Conversation, Transcript, Utterance
    from reviews.pipeline.ingest import write_findings, write_utterances

    tmp = Path(tempfile.mkdtemp(prefix="tv-write-"))
    end = datetime(2026, 11, 1, tzinfo=UTC)
    dataset = generate_dataset(seed=args.seed, conversations=args.transcripts, start=end - timedelta(days=1), end=end)
    docs = []
    for conv in dataset.conversations:
        tr = conv.transcript
        if tr is None or tr.kind != "normal":
            continue
        path = tmp / f"{conv.conversation_id}.json"
        with open(path, "wb") as fh:
            for piece in iter_document(dataset, conv):
                fh.write(piece)
        docs.append((conv, path))
    # rows the store path attaches to (created outside the timing)
    pairs, _ = populate_conversations(len(docs), seed=args.seed, prefix="wp")
    store_utts = 0
    store_bytes = 0
    t0 = time.perf_counter()
    for (_, path), (_, transcript) in zip(docs, pairs, strict=True):
        with transaction.atomic():
            document = parse_transcript(path)
            written = write_utterances(transcript=transcript, document=document)
            write_findings(transcript=transcript, findings=written.report.findings)
            for name, value in written.metrics.items():
                setattr(transcript, name, value)
            transcript.save()
        store_utts += written.utterances
        store_bytes += path.stat().st_size
    store_s = time.perf_counter() - t0

    # raw bulk_create
    raw_pairs, _ = populate_conversations(max(1, args.raw_rows // 100), seed=args.seed, prefix="raw")
    gen = TextGenerator(seed=args.seed)
    all_texts = [gen.texts(100) for _ in raw_pairs]
    raw_rows = 0
    t0 = time.perf_counter()
    for (conv, transcript), texts in zip(raw_pairs, all_texts, strict=True):
        objs = [
            Utterance(
                transcript=transcript,
                conversation=conv,
                index=i,
                phrase_index=i,
                speaker="internal" if i % 2 else "external",
                start_ms=i * 4000,
                end_ms=i * 4000 + 3500,
                text=text,
                confidence=0.9,
            )
            for i, text in enumerate(texts)
        ]
        with transaction.atomic():
            Utterance.objects.bulk_create(objs, batch_size=500)
        raw_rows += len(objs)
    raw_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "engine": connection.vendor,
                "store_transcripts": len(docs),
                "store_utterances": store_utts,
                "store_bytes": store_bytes,
                "store_s": store_s,
                "raw_rows": raw_rows,
                "raw_s": raw_s,
                "check_utterances": Utterance.objects.count(),
                "check_conversations": Conversation.objects.count(),
                "check_transcripts": Transcript.objects.count(),
            }
        )
    )


def run_engine(engine: str, args: argparse.Namespace) -> dict:
    cmd = [PYTHON, __file__, "--child", "--transcripts", str(args.transcripts), "--raw-rows", str(args.raw_rows)]
    cmd += ["--seed", str(args.seed)]
    with tempfile.TemporaryDirectory(prefix="tv-bench-write-") as tmp:
        if engine == "sqlite":
            env = django_env(Path(tmp))
            migrate(env)
            res = run_measured(cmd, env=env)
        else:
            with pg_database("tv_bench_write") as url:
                env = django_env(Path(tmp), database_url=url)
                migrate(env)
                res = run_measured(cmd, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{engine} child failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["peak_rss_mb"] = res.peak_rss_mb
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="write-path benchmark")
    parser.add_argument("--transcripts", type=int, default=40, help="emulator conversations to store (full: 300)")
    parser.add_argument(
        "--raw-rows", type=int, default=20_000, help="utterances for the bulk_create test (full: 200000)"
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    outs = []
    for engine in args.engines.split(","):
        if engine == "postgresql" and not pg_available():
            print("PostgreSQL not reachable; skipping")
            continue
        print(f"[write_path] {engine} ...", flush=True)
        outs.append(run_engine(engine, args))
    rows = []
    for o in outs:
        rows.append(
            (
                o["engine"],
                "product store path (parse + redaction + metrics + insert + index)",
                f"{o['store_transcripts']} docs / {o['store_utterances']:,} utt",
                o["store_s"],
                f"{o['store_utterances'] / o['store_s']:,.0f}",
                f"{o['store_transcripts'] / o['store_s']:,.1f}",
            )
        )
        rows.append(
            (
                o["engine"],
                "raw Utterance.bulk_create (batch 500, 1 txn / 100 rows) + index",
                f"{o['raw_rows']:,} utt",
                o["raw_s"],
                f"{o['raw_rows'] / o['raw_s']:,.0f}",
                "-",
            )
        )
    table = md_table(["engine", "path", "volume", "seconds", "utterances/s", "transcripts/s"], rows)
    notes = [
        "Documents are the emulator's normal transcripts (genesys.emulator.generate_dataset, seed "
        f"{args.seed}); malformed/empty/large kinds are skipped here.",
        "Indexing is synchronous in both engines: FTS5 external-content triggers (SQLite), stored generated "
        "tsvector + GIN with fastupdate defaults (PostgreSQL).",
    ]
    body = section_text("Write path (utterances stored and indexed per second)", table, notes)
    print(body)
    if not args.no_write:
        write_section("write_path", body)


if __name__ == "__main__":
    main()
