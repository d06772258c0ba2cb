from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from reviews.compliance import record_transcript_version, relay_due
from reviews.compliance.sinks import filesystem
from reviews.compliance.sinks.filesystem import GENESIS_SHA256, ArchivedFile, append_to_manifest
from reviews.compliance.verify import verify_archive
from reviews.models import OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _filesystem_only(settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]


def manifest_lines(root: Path) -> list[bytes]:
    return (root / "manifest.jsonl").read_bytes().splitlines()


def test_it_archives_the_document_and_metadata_by_utc_date(make_transcript, clock, settings):
    transcript = make_transcript(document=b'{"transcripts": []}')
    (message,) = record_transcript_version(transcript, clock=clock)

    assert relay_due(clock=clock).delivered == 1

    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    folder = root / "2025/06/15" / transcript.conversation.genesys_id / transcript.communication_id
    stem = transcript.sha256[:16]
    assert (folder / f"{stem}.transcript.json").read_bytes() == b'{"transcripts": []}'
    assert json.loads((folder / f"{stem}.json").read_bytes()) == message.payload
    (line,) = manifest_lines(root)
    entry = json.loads(line)
    assert entry["seq"] == 1
    assert entry["prevLineSha256"] == GENESIS_SHA256
    assert entry["key"] == transcript.version_key
    assert [f["path"] for f in entry["files"]] == [
        f"2025/06/15/{transcript.conversation.genesys_id}/{transcript.communication_id}/{stem}.json",
        f"2025/06/15/{transcript.conversation.genesys_id}/{transcript.communication_id}/{stem}.transcript.json",
    ]
    assert entry["files"][1]["sha256"] == transcript.sha256


def test_it_chains_each_manifest_line_to_the_previous_one(make_transcript, clock, settings):
    for _ in range(3):
        record_transcript_version(make_transcript(), clock=clock)

    relay_due(clock=clock)

    lines = manifest_lines(Path(settings.COMPLIANCE_ARCHIVE_DIR))
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[1]["prevLineSha256"] == hashlib.sha256(lines[0]).hexdigest()
    assert entries[2]["prevLineSha256"] == hashlib.sha256(lines[1]).hexdigest()


def test_it_redelivers_idempotently_without_a_second_manifest_line(make_transcript, clock, settings):
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    message = OutboxMessage.objects.select_related("transcript__conversation").get(pk=message.pk)

    first = filesystem.deliver(message, clock=clock)
    second = filesystem.deliver(message, clock=clock)  # the relay crashed before marking it delivered

    assert (first.result, second.result) == ("delivered", "delivered")
    assert len(manifest_lines(Path(settings.COMPLIANCE_ARCHIVE_DIR))) == 1


def test_it_lists_files_a_crashed_delivery_left_unlisted(make_transcript, clock, settings):
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    filesystem.deliver(message, clock=clock)
    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    (root / "manifest.jsonl").unlink()  # files written, manifest append never happened

    assert filesystem.deliver(message, clock=clock).result == "delivered"

    assert [json.loads(line)["key"] for line in manifest_lines(root)] == [message.idempotency_key]


def test_it_never_overwrites_a_file_with_other_content(make_transcript, clock, settings):
    transcript = make_transcript()
    (message,) = record_transcript_version(transcript, clock=clock)
    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    folder = root / "2025/06/15" / transcript.conversation.genesys_id / transcript.communication_id
    folder.mkdir(parents=True)
    squatter = folder / f"{transcript.sha256[:16]}.json"
    squatter.write_bytes(b"something else")

    outcome = filesystem.deliver(message, clock=clock)

    assert outcome.result == "permanent"
    assert f"{transcript.sha256[:16]}.json already exists with different content" in outcome.error
    assert squatter.read_bytes() == b"something else"


def test_it_refuses_a_blob_whose_content_does_not_match_its_hash(make_transcript, clock):
    transcript = make_transcript(sha256="f" * 64)
    (message,) = record_transcript_version(transcript, clock=clock)

    outcome = filesystem.deliver(message, clock=clock)

    assert outcome.result == "permanent"
    assert "expected " + "f" * 64 in outcome.error


def test_it_keeps_the_chain_valid_under_concurrent_appends(settings):
    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    start = threading.Barrier(8)

    def append(worker: int) -> None:
        start.wait()
        for n in range(25):
            entry = ArchivedFile(f"w{worker}/{n}", "0" * 64, 1, already_there=False)
            append_to_manifest(root, key=f"key-{worker}-{n}", files=[entry], at="now", maybe_listed=False)

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    report = verify_archive(root)
    assert report.lines == 200
    assert not [p for p in report.problems if "broken chain" in p]


def test_it_refuses_identifiers_that_would_leave_the_archive(make_transcript, clock):
    transcript = make_transcript(communication_id="../../etc")
    (message,) = record_transcript_version(transcript, clock=clock)

    outcome = filesystem.deliver(message, clock=clock)

    assert outcome.result == "permanent"
    assert "unsafe identifier" in outcome.error
