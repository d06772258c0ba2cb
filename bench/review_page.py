"""Conversation review page for a long call: everything at once (old behaviour) vs one window of turns.

A fresh migrated SQLite database (temporary DATA_DIR) gets one conversation with UTTERANCES turns (Zipf text from
bench/_data.py, per-word confidences as Genesys sends them, one leak finding per 1,000 turns). A logged-in staff
user then requests, through the Django test client (full middleware stack, no HTTP server):

1. the full page with REVIEW_PAGE_UTTERANCES set to at least UTTERANCES, i.e. every turn rendered (the old page);
2. the windowed page (REVIEW_PAGE_UTTERANCES as shipped), without ?t= and with ?t= in the middle of the call;
3. the htmx fragment for one chunk (HX-Request: true, ?chunk=N), what "Later turns" loads.

Each request is timed end to end (view, template, audit insert) REPEAT times after one warm-up.

    .venv/bin/python bench/review_page.py                  # 10,000 turns (< 1 min)
    .venv/bin/python bench/review_page.py --no-write       # print only, leave docs/benchmarks.md alone
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
    compliance_client,
    django_env,
    md_table,
    migrate,
    pct,
    run_measured,
    section_text,
    write_section,
)

TURN_MS = 1_080  # 10,000 turns ≈ a 3-hour call


def _populate(n: int, seed: int):
    import random

    from bench._data import TextGenerator, populate_conversations
    from reviews.models import RedactionFinding, Utterance

    pairs, _queues = populate_conversations(1, seed=seed, prefix="review")
    conversation, transcript = pairs[0]
    rng = random.Random(seed)
    texts = TextGenerator(seed=seed).texts(n)
    rows = []
    for i, text in enumerate(texts):
        start = i * TURN_MS
        words = [[w, round(rng.uniform(0.35, 1.0), 2), start + k * 250, 240] for k, w in enumerate(text.split())]
        rows.append(
            Utterance(
                transcript=transcript,
                conversation=conversation,
                index=i,
                phrase_index=i,
                speaker="external" if i % 2 else "internal",
                participant_purpose="customer" if i % 2 else "agent",
                start_ms=start,
                end_ms=start + TURN_MS - 80,
                text=text,
                confidence=0.85,
                words=words,
            )
        )
    Utterance.objects.bulk_create(rows, batch_size=1000)
    leaked = Utterance.objects.filter(conversation=conversation, index__in=range(500, n, 1000))
    RedactionFinding.objects.bulk_create(
        RedactionFinding(
            transcript=transcript,
            utterance=u,
            kind="card_number",
            rule="luhn-16",
            confidence=0.95,
            start_ms=u.start_ms,
            masked_excerpt="4111 **** **** 1111",
        )
        for u in leaked
    )
    return conversation


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviews.views import review

    t0 = time.perf_counter()
    conversation = _populate(args.utterances, args.seed)
    load_s = time.perf_counter() - t0
    _user, client = compliance_client("bench-staff", "x", HTTP_HOST="localhost")
    url = f"/conversations/{conversation.genesys_id}/"
    window = review.REVIEW_PAGE_UTTERANCES
    chunks = -(-args.utterances // window)
    middle_ms = (args.utterances // 2) * TURN_MS
    cases = [
        ("full page, every turn (old behaviour)", max(args.utterances, window), {}, {}),
        ("full page, window (chunk 0)", window, {}, {}),
        ("full page, window at ?t= mid-call", window, {"t": middle_ms}, {}),
        (f"htmx fragment ?chunk={chunks // 2}", window, {"chunk": chunks // 2}, {"HTTP_HX_REQUEST": "true"}),
    ]
    results = []
    for name, size, params, headers in cases:
        review.REVIEW_PAGE_UTTERANCES = size
        with CaptureQueriesContext(connection) as queries:  # warm-up, and the query count
            response = client.get(url, params, **headers)
        query_count = len(queries)  # read now: the next request's reset_queries() empties the log
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}")
        repeat = args.old_repeat if size > window else args.repeat
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url, params, **headers)
            times.append((time.perf_counter() - started) * 1000)
        body = response.content
        results.append(
            {
                "case": name,
                "turns": body.count(b'<li id="u-'),
                "bytes": len(body),
                "queries": query_count,
                "runs": repeat,
                "p50": pct(times, 0.5),
                "p95": pct(times, 0.95),
            }
        )
    review.REVIEW_PAGE_UTTERANCES = window
    print(json.dumps({"utterances": args.utterances, "window": window, "load_s": load_s, "results": results}))


def main() -> None:
    parser = argparse.ArgumentParser(description="review page benchmark: whole transcript vs windowed")
    parser.add_argument("--utterances", type=int, default=10_000, help="turns in the benchmark call")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per windowed case")
    parser.add_argument("--old-repeat", type=int, default=10, help="timed requests of the render-everything page")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    print(f"[review_page] loading a call with {args.utterances:,} turns ...", flush=True)
    child_args = [PYTHON, __file__, "--child"]
    child_args += ["--utterances", str(args.utterances), "--repeat", str(args.repeat)]
    child_args += ["--old-repeat", str(args.old_repeat), "--seed", str(args.seed)]
    with tempfile.TemporaryDirectory(prefix="tv-bench-review-") as tmp:
        env = django_env(Path(tmp), STATIC_MANIFEST="0")
        migrate(env)
        res = run_measured(child_args, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"child failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])

    old = out["results"][0]
    rows = [
        (
            r["case"],
            f"{r['turns']:,}",
            r["runs"],
            r["p50"],
            r["p95"],
            f"{r['bytes'] / 1024:,.0f} KiB",
            r["queries"],
            "–" if r is old else f"{old['p50'] / r['p50']:.0f}× faster, {old['bytes'] / r['bytes']:.0f}× smaller",
        )
        for r in out["results"]
    ]
    table = md_table(
        ["request", "turns in response", "runs", "p50 ms", "p95 ms", "response", "SQL queries", "vs old page"], rows
    )
    notes = [
        f"One call with {out['utterances']:,} turns ({out['utterances'] * TURN_MS / 3_600_000:.1f} h at "
        f"{TURN_MS} ms a turn, 4–24 words each with per-word confidences), SQLite, fresh migrated DATA_DIR.",
        f"Window: REVIEW_PAGE_UTTERANCES = {out['window']}; the old page is emulated by raising it to the call's length.",
        "Django test client as a logged-in staff user: full middleware, view, template and audit insert; no HTTP "
        "server, no gzip, no browser parse/layout time (which grows with the HTML too).",
        "Query counts come from the warm-up request; they do not depend on the call's length.",
    ]
    body = section_text(f"Review page for a long call ({out['utterances']:,} turns)", table, notes)
    print(body)
    if not args.no_write:
        write_section("review_page", body)


if __name__ == "__main__":
    main()
