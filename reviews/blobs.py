"""Immutable, content-addressed files under DATA_DIR (raw transcripts and audio), encrypted at rest.

A blob is written through a BlobWriter into a staging file (blobs/tmp) while its sha256 is computed, then
renamed to blobs/<kind>/<aa>/<sha256>. The address is the sha256 of the PLAINTEXT (the bytes Genesys served),
so the same content always lands at the same path, a re-download is harmless and nothing already stored is
ever rewritten (except by `manage.py rotate_key`, which re-encrypts in place and keeps the address).

On disk a blob is the TVB1 stream of reviews/encryption.py: plaintext only ever exists in memory, one chunk
(64 KiB) at a time, never in a staging file. Blobs written before encryption (plaintext, no TVB1 magic) are
still read; `rotate_key` encrypts them. Files are 0400 (0600 while staged), directories 0700.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from reviews.encryption import (
    STREAM_HEADER_BYTES,
    TAG_BYTES,
    DecryptionError,
    StreamCipher,
    StreamHeader,
    is_stream,
    keyring,
    new_stream_header,
    parse_stream_header,
)

FILE_MODE = 0o400
DIRECTORY_MODE = 0o700
COPY_CHUNK_BYTES = 1 << 20
# The writer of each open staging file, so promote(path) can seal its last chunk: callers keep the
# (stream, path) shape of a plain temporary file.
_STAGED: dict[Path, BlobWriter] = {}


class BlobIntegrityError(DecryptionError):
    """A blob whose content does not hash to the address it is stored (or promoted) under."""


def blob_root() -> Path:
    return Path(settings.DATA_DIR) / "blobs"


def relative_path(kind: str, sha256: str) -> str:
    return f"{kind}/{sha256[:2]}/{sha256}"


def absolute_path(raw_path: str) -> Path:
    return blob_root() / raw_path


def private_directory(path: Path, *, root: Path | None = None) -> Path:
    """`path` and its missing parents created 0700 (mkdir -p would use the umask); `path`, and every directory
    from it up to `root`, made 0700 if an older version left them more open."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with suppress(FileExistsError):  # created concurrently
            directory.mkdir(mode=DIRECTORY_MODE)
    for directory in [path, *(path.parents if root is not None and root in path.parents else [])]:
        if directory.stat().st_mode & 0o777 != DIRECTORY_MODE:
            os.chmod(directory, DIRECTORY_MODE)
        if directory == root:
            break
    return path


# ------------------------------------------------------------------------------------------ writing
class BlobWriter:
    """An encrypting, append-only binary file for genesys.download's `dest`, which needs exactly:
    write() at the end, seek(0) + truncate(0) to restart from scratch, seek(<bytes written>) to resume,
    tell() and flush(). finish() seals the last chunk; promote() calls it.

    A restart writes a new header, so a chunk key and nonce are never used for two different plaintexts.
    """

    def __init__(self, raw: BinaryIO, *, durable: bool = True) -> None:
        self._raw = raw
        self._durable = durable  # fsync on finish (a file); False for an in-memory spool
        self._restart()

    def _restart(self) -> None:
        self._raw.seek(0)
        self._raw.truncate(0)
        header = new_stream_header()
        self._raw.write(header.raw)
        self._cipher = StreamCipher(header)
        self._chunk_size = header.chunk_size
        self._pending = bytearray()
        self._index = 0
        self._size = 0
        self._position = 0
        self._hasher = hashlib.sha256()
        self._finished = False

    @property
    def key_id(self) -> str:
        return self._cipher.header.key_id

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        if self._finished:
            raise ValueError("blob already finished")
        if self._position != self._size:
            raise io.UnsupportedOperation("an encrypted blob is append-only: truncate(0) to start over")
        self._pending += data
        self._size += len(data)
        self._position = self._size
        self._hasher.update(data)
        # Keep the last (possibly partial) chunk back: only finish() knows which chunk is the last one.
        start = 0
        while len(self._pending) - start > self._chunk_size:
            self._seal(bytes(self._pending[start : start + self._chunk_size]), last=False)
            start += self._chunk_size
        del self._pending[:start]
        return len(data)

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        self._raw.write(self._cipher.seal(self._index, plaintext, last=last))
        self._index += 1

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET or offset not in (0, self._size):
            raise io.UnsupportedOperation("an encrypted blob can only seek to its start (to restart) or its end")
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def truncate(self, size: int | None = None) -> int:
        size = self._position if size is None else size
        if size == self._size:
            return size
        if size != 0:
            raise io.UnsupportedOperation("an encrypted blob can only be truncated to 0 (start over)")
        self._restart()
        return 0

    def flush(self) -> None:
        self._raw.flush()

    def finish(self) -> tuple[int, str]:
        """Seal the last chunk and sync the file; returns (plaintext size, plaintext sha256)."""
        if not self._finished:
            self._seal(bytes(self._pending), last=True)
            self._pending.clear()
            self._raw.flush()
            if self._durable:
                os.fsync(self._raw.fileno())
            self._finished = True
        return self._size, self._hasher.hexdigest()


@contextmanager
def staging_file(kind: str) -> Iterator[tuple[BlobWriter, Path]]:
    """An encrypting writer on a new file in blobs/tmp (0600), removed unless promoted."""
    directory = private_directory(blob_root() / "tmp", root=blob_root())
    handle, name = tempfile.mkstemp(prefix=f"{kind}-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(handle, "w+b") as stream:
            writer = BlobWriter(stream)
            _STAGED[path] = writer
            yield writer, path
    finally:
        _STAGED.pop(path, None)
        if path.exists():
            path.unlink()


def promote(staged: Path, *, kind: str, sha256: str) -> str:
    """Seal a fully written staging file and move it to its content address; returns the relative path.

    BlobIntegrityError when what was written does not hash to `sha256`: an address is never wrong.
    """
    writer = _STAGED.get(staged)
    if writer is None:
        raise ValueError(f"{staged} is not an open staging file (use blobs.staging_file)")
    _, written_sha256 = writer.finish()
    if written_sha256 != sha256:
        raise BlobIntegrityError(f"staged {kind} blob hashes to {written_sha256}, not {sha256}; not stored")
    rel = relative_path(kind, sha256)
    target = absolute_path(rel)
    private_directory(target.parent, root=blob_root())
    if target.exists():
        staged.unlink()
    else:
        os.chmod(staged, FILE_MODE)
        os.replace(staged, target)
    return rel


def remove_abandoned_staging(*, older_than_seconds: float, now: float) -> int:
    """Delete staging files a killed worker left behind; returns how many were removed.

    No task runs longer than the django-q2 timeout, so a staging file older than that belongs
    to a process that is gone (its download restarts from scratch when the row is re-claimed).
    """
    directory = blob_root() / "tmp"
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.iterdir():
        try:
            if now - path.stat().st_mtime > older_than_seconds:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # finished and promoted meanwhile
            continue
    return removed


# ------------------------------------------------------------------------------------------ reading
class BlobReader(io.RawIOBase):
    """The plaintext of a TVB1 file: readable, seekable, `.size` plaintext bytes.

    Each chunk is authenticated before any of its bytes is returned (DecryptionError otherwise); the last
    chunk is checked on open, so `.size` is proven and a stream cut at a chunk boundary fails at once.
    """

    def __init__(self, raw: BinaryIO, header: StreamHeader, *, name: str) -> None:
        super().__init__()
        self._raw = raw
        self._fd = raw.fileno()
        self._cipher = StreamCipher(header)
        self._chunk_size = header.chunk_size
        self.key_id = header.key_id
        self.name = name
        segment = self._chunk_size + TAG_BYTES
        self._file_size = os.fstat(self._fd).st_size
        body = self._file_size - STREAM_HEADER_BYTES
        self._count = max(1, -(-body // segment))
        if body - (self._count - 1) * segment < TAG_BYTES:
            raise DecryptionError(f"encrypted blob {name} is truncated")
        self.size = body - self._count * TAG_BYTES
        self.header = header
        self._position = 0
        self._cached: tuple[int, bytes] | None = None
        self._chunk(self._count - 1)

    def _open_chunk(self, index: int) -> tuple[bytes, bytes]:
        segment = self._chunk_size + TAG_BYTES
        offset = STREAM_HEADER_BYTES + index * segment
        ciphertext = os.pread(self._fd, min(segment, self._file_size - offset), offset)
        return ciphertext, self._cipher.open(index, ciphertext, last=index == self._count - 1)

    def _chunk(self, index: int) -> bytes:
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._open_chunk(index)[1])
        return self._cached[1]

    def segments(self) -> Iterator[tuple[bytes, bytes]]:
        """The file as it is stored, header first, as (stored bytes, plaintext) pairs, each chunk authenticated.
        Read through this open file, so a blob re-encrypted meanwhile (rotate_key renames) cannot mix in."""
        yield self.header.raw, b""
        for index in range(self._count):
            yield self._open_chunk(index)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self.size:
            index, offset = divmod(self._position, self._chunk_size)
            piece = self._chunk(index)[offset : offset + len(view) - filled]
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
            self._position += len(piece)
        return filled

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class LegacyBlob(io.BufferedReader):
    """A blob stored before encryption (plaintext): read as is until `rotate_key` encrypts it."""

    key_id = None

    @property
    def size(self) -> int:
        return os.fstat(self.fileno()).st_size


def open_file(path: Path, *, plaintext_sha256: str | None = None) -> BlobReader | LegacyBlob:
    """The plaintext view of a file in the TVB1 format (a blob, an archived document).

    A file without the TVB1 magic is a blob stored before encryption only if `plaintext_sha256` is given and
    the file hashes to it (checked here, one pass): otherwise a ciphertext whose magic was damaged could pass
    for plaintext. DecryptionError (BlobIntegrityError) when it does not.
    """
    raw = io.FileIO(path, "rb")
    try:
        prefix = os.pread(raw.fileno(), STREAM_HEADER_BYTES, 0)
        if is_stream(prefix):
            return BlobReader(raw, parse_stream_header(prefix), name=str(path))
        if plaintext_sha256 is None:
            raise DecryptionError(f"{path} is not an encrypted file (no TVB1 header)")
        legacy = LegacyBlob(raw)
        if hashlib.file_digest(legacy, "sha256").hexdigest() != plaintext_sha256:
            raise BlobIntegrityError(f"{path} is neither encrypted nor the plaintext its address names")
        legacy.seek(0)
        return legacy
    except BaseException:
        raw.close()
        raise


def open_stored(path: Path) -> BlobReader | LegacyBlob:
    """A content-addressed blob file: its name is the sha256 of its plaintext."""
    return open_file(path, plaintext_sha256=path.name)


def open_blob(raw_path: str) -> BlobReader | LegacyBlob:
    """The plaintext of a stored blob (Transcript.raw_path, AudioRecording.raw_path), as a binary file.

    Readable and seekable, `.size` plaintext bytes, a context manager; DecryptionError if it was tampered with.
    """
    return open_stored(absolute_path(raw_path))


def sha256_of(path: Path) -> str:
    """The sha256 of an encrypted file's plaintext (what a blob's address and Transcript.sha256 refer to)."""
    with open_file(path) as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def key_id_of(path: Path) -> str | None:
    """The id of the key a file names in its header, None for plaintext (reads the header only: unauthenticated)."""
    with open(path, "rb") as stream:
        prefix = stream.read(STREAM_HEADER_BYTES)
    return parse_stream_header(prefix).key_id if is_stream(prefix) else None


def copy_into(source: BinaryIO, writer: BlobWriter) -> None:
    while chunk := source.read(COPY_CHUNK_BYTES):
        writer.write(chunk)


# ------------------------------------------------------------------------------------------ rotation
def reseal(path: Path) -> bool:
    """Re-encrypt one content-addressed blob under the active key, in place (atomic rename).

    False when it already is; BlobIntegrityError when its content does not hash to its name (an encrypted
    one is re-encrypted first, the check is only after decrypting); UnknownKeyError when its key is unknown.
    """
    with open_stored(path) as source:
        if source.key_id == keyring().active.key_id:
            return False
        with staging_file("reseal") as (writer, staged):
            copy_into(source, writer)
            _, plaintext_sha256 = writer.finish()
            os.chmod(staged, FILE_MODE)
            os.replace(staged, path)
    if plaintext_sha256 != path.name:
        raise BlobIntegrityError(f"{path} holds content with sha256 {plaintext_sha256}, not its name")
    return True


def stored_blobs() -> Iterator[Path]:
    """Every blob file (all kinds; not the staging area), its directories made 0700 on the way."""
    root = blob_root()
    if not root.is_dir():
        return
    for kind in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "tmp"):
        for directory in [kind, *sorted(p for p in kind.rglob("*") if p.is_dir())]:
            private_directory(directory, root=root)
        yield from sorted(p for p in kind.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ archive copies
class SealedCopy:
    """The TVB1 bytes of a blob for an archive, in pieces: a blob under the active key is copied as it is (each
    chunk authenticated on the way); one under a retired key, or stored in clear, is encrypted under the active
    key, so the write-once archive depends on as few keys as possible. After iterating, `plaintext_sha256` says
    what the copy holds and `key_id` which key sealed it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.key_id: str | None = None
        self.plaintext_sha256: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        with open_stored(self.path) as source:
            if source.key_id == keyring().active.key_id:
                for ciphertext, plaintext in source.segments():
                    digest.update(plaintext)
                    yield ciphertext
                self.key_id = source.key_id
            else:
                yield from self._encrypt(source, digest)
        self.plaintext_sha256 = digest.hexdigest()

    def _encrypt(self, source: BinaryIO, digest) -> Iterator[bytes]:
        spool = io.BytesIO()
        writer = BlobWriter(spool, durable=False)
        self.key_id = writer.key_id
        while chunk := source.read(COPY_CHUNK_BYTES):
            writer.write(chunk)
            digest.update(chunk)
            yield _drain(spool)
        writer.finish()
        yield _drain(spool)


def _drain(spool: io.BytesIO) -> bytes:
    content = spool.getvalue()
    spool.seek(0)
    spool.truncate(0)
    return content
