"""Child process: dump the archive's state as JSON (per conversation: state, errors, transcripts, outbox).

Used by chaos.py and crash_restart.py to compare a run with the emulator's ground truth or with a clean run.
Configuration from the environment (DATA_DIR / DATABASE_URL), like run_pipeline.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count

    from reviews.models import AudioRecording, Conversation, OutboxMessage, Transcript

    convs = {}
    for c in Conversation.objects.all().values(
        "id", "genesys_id", "state", "last_error", "manual_review_reason", "needs_manual_review", "attempts"
    ):
        convs[c["id"]] = {**c, "transcripts": [], "recordings": 0}
    utt_counts = dict(Transcript.objects.annotate(n=Count("utterances")).values_list("id", "n"))
    for t in Transcript.objects.select_related("conversation"):
        convs[t.conversation_id]["transcripts"].append(
            {
                "communication_id": t.communication_id,
                "sha256": t.sha256,
                "size": t.size_bytes,
                "utterances": utt_counts.get(t.id, 0),
                "utterance_count_field": t.utterance_count,
                "version_key": t.version_key,
                "redaction_status": t.redaction_status,
                "outbox": sorted(
                    [m.sink, m.idempotency_key, m.state, m.attempts] for m in OutboxMessage.objects.filter(transcript=t)
                ),
            }
        )
    for row in AudioRecording.objects.values("conversation_id").annotate(n=Count("id")):
        convs[row["conversation_id"]]["recordings"] = row["n"]
    outbox = list(OutboxMessage.objects.values("sink", "idempotency_key", "state", "attempts", "last_error"))
    archive = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    archive_files = (
        sorted(str(p.relative_to(archive)) for p in archive.rglob("*") if p.is_file()) if archive.exists() else []
    )
    manifest_keys: dict[str, int] = {}
    manifest = archive / "manifest.jsonl"
    if manifest.exists():
        for line in manifest.read_text().splitlines():
            try:
                key = json.loads(line).get("key")
            except ValueError:
                key = "<unparseable line>"
            manifest_keys[key] = manifest_keys.get(key, 0) + 1
    print(
        json.dumps(
            {
                "conversations": {c["genesys_id"]: c for c in convs.values()},
                "outbox": outbox,
                "archive_files": archive_files,
                "manifest_keys": manifest_keys,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
