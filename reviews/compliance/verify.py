"""Check the filesystem archive: the manifest hash chain, every archived file, and the outbox.

A removed, reordered or edited manifest line breaks the chain at the line after it. Removing the
last lines leaves the chain intact, which is why delivered outbox rows are checked against the
manifest too: each delivered key must be listed.

An encrypted document is also decrypted and its plaintext hashed: that proves it still holds what Genesys
served AND that the keyring can still open it (a retired key dropped from VAULT_ENCRYPTION_OLD_KEYS while the
archive holds files it sealed is a problem here, long before anyone needs the document).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from reviews import blobs
from reviews.compliance.sinks.filesystem import GENESIS_SHA256, LOCK_NAME, MANIFEST_NAME, file_sha256
from reviews.encryption import DecryptionError


@dataclass
class VerifyReport:
    lines: int = 0
    files: int = 0
    delivered_keys: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_archive(root: Path, *, delivered_keys: Iterable[str] = ()) -> VerifyReport:
    report = VerifyReport()
    manifest = root / MANIFEST_NAME
    listed_keys: set[str] = set()
    listed_paths: set[str] = set()
    if manifest.exists():
        for entry in _chained_entries(manifest, report):
            listed_keys.add(entry.get("key", ""))
            for archived in entry.get("files", []):
                listed_paths.add(archived.get("path", ""))
                _check_file(root, archived, entry["_line"], report)
    for key in delivered_keys:
        report.delivered_keys += 1
        if key not in listed_keys:
            report.problems.append(
                f"outbox row {key} is marked delivered but missing from {MANIFEST_NAME} (lines removed from its end?)"
            )
    for path in _archived_paths(root):
        if path not in listed_paths:
            report.warnings.append(
                f"{path} is not listed in {MANIFEST_NAME} (a delivery in progress, or a removed line)"
            )
    return report


def _chained_entries(manifest: Path, report: VerifyReport):
    """Yield each parsed manifest line (with "_line"), recording chain breaks in the report."""
    previous_line, previous_seq = None, 0
    with open(manifest, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            report.lines += 1
            if not raw.endswith(b"\n"):
                report.problems.append(f"broken chain at line {number}: the line is incomplete (no newline)")
            line = raw.rstrip(b"\n")
            try:
                entry = json.loads(line)
            except ValueError:
                report.problems.append(f"broken chain at line {number}: not valid JSON")
                previous_line, previous_seq = line, previous_seq + 1
                continue
            expected_previous = (
                hashlib.sha256(previous_line).hexdigest() if previous_line is not None else GENESIS_SHA256
            )
            if entry.get("seq") != previous_seq + 1:
                report.problems.append(
                    f"broken chain at line {number}: seq is {entry.get('seq')}, expected {previous_seq + 1} "
                    "(a line was removed, inserted or reordered)"
                )
            elif entry.get("prevLineSha256") != expected_previous:
                report.problems.append(
                    f"broken chain at line {number}: prevLineSha256 does not match the sha256 of line {number - 1} "
                    "(a line was changed, removed or reordered)"
                )
            previous_line = line
            previous_seq = entry.get("seq") if isinstance(entry.get("seq"), int) else previous_seq + 1
            entry["_line"] = number
            yield entry


def _check_file(root: Path, archived: dict, line: int, report: VerifyReport) -> None:
    relative = archived.get("path", "")
    report.files += 1
    if PurePosixPath(relative).is_absolute() or ".." in PurePosixPath(relative).parts:
        report.problems.append(f"manifest line {line} names a path outside the archive: {relative!r}")
        return
    path = root / relative
    if not path.is_file():
        report.problems.append(f"file missing: {relative} (manifest line {line})")
        return
    found = file_sha256(path)
    if found != archived.get("sha256"):
        report.problems.append(
            f"file changed: {relative} (manifest line {line}): sha256 is {found}, the manifest says {archived.get('sha256')}"
        )
        return
    if "plaintextSha256" in archived:
        _check_plaintext(path, relative, archived, line, report)


def _check_plaintext(path: Path, relative: str, archived: dict, line: int, report: VerifyReport) -> None:
    try:
        plaintext = blobs.sha256_of(path)
    except DecryptionError as exc:
        report.problems.append(f"file cannot be decrypted: {relative} (manifest line {line}): {exc}")
        return
    if plaintext != archived["plaintextSha256"]:
        report.problems.append(
            f"file changed: {relative} (manifest line {line}): its plaintext sha256 is {plaintext}, "
            f"the manifest says {archived['plaintextSha256']}"
        )


def _archived_paths(root: Path) -> Iterable[str]:
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        if path.is_file() and path.name not in (MANIFEST_NAME, LOCK_NAME) and not path.name.startswith(".incoming-"):
            yield path.relative_to(root).as_posix()


def archive_key_ids(root: Path) -> Counter:
    """How many archived documents each vault key sealed, from the manifest: the retired keys the archive
    still needs (its files are write-once: rotate_key cannot re-encrypt them)."""
    counts: Counter = Counter()
    manifest = root / MANIFEST_NAME
    if not manifest.exists():
        return counts
    with open(manifest, "rb") as stream:
        for raw in stream:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # compliance_verify reports it
            counts.update(archived["keyId"] for archived in entry.get("files", []) if archived.get("keyId"))
    return counts
