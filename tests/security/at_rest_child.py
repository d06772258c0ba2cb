"""The vault in its own process for tests/security/test_at_rest.py: `python -m tests.security.at_rest_child`.

It runs on the real settings (DATA_DIR from the environment: SQLite in WAL mode, blobs, the filesystem compliance
archive), migrates, then ingests the leaky emulator conversations through the whole pipeline: discovery, download
into an encrypted blob, parse, mask, store, audio fallback, and the compliance relay. Then it keeps its database
connection open, so the -wal and -shm files are still on disk, prints one JSON line and waits until its stdin is
closed: the test reads every file under DATA_DIR meanwhile.
"""

from __future__ import annotations

import json
import sys

import django

MAX_WAIT = 6 * 3600.0  # fake-clock seconds, as in tests/pipeline


def main() -> None:
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from reviews.compliance import relay_due
    from reviews.models import AudioRecording, OutboxMessage, Transcript, Utterance
    from reviews.pipeline import run_backfill
    from tests.fixtures.leaky_transcripts import CONVERSATIONS, SEED
    from tests.pipeline.support import WINDOW_END, WINDOW_START, running_world

    call_command("migrate", "--noinput", verbosity=0)
    with running_world(conversations=CONVERSATIONS, seed=SEED, large=0, malformed=0) as world:
        summary = run_backfill(
            client=world.client, since=WINDOW_START, until=WINDOW_END, clock=world.clock, max_wait=MAX_WAIT
        )
        while relay_due(clock=world.clock).delivered:
            pass
    with connection.cursor() as cursor:  # the connection stays open: SQLite keeps its -wal and -shm files
        cursor.execute("select count(*) from reviews_utterance")
    report = {
        "finished": summary.finished,
        "leaks_found": summary.leaks_found,
        "transcripts": Transcript.objects.count(),
        "masked_utterances": Utterance.objects.exclude(sealed_original="").count(),
        "recordings": AudioRecording.objects.count(),
        "delivered": OutboxMessage.objects.filter(state=OutboxMessage.State.DELIVERED, kind="transcript").count(),
        "audio_delivered": OutboxMessage.objects.filter(state=OutboxMessage.State.DELIVERED, kind="audio").count(),
    }
    print(json.dumps(report), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
