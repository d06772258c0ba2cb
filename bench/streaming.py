"""Streaming download + parse of a large transcript: RSS growth and throughput vs curl.

The emulator (genesys.emulator, in this process) serves a dataset with one LARGE transcript (--mb, default
50 MB). A child process (so its memory is its own) builds a GenesysClient, asks transcripturl for the
pre-signed URL, downloads it with client.download() into a temp file and walks every phrase with
genesys.transcript.parse_transcript(). A sampling thread records RSS every 5 ms; growth = peak - RSS just
before the download.

Throughput is timed in separate runs without the sampling thread (it would compete for the GIL): a child
downloads a fresh pre-signed URL with client.download() into a file (streamed, sha256-hashed, length and
ETag validated, as the product does), then curl fetches a fresh URL for the same document from the same
emulator twice: into a file in the same directory (`-o FILE`, the same destination as ours) and into
`/dev/null` (no write at all). Each is run --repeat times, interleaved; medians are reported.

    .venv/bin/python bench/streaming.py --mb 5            # quick
    .venv/bin/python bench/streaming.py --mb 50           # documented full size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    PYTHON,
    child_pythonpath,
    md_table,
    run_measured,
    section_text,
    write_section,
)

GOAL_RSS_MB = 5.0
GOAL_CURL_RATIO = 0.8


def child(args: argparse.Namespace) -> None:
    import os

    import psutil

    from genesys.client import GenesysClient
    from genesys.transcript import parse_transcript

    proc = psutil.Process(os.getpid())
    client = GenesysClient(
        api_url=args.api_url, login_url=args.api_url, client_id=args.client_id, client_secret=args.client_secret
    )
    # warm-up: token, connection pool, module imports on the parse path
    url = client.get_transcript_url(args.cid, args.comm)
    tmpdir = Path(tempfile.mkdtemp(prefix="tv-stream-"))
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = proc.memory_info().rss
            if rss > peak[0]:
                peak[0] = rss
            time.sleep(0.005)

    import gc

    gc.collect()
    baseline = proc.memory_info().rss
    peak[0] = baseline
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    url = client.get_transcript_url(args.cid, args.comm)
    t0 = time.perf_counter()
    dest_path = tmpdir / "doc.json"
    with open(dest_path, "wb") as dest:
        result = client.download(url, dest)
    t_dl = time.perf_counter() - t0
    t1 = time.perf_counter()
    doc = parse_transcript(dest_path)
    phrases = 0
    words = 0
    for phrase in doc.phrases():
        phrases += 1
        words += len(phrase.words)
    t_parse = time.perf_counter() - t1
    stop.set()
    sampler.join()
    print(
        json.dumps(
            {
                "bytes": result.size,
                "download_s": t_dl,
                "client_download_s": result.seconds,
                "parse_s": t_parse,
                "phrases": phrases,
                "words": words,
                "rss_baseline_mb": baseline / 2**20,
                "rss_growth_mb": (peak[0] - baseline) / 2**20,
            }
        )
    )
    shutil.rmtree(tmpdir, ignore_errors=True)


def throughput_child(args: argparse.Namespace) -> None:
    """One timed client.download() into a file, after an untimed warm-up (token, pool, imports)."""
    from genesys.client import GenesysClient

    client = GenesysClient(
        api_url=args.api_url, login_url=args.api_url, client_id=args.client_id, client_secret=args.client_secret
    )
    dest_path = Path(args.dest)
    with open(dest_path, "wb") as dest:
        client.download(client.get_transcript_url(args.cid, args.comm), dest)
    url = client.get_transcript_url(args.cid, args.comm)
    with open(dest_path, "wb") as dest:
        t0 = time.perf_counter()
        result = client.download(url, dest)
        seconds = time.perf_counter() - t0
    print(json.dumps({"bytes": result.size, "seconds": seconds}))


def curl_speed(curl: str, url: str, out: str) -> float:
    """curl's own speed_download (bytes/s) for one fetch of `url` into `out`."""
    fields = subprocess.run(
        [curl, "-s", "-o", out, "-w", "%{speed_download} %{size_download}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(fields[0])


def main() -> None:
    parser = argparse.ArgumentParser(description="streaming download/parse benchmark")
    parser.add_argument("--mb", type=float, default=5.0, help="size of the large transcript (full: 50)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api-url")
    parser.add_argument("--client-id", default=EMULATOR_CLIENT_ID)
    parser.add_argument("--client-secret", default=EMULATOR_CLIENT_SECRET)
    parser.add_argument("--cid")
    parser.add_argument("--comm")
    parser.add_argument("--throughput-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.throughput_child:
        throughput_child(args)
        return

    from genesys.client import GenesysClient
    from genesys.emulator import Emulator, generate_dataset

    curl = shutil.which("curl")
    # a 50 MB call lasts ~18 h (3 s per filler phrase), so it must start well over a day ago to have ended
    end = datetime.now(UTC) - timedelta(hours=30)
    dataset = generate_dataset(
        seed=5, conversations=12, start=end - timedelta(hours=6), end=end, large=1, large_mb=args.mb
    )
    large = next(c for c in dataset.conversations if c.transcript and c.transcript.kind == "large")
    large.transcript.ready_delay_s = 0.0
    emulator = Emulator(dataset, client_id=args.client_id, client_secret=args.client_secret, rate_limit_per_minute=6000)
    ours, speeds = [], {"ours": [], "curl_file": [], "curl_null": []}
    workdir = Path(tempfile.mkdtemp(prefix="tv-stream-bench-"))
    with emulator.serve(host="127.0.0.1", port=0) as base_url:
        client = GenesysClient(
            api_url=base_url, login_url=base_url, client_id=args.client_id, client_secret=args.client_secret
        )
        comm = large.transcript.communication_id
        # warm the emulator's blob cache (it renders the large document once) outside the timings
        with tempfile.TemporaryFile() as fh:
            client.download(client.get_transcript_url(large.conversation_id, comm), fh)
        common = ["--api-url", base_url, "--cid", large.conversation_id, "--comm", comm]
        common += ["--client-id", args.client_id, "--client-secret", args.client_secret]
        child_env = os.environ.copy() | {"PYTHONPATH": child_pythonpath()}
        for i in range(args.repeat):
            res = run_measured([PYTHON, __file__, "--child", *common], env=child_env)
            if res.returncode != 0:
                raise RuntimeError(res.stderr[-3000:])
            out = json.loads(res.stdout.strip().splitlines()[-1])
            out["peak_rss_mb"] = res.peak_rss_mb
            ours.append(out)
            print(f"[streaming] memory run {i + 1}: {out}", flush=True)
        for i in range(args.repeat):
            dest = workdir / "ours.json"
            res = run_measured([PYTHON, __file__, "--throughput-child", "--dest", str(dest), *common], env=child_env)
            if res.returncode != 0:
                raise RuntimeError(res.stderr[-3000:])
            timed = json.loads(res.stdout.strip().splitlines()[-1])
            speeds["ours"].append(timed["bytes"] / timed["seconds"])
            dest.unlink(missing_ok=True)
            if curl:
                url = client.get_transcript_url(large.conversation_id, comm)
                speeds["curl_file"].append(curl_speed(curl, url, str(workdir / "curl.json")))
                (workdir / "curl.json").unlink(missing_ok=True)
                url = client.get_transcript_url(large.conversation_id, comm)
                speeds["curl_null"].append(curl_speed(curl, url, "/dev/null"))
            print(
                f"[streaming] throughput run {i + 1}: "
                + ", ".join(f"{k} {v[-1] / 1e6:.0f} MB/s" for k, v in speeds.items() if v),
                flush=True,
            )
    shutil.rmtree(workdir, ignore_errors=True)

    size = ours[0]["bytes"]
    median = {k: statistics.median(v) if v else float("nan") for k, v in speeds.items()}
    to_file = median["ours"] / median["curl_file"]
    to_null = median["ours"] / median["curl_null"]
    growth = max(o["rss_growth_mb"] for o in ours)
    rows = [
        ("document size", "-", f"{size / 1e6:.1f} MB ({ours[0]['phrases']:,} phrases, {ours[0]['words']:,} words)", ""),
        (
            "RSS growth, download + full parse (max of runs)",
            "≤ 5 MB",
            f"{growth:.1f} MB",
            "yes" if growth <= GOAL_RSS_MB else "**no**",
        ),
        ("child peak RSS (ru_maxrss)", "-", f"{max(o['peak_rss_mb'] for o in ours):.0f} MB", ""),
        (
            "download throughput, ours into a file, sha256 + validation (median)",
            "-",
            f"{median['ours'] / 1e6:.1f} MB/s",
            "",
        ),
        ("download throughput, curl -o FILE (median)", "-", f"{median['curl_file'] / 1e6:.1f} MB/s", ""),
        ("download throughput, curl -o /dev/null (median)", "-", f"{median['curl_null'] / 1e6:.1f} MB/s", ""),
        (
            "ours / curl, both writing the file",
            "≥ 0.8",
            f"{to_file:.2f}",
            "yes" if to_file >= GOAL_CURL_RATIO else "**no**",
        ),
        (
            "ours / curl discarding the bytes",
            "(≥ 0.8)",
            f"{to_null:.2f}",
            "yes" if to_null >= GOAL_CURL_RATIO else "**no**",
        ),
        ("parse time (median)", "-", f"{statistics.median(o['parse_s'] for o in ours):.2f} s", ""),
    ]
    table = md_table(["metric", "goal", "measured", "met"], rows)
    notes = [
        f"{args.repeat} interleaved runs each. Ours: client.download() of a fresh pre-signed URL into a file "
        "(streamed, sha256-hashed, length and ETag checked), timed in a child without the RSS sampler after a warm-up "
        "download. curl: its own speed_download for a fresh pre-signed URL into a file in the same directory, and "
        "into /dev/null. One emulator serves all (Python http server in the bench driver process, loopback).",
        "RSS sampled every 5 ms by a thread in the child process; the baseline is taken after a warm-up call.",
    ]
    body = section_text(f"Streaming a {args.mb:g} MB transcript", table, notes)
    print(body)
    if not args.no_write:
        write_section("streaming", body)


if __name__ == "__main__":
    main()
