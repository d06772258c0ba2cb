"""bench/sdk_baseline.py: the official-SDK baseline archives exactly what Genesys serves (a 5-call smoke run)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bench._common import Receiver
from bench.sdk_baseline import main
from genesys.emulator import FAULT_PROFILES, Emulator, generate_dataset

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"
END = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
START = END - timedelta(hours=6)
# No faults, and a recording transcodes in milliseconds instead of 3-8 s, so the fallback test stays fast.
QUICK_TRANSCODE = replace(FAULT_PROFILES["none"], transcode_seconds=(0.01, 0.02))


def ready_dataset(*, never_ready: int = 0):
    """Five calls whose transcripts are all ready now; the first `never_ready` ones never get one."""
    ds = generate_dataset(seed=5, conversations=5, start=START, end=END)
    for conv in ds.conversations:
        conv.transcript.ready_delay_s, conv.transcript.delayed = 0.0, False
    for conv in ds.conversations[:never_ready]:
        conv.transcript = None
    ds.__post_init__()
    return ds


def run_flow(ds, capsys) -> tuple[dict, list[dict], Emulator]:
    emulator = Emulator(
        ds, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, seed=5, rate_limit_per_minute=6000, faults=QUICK_TRANSCODE
    )
    receiver = Receiver().start()
    try:
        with emulator.serve() as url:
            argv = ["--api-url", url, "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
            argv += ["--since", START.isoformat(), "--until", END.isoformat(), "--compliance-url", receiver.url]
            assert main([*argv, "--workers", "4", "--scale", "0.001"]) == 0
    finally:
        receiver.stop()
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1]), receiver.posts, emulator


def served_sha256(emulator: Emulator, conv) -> str:
    return hashlib.sha256(emulator.document_bytes(conv, conv.parts[0])).hexdigest()


def test_it_archives_every_ready_transcript_byte_exact_with_one_token(capsys):
    ds = ready_dataset()
    summary, posts, emulator = run_flow(ds, capsys)

    assert summary["outcomes"] == {"transcript": 5}
    for conv in ds.conversations:
        assert summary["results"][conv.conversation_id]["sha256"] == served_sha256(emulator, conv)
    posted = {json.loads(post["body"])["conversationId"] for post in posts}
    assert posted == {conv.conversation_id for conv in ds.conversations}
    assert emulator.stats.token_requests == 1  # the SDK's login, shared by every worker


def test_it_falls_back_to_the_recording_when_no_transcript_arrives(capsys):
    ds = ready_dataset(never_ready=1)
    summary, posts, _ = run_flow(ds, capsys)

    missing = ds.conversations[0].conversation_id
    assert summary["results"][missing]["outcome"] == "fallback"
    assert summary["results"][missing]["audio_bytes"] > 0
    assert summary["outcomes"] == {"transcript": 4, "fallback": 1}
    assert missing not in {json.loads(post["body"])["conversationId"] for post in posts}
