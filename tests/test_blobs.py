from __future__ import annotations

import hashlib
import os

from reviews import blobs


def test_it_stores_content_at_its_sha256_address_read_only():
    content = b'{"transcripts": []}'
    digest = hashlib.sha256(content).hexdigest()
    with blobs.staging_file("transcripts") as (stream, path):
        stream.write(content)
        stream.flush()
        raw_path = blobs.promote(path, kind="transcripts", sha256=digest)

    stored = blobs.absolute_path(raw_path)
    assert raw_path == f"transcripts/{digest[:2]}/{digest}"
    assert stored.read_bytes() == content
    assert blobs.sha256_of(stored) == digest
    assert oct(stored.stat().st_mode & 0o777) == "0o444"


def test_it_keeps_the_first_copy_when_the_same_content_arrives_twice():
    content = b"same bytes"
    digest = hashlib.sha256(content).hexdigest()
    paths = []
    for _ in range(2):
        with blobs.staging_file("audio") as (stream, path):
            stream.write(content)
            stream.flush()
            paths.append(blobs.promote(path, kind="audio", sha256=digest))

    assert paths[0] == paths[1]
    assert list((blobs.blob_root() / "tmp").iterdir()) == []


def test_it_removes_only_abandoned_staging_files():
    staging = blobs.blob_root() / "tmp"
    staging.mkdir(parents=True)
    old, fresh = staging / "transcripts-old", staging / "transcripts-fresh"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"in flight")
    now = fresh.stat().st_mtime
    os.utime(old, (now - 7200, now - 7200))

    removed = blobs.remove_abandoned_staging(older_than_seconds=3600, now=now)

    assert removed == 1
    assert not old.exists() and fresh.exists()
