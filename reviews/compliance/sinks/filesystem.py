"""Write-once filesystem archive with a hash-chained, append-only manifest.

Layout under COMPLIANCE_ARCHIVE_DIR (conversation start date, UTC):
    YYYY/MM/DD/<conversationId>/<communicationId>/<sha256[:16]>.json                 metadata (the payload)
    YYYY/MM/DD/<conversationId>/<communicationId>/<sha256[:16]>.transcript.json.tvb  raw Genesys document, encrypted
    YYYY/MM/DD/<conversationId>/recordings/<sha256[:16]>.json and .audio.tvb         audio-only call (encrypted)
    YYYY/MM/DD/<conversationId>/versions/v<NNNN>-<sha256[:16]>.json                  a version of the call's facts
    manifest.jsonl   one line per delivered version; each line carries the sha256 of the line before it

The document can hold PII Genesys failed to mask, so it is archived in the vault's TVB1 format (the blob's
own bytes when it is encrypted already): the archive never holds it readable. The manifest lists the sha256
of each file's bytes (checkable without a key) and, for the document, the sha256 of its plaintext (what
Genesys served) and the id of the key that sealed it. Files are 0400, directories 0700.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from genesys.clock import SYSTEM_CLOCK, Clock
from reviews import blobs
from reviews.compliance.outbox import clock_now
from reviews.compliance.payload import iso_utc
from reviews.compliance.sinks import DeliveryOutcome, archive_plan
from reviews.encryption import STREAM_FORMAT, DecryptionError

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = "manifest.lock"
GENESIS_SHA256 = "0" * 64
FILE_MODE = 0o400
MANIFEST_MODE = 0o600


class ArchiveConflict(Exception):
    """An archive file already exists with other content: never overwritten, needs a human."""


@dataclass(frozen=True)
class ArchivedFile:
    path: str  # relative to the archive root, "/"-separated
    sha256: str  # of the file's bytes
    size: int
    already_there: bool
    plaintext_sha256: str | None = None  # an encrypted file: what it holds, and which key sealed it
    key_id: str | None = None

    def manifest_entry(self) -> dict:
        entry = {"path": self.path, "sha256": self.sha256, "size": self.size}
        if self.plaintext_sha256 is not None:
            entry.update(plaintextSha256=self.plaintext_sha256, encryption=STREAM_FORMAT, keyId=self.key_id)
        return entry


def archive_root() -> Path:
    return Path(settings.COMPLIANCE_ARCHIVE_DIR)


def deliver(message, *, clock: Clock = SYSTEM_CLOCK) -> DeliveryOutcome:
    root = archive_root()
    plan = archive_plan(message)
    if isinstance(plan, DeliveryOutcome):
        return plan
    try:
        files = [write_once(root, f"{plan.stem}.json", [plan.metadata], expected_sha256=plan.metadata_sha256)]
        if plan.document is not None:  # a facts version is metadata only
            files.append(
                write_sealed_once(
                    root, f"{plan.stem}{plan.document_suffix}", plan.document, plaintext_sha256=plan.document_sha256
                )
            )
        append_to_manifest(
            root,
            key=message.idempotency_key,
            files=files,
            at=iso_utc(clock_now(clock)),
            maybe_listed=any(f.already_there for f in files),
        )
    except (ArchiveConflict, DecryptionError) as exc:
        return DeliveryOutcome.permanent(str(exc))
    except OSError as exc:
        return DeliveryOutcome.retry(f"archive write failed: {exc}")
    return DeliveryOutcome.delivered()


def write_once(root: Path, relative: str, chunks: Iterable[bytes], *, expected_sha256: str) -> ArchivedFile:
    """Create root/relative with exactly this content, or accept an identical file already there."""
    target = root / relative
    blobs.private_directory(target.parent, root=root)
    if target.exists():
        return _existing(target, relative, expected_sha256)

    def check(sha256: str) -> None:
        if sha256 != expected_sha256:
            raise ArchiveConflict(
                f"source for {relative} has sha256 {sha256}, expected {expected_sha256}; not archived"
            )

    created = _create(target, chunks, check=check)
    if created is None:  # another relay archived it a moment ago
        return _existing(target, relative, expected_sha256)
    return ArchivedFile(relative, *created, already_there=False)


def write_sealed_once(root: Path, relative: str, document: Path, *, plaintext_sha256: str) -> ArchivedFile:
    """Create root/relative with the TVB1 bytes of the blob `document`, which must hold `plaintext_sha256`, or
    accept an encrypted file already there that holds it (sealed by whichever key: redelivery after rotate_key)."""
    target = root / relative
    blobs.private_directory(target.parent, root=root)
    if target.exists():
        return _existing_sealed(target, relative, plaintext_sha256)
    copy = blobs.SealedCopy(document)

    def check(_: str) -> None:
        if copy.plaintext_sha256 != plaintext_sha256:
            raise ArchiveConflict(
                f"source for {relative} has sha256 {copy.plaintext_sha256}, expected {plaintext_sha256}; not archived"
            )

    created = _create(target, copy, check=check)
    if created is None:
        return _existing_sealed(target, relative, plaintext_sha256)
    return ArchivedFile(relative, *created, already_there=False, plaintext_sha256=plaintext_sha256, key_id=copy.key_id)


def _create(target: Path, chunks: Iterable[bytes], *, check) -> tuple[str, int] | None:
    """Write `chunks` to a temporary file beside `target`, `check(sha256)` it, and hard-link it into place;
    (sha256, size) of what was written, or None when the name appeared meanwhile.

    link() refuses to replace an existing name (like open(..., "xb")) and a crash never leaves a half-written
    file under the final name, which would later look like tampering.
    """
    handle, temporary = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(handle, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            stream.flush()
            os.fsync(stream.fileno())
        check(digest.hexdigest())
        os.chmod(temporary, FILE_MODE)
        try:
            os.link(temporary, target)
        except FileExistsError:
            return None
        _fsync_directory(target.parent)
    finally:
        os.unlink(temporary)
    return digest.hexdigest(), size


def append_to_manifest(root: Path, *, key: str, files: list[ArchivedFile], at: str, maybe_listed: bool) -> None:
    """Append one chained line under an exclusive lock, unless this key is already listed.

    The key can only be listed already when its files were there before this delivery (a
    redelivery), so the full scan is paid only then.
    """
    blobs.private_directory(root)
    with _exclusive_lock(root / LOCK_NAME), _private_open(root / MANIFEST_NAME) as stream:
        if maybe_listed and _manifest_lists(stream, key):
            return
        previous = _last_line(stream)
        line = manifest_line(
            seq=json.loads(previous)["seq"] + 1 if previous else 1,
            previous_line=previous,
            key=key,
            files=[f.manifest_entry() for f in files],
            at=at,
        )
        stream.write(line + b"\n")
        stream.flush()
        os.fsync(stream.fileno())


def manifest_line(*, seq: int, previous_line: bytes | None, key: str, files: list[dict], at: str) -> bytes:
    previous_sha256 = hashlib.sha256(previous_line).hexdigest() if previous_line else GENESIS_SHA256
    line = {"seq": seq, "prevLineSha256": previous_sha256, "key": key, "files": files, "at": at}
    return json.dumps(line, sort_keys=True, separators=(",", ":")).encode()


def _existing(target: Path, relative: str, expected_sha256: str) -> ArchivedFile:
    found = file_sha256(target)
    if found != expected_sha256:
        raise ArchiveConflict(
            f"archive file {relative} already exists with different content "
            f"(sha256 {found}, expected {expected_sha256}); it is never overwritten"
        )
    return ArchivedFile(relative, found, target.stat().st_size, already_there=True)


def _existing_sealed(target: Path, relative: str, plaintext_sha256: str) -> ArchivedFile:
    try:
        with blobs.open_file(target) as stream:
            key_id = stream.key_id
            found = hashlib.file_digest(stream, "sha256").hexdigest()
    except DecryptionError as exc:
        raise ArchiveConflict(f"archive file {relative} already exists and cannot be decrypted ({exc})") from None
    if key_id is None or found != plaintext_sha256:
        what = "is not encrypted" if key_id is None else f"holds other content (sha256 {found})"
        raise ArchiveConflict(
            f"archive file {relative} already exists and {what}, expected sha256 {plaintext_sha256}; "
            "it is never overwritten"
        )
    return ArchivedFile(
        relative,
        file_sha256(target),
        target.stat().st_size,
        already_there=True,
        plaintext_sha256=found,
        key_id=key_id,
    )


def file_sha256(path: Path) -> str:
    """The sha256 of the file's bytes as stored (ciphertext for an encrypted document)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _manifest_lists(stream, key: str) -> bool:
    stream.seek(0)
    needle = key.encode()
    return any(needle in line and json.loads(line).get("key") == key for line in stream)


def _last_line(stream) -> bytes | None:
    """The last complete line, read backwards from the end so a long manifest costs nothing."""
    end = stream.seek(0, os.SEEK_END)
    if end == 0:
        return None
    stream.seek(end - 1)
    if stream.read(1) != b"\n":
        raise ArchiveConflict(f"{MANIFEST_NAME} ends with an incomplete line; run compliance_verify")
    position, tail = end, b""
    while position > 0 and tail.count(b"\n") < 2:
        step = min(64 * 1024, position)
        position -= step
        stream.seek(position)
        tail = stream.read(step) + tail
    return tail[:-1].rsplit(b"\n", 1)[-1]


def _private_open(path: Path):
    """`path` opened for appending and reading, created 0600 (and made 0600 if it is older than that rule)."""
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, MANIFEST_MODE)
    if os.fstat(descriptor).st_mode & 0o777 != MANIFEST_MODE:
        os.fchmod(descriptor, MANIFEST_MODE)
    return os.fdopen(descriptor, "a+b")


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    # flock locks belong to the open file description, so this also serialises threads of one process.
    with _private_open(path) as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
