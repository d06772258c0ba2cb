from __future__ import annotations

import json
import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reviews.compliance import record_transcript_version, relay_due
from reviews.encryption import generate_key_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive(make_transcript, clock, settings) -> Path:
    """A clean archive of three delivered transcript versions."""
    settings.COMPLIANCE_SINKS = ["filesystem"]
    for _ in range(3):
        record_transcript_version(make_transcript(), clock=clock)
    assert relay_due(clock=clock).delivered == 3
    return Path(settings.COMPLIANCE_ARCHIVE_DIR)


def verify() -> str:
    out = StringIO()
    call_command("compliance_verify", stdout=out)
    return out.getvalue()


def manifest_entries(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_bytes().splitlines()]


def test_it_passes_on_a_clean_archive_and_says_what_it_checked(archive):
    output = verify()

    assert "manifest lines checked: 3" in output
    assert "archived files checked: 6" in output
    assert "delivered outbox rows checked: 3" in output
    assert "compliance archive OK" in output


def test_it_names_a_file_with_one_changed_byte(archive):
    changed = manifest_entries(archive)[1]["files"][1]["path"]
    path = archive / changed
    os.chmod(path, 0o644)
    content = bytearray(path.read_bytes())
    content[0] ^= 0x01
    path.write_bytes(bytes(content))

    with pytest.raises(CommandError) as failure:
        verify()

    assert f"file changed: {changed} (manifest line 2)" in str(failure.value)
    assert "1 problems" in str(failure.value)


def test_it_names_a_missing_file(archive):
    missing = manifest_entries(archive)[0]["files"][0]["path"]
    (archive / missing).unlink()

    with pytest.raises(CommandError, match=f"file missing: {missing} \\(manifest line 1\\)"):
        verify()


def test_it_reports_a_removed_manifest_line_as_a_broken_chain(archive):
    manifest = archive / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    manifest.write_bytes(lines[0] + lines[2])

    with pytest.raises(CommandError, match="broken chain at line 2: seq is 3, expected 2") as failure:
        verify()

    assert "file missing" not in str(failure.value)


def test_it_reports_reordered_lines(archive):
    manifest = archive / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    manifest.write_bytes(lines[0] + lines[2] + lines[1])

    with pytest.raises(CommandError, match="broken chain at line 2"):
        verify()


def test_it_reports_an_edited_line_at_the_next_line(archive):
    manifest = archive / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"at":"', b'"at":"1')
    manifest.write_bytes(b"".join(lines))

    with pytest.raises(CommandError, match="broken chain at line 2: prevLineSha256 does not match"):
        verify()


def test_it_catches_a_truncated_manifest_through_the_outbox(archive):
    manifest = archive / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    dropped_key = json.loads(lines[2])["key"]
    manifest.write_bytes(b"".join(lines[:2]))

    with pytest.raises(CommandError, match=f"outbox row {dropped_key} is marked delivered but missing"):
        verify()


def test_it_passes_on_an_empty_archive(settings):
    assert "compliance archive OK" in verify()


def test_it_fails_when_a_key_that_sealed_archived_documents_is_dropped(archive, settings):
    settings.VAULT_ENCRYPTION_OLD_KEYS = [settings.VAULT_ENCRYPTION_KEY]
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()
    assert "compliance archive OK" in verify()  # rotated, the retired key kept: every document still opens

    settings.VAULT_ENCRYPTION_OLD_KEYS = []  # retired too early: the WORM archive still holds what it sealed

    with pytest.raises(CommandError) as failure:
        verify()

    document = manifest_entries(archive)[0]["files"][1]["path"]
    assert f"file cannot be decrypted: {document} (manifest line 1)" in str(failure.value)
    assert "VAULT_ENCRYPTION_OLD_KEYS" in str(failure.value)
    assert "3 problems" in str(failure.value)
