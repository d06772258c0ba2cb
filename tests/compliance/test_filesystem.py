from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from reviews import blobs
from reviews.compliance import record_transcript_version, relay_due
from reviews.compliance.sinks import filesystem
from reviews.compliance.sinks.filesystem import GENESIS_SHA256, ArchivedFile, append_to_manifest
from reviews.compliance.verify import verify_archive
from reviews.encryption import generate_key_text, keyring
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
    document = folder / f"{stem}.transcript.json.tvb"
    with blobs.open_file(document) as archived:
        assert archived.read() == b'{"transcripts": []}'
    assert json.loads((folder / f"{stem}.json").read_bytes()) == message.payload
    (line,) = manifest_lines(root)
    entry = json.loads(line)
    assert entry["seq"] == 1
    assert entry["prevLineSha256"] == GENESIS_SHA256
    assert entry["key"] == transcript.version_key
    assert [f["path"] for f in entry["files"]] == [
        f"2025/06/15/{transcript.conversation.genesys_id}/{transcript.communication_id}/{stem}.json",
        f"2025/06/15/{transcript.conversation.genesys_id}/{transcript.communication_id}/{stem}.transcript.json.tvb",
    ]
    assert entry["files"][1] == {
        "path": entry["files"][1]["path"],
        "sha256": hashlib.sha256(document.read_bytes()).hexdigest(),  # of the bytes on disk
        "size": document.stat().st_size,
        "plaintextSha256": transcript.sha256,  # what Genesys served
        "encryption": "TVB1 (AES-256-GCM-HKDF-SHA256 STREAM)",
        "keyId": keyring().active.key_id,
    }


def test_it_never_holds_the_document_readable(make_transcript, clock, settings):
    transcript = make_transcript(document=b'{"text": "my card is 4111 1111 1111 1111"}')
    record_transcript_version(transcript, clock=clock)

    assert relay_due(clock=clock).delivered == 1

    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    for path in root.rglob("*"):
        if path.is_file():
            assert b"4111" not in path.read_bytes(), path
            assert oct(path.stat().st_mode & 0o777) in ("0o400", "0o600"), path
        else:
            assert oct(path.stat().st_mode & 0o777) == "0o700", path
    assert oct(root.stat().st_mode & 0o777) == "0o700"


def test_it_encrypts_a_blob_stored_before_encryption_when_archiving_it(make_transcript, clock, settings):
    content = b'{"text": "card 4111 1111 1111 1111"}'
    transcript = make_transcript(document=b"placeholder")
    legacy = blobs.relative_path("transcripts", hashlib.sha256(content).hexdigest())
    blobs.absolute_path(legacy).parent.mkdir(parents=True, exist_ok=True)
    blobs.absolute_path(legacy).write_bytes(content)  # plaintext, as stored before this version
    transcript.raw_path, transcript.sha256, transcript.size_bytes = legacy, hashlib.sha256(content).hexdigest(), 35
    transcript.save()
    record_transcript_version(transcript, clock=clock)

    assert relay_due(clock=clock).delivered == 1

    (archived,) = Path(settings.COMPLIANCE_ARCHIVE_DIR).rglob("*.tvb")
    assert b"4111" not in archived.read_bytes()
    with blobs.open_file(archived) as stream:
        assert stream.read() == content
    assert verify_archive(Path(settings.COMPLIANCE_ARCHIVE_DIR)).ok


def test_it_accepts_a_redelivery_after_the_blob_was_re_encrypted_under_a_new_key(make_transcript, clock, settings):
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    message = OutboxMessage.objects.select_related("transcript__conversation").get(pk=message.pk)
    assert filesystem.deliver(message, clock=clock).result == "delivered"
    settings.VAULT_ENCRYPTION_OLD_KEYS = [settings.VAULT_ENCRYPTION_KEY]
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()
    assert blobs.reseal(blobs.absolute_path(message.transcript.raw_path))  # other ciphertext, same document

    assert filesystem.deliver(message, clock=clock).result == "delivered"

    assert len(manifest_lines(Path(settings.COMPLIANCE_ARCHIVE_DIR))) == 1


def test_it_archives_a_blob_sealed_by_a_retired_key_under_the_active_one(make_transcript, clock, settings):
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    settings.VAULT_ENCRYPTION_OLD_KEYS = [settings.VAULT_ENCRYPTION_KEY]
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()  # rotated before the relay ran; rotate_key not run yet

    assert relay_due(clock=clock).delivered == 1

    (line,) = manifest_lines(Path(settings.COMPLIANCE_ARCHIVE_DIR))
    assert json.loads(line)["files"][1]["keyId"] == keyring().active.key_id  # the archive needs no retired key


def test_it_dead_letters_a_document_it_cannot_decrypt(make_transcript, clock, settings):
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()  # the sealing key is gone from the keyring

    outcome = filesystem.deliver(message, clock=clock)

    assert outcome.result == "permanent"
    assert "VAULT_ENCRYPTION_OLD_KEYS" in outcome.error


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
