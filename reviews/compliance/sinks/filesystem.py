"""Write-once filesystem archive with a hash-chained, append-only manifest.

Layout under COMPLIANCE_ARCHIVE_DIR (conversation start date, UTC):
    YYYY/MM/DD/<conversationId>/<communicationId>/<sha256[:16]>.json             metadata (the payload)
    YYYY/MM/DD/<conversationId>/<communicationId>/<sha256[:16]>.transcript.json  raw Genesys document
    manifest.jsonl   one line per delivered version; each line carries the sha256 of the line before it
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

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = "manifest.lock"
GENESIS_SHA256 = "0" * 64
CHUNK_SIZE = 1 << 20


class ArchiveConflict(Exception):
    """An archive file already exists with other content: never overwritten, needs a human."""


@dataclass(frozen=True)
class ArchivedFile:
    path: str  # relative to the archive root, "/"-separated
    sha256: str
    size: int
    already_there: bool

    def manifest_entry(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


def archive_root() -> Path:
    return Path(settings.COMPLIANCE_ARCHIVE_DIR)


def deliver(message, *, clock: Clock = SYSTEM_CLOCK) -> DeliveryOutcome:
    root = archive_root()
    plan = archive_plan(message)
    if isinstance(plan, DeliveryOutcome):
        return plan
    try:
        files = [
            write_once(root, f"{plan.stem}.json", [plan.metadata], expected_sha256=plan.metadata_sha256),
            write_once(
                root, f"{plan.stem}.transcript.json", _read_chunks(plan.document), expected_sha256=plan.document_sha256
            ),
        ]
        append_to_manifest(
            root,
            key=message.idempotency_key,
            files=files,
            at=iso_utc(clock_now(clock)),
            maybe_listed=any(f.already_there for f in files),
        )
    except ArchiveConflict as exc:
        return DeliveryOutcome.permanent(str(exc))
    except OSError as exc:
        return DeliveryOutcome.retry(f"archive write failed: {exc}")
    return DeliveryOutcome.delivered()


def write_once(root: Path, relative: str, chunks: Iterable[bytes], *, expected_sha256: str) -> ArchivedFile:
    """Create root/relative with exactly this content, or accept an identical file already there.

    The content goes to a temporary file first and is hard-linked into place: link() refuses to
    replace an existing name (like open(..., "xb")) and a crash never leaves a half-written file
    under the final name, which would later look like tampering.
    """
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return _existing(target, relative, expected_sha256)
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
        if digest.hexdigest() != expected_sha256:
            raise ArchiveConflict(
                f"source for {relative} has sha256 {digest.hexdigest()}, expected {expected_sha256}; not archived"
            )
        os.chmod(temporary, 0o444)
        try:
            os.link(temporary, target)
        except FileExistsError:  # another relay archived it a moment ago
            return _existing(target, relative, expected_sha256)
        _fsync_directory(target.parent)
    finally:
        os.unlink(temporary)
    return ArchivedFile(relative, expected_sha256, size, already_there=False)


def append_to_manifest(root: Path, *, key: str, files: list[ArchivedFile], at: str, maybe_listed: bool) -> None:
    """Append one chained line under an exclusive lock, unless this key is already listed.

    The key can only be listed already when its files were there before this delivery (a
    redelivery), so the full scan is paid only then.
    """
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(root / LOCK_NAME), open(root / MANIFEST_NAME, "a+b") as stream:
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
    found = blobs.sha256_of(target)
    if found != expected_sha256:
        raise ArchiveConflict(
            f"archive file {relative} already exists with different content "
            f"(sha256 {found}, expected {expected_sha256}); it is never overwritten"
        )
    return ArchivedFile(relative, found, target.stat().st_size, already_there=True)


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


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    # flock locks belong to the open file description, so this also serialises threads of one process.
    with open(path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
