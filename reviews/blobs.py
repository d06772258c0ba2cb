"""Immutable, content-addressed files under DATA_DIR (raw transcripts and audio).

A blob is written to a temporary file while its sha256 is computed, then renamed to
blobs/<kind>/<aa>/<sha256>. The same content always lands at the same path, so a
re-download is harmless and nothing already stored is ever rewritten.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from django.conf import settings


def blob_root() -> Path:
    return Path(settings.DATA_DIR) / "blobs"


def relative_path(kind: str, sha256: str) -> str:
    return f"{kind}/{sha256[:2]}/{sha256}"


def absolute_path(raw_path: str) -> Path:
    return blob_root() / raw_path


@contextmanager
def staging_file(kind: str) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file in the blob store's filesystem, removed unless promoted."""
    directory = blob_root() / "tmp"
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"{kind}-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(handle, "w+b") as stream:
            yield stream, path
    finally:
        if path.exists():
            path.unlink()


def promote(staged: Path, *, kind: str, sha256: str) -> str:
    """Move a fully written staging file to its content address; returns the relative path."""
    rel = relative_path(kind, sha256)
    target = absolute_path(rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        staged.unlink()
    else:
        os.chmod(staged, 0o444)
        os.replace(staged, target)
    return rel


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


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
