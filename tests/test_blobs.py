from __future__ import annotations

import gc
import hashlib
import io
import os
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest
import requests

from genesys.clock import FakeClock
from genesys.download import stream_download
from reviews import blobs
from reviews.encryption import STREAM_HEADER_BYTES, DecryptionError, generate_key_text, keyring

DOCUMENT = b'{"transcripts": [{"phrases": [{"text": "card 4111 1111 1111 1111"}]}]}'


def store(content: bytes, kind: str = "transcripts") -> str:
    with blobs.staging_file(kind) as (stream, path):
        stream.write(content)
        stream.flush()
        return blobs.promote(path, kind=kind, sha256=hashlib.sha256(content).hexdigest())


def plant_legacy_blob(content: bytes, kind: str = "transcripts") -> str:
    """A blob as the vault stored it before encryption: the plaintext at its address."""
    raw_path = blobs.relative_path(kind, hashlib.sha256(content).hexdigest())
    path = blobs.absolute_path(raw_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return raw_path


def test_it_stores_content_encrypted_at_its_plaintext_sha256_address():
    digest = hashlib.sha256(DOCUMENT).hexdigest()

    raw_path = store(DOCUMENT)

    stored = blobs.absolute_path(raw_path)
    assert raw_path == f"transcripts/{digest[:2]}/{digest}"
    on_disk = stored.read_bytes()
    assert on_disk.startswith(b"TVB1" + keyring().active.key_id.encode())
    assert b"4111" not in on_disk and b"transcripts" not in on_disk
    assert blobs.sha256_of(stored) == digest
    with blobs.open_blob(raw_path) as blob:
        assert (blob.read(), blob.size, blob.key_id) == (DOCUMENT, len(DOCUMENT), keyring().active.key_id)


def test_it_makes_blobs_owner_read_only_in_owner_only_directories():
    raw_path = store(b"audio bytes", kind="audio")

    stored = blobs.absolute_path(raw_path)
    assert oct(stored.stat().st_mode & 0o777) == "0o400"
    for directory in (stored.parent, stored.parent.parent, blobs.blob_root(), blobs.blob_root() / "tmp"):
        assert oct(directory.stat().st_mode & 0o777) == "0o700", directory


def test_it_closes_directories_an_older_version_left_open():
    digest = hashlib.sha256(DOCUMENT).hexdigest()
    older = blobs.absolute_path(blobs.relative_path("transcripts", digest)).parent
    older.mkdir(parents=True)
    for directory in (older, older.parent, blobs.blob_root()):
        os.chmod(directory, 0o755)

    store(DOCUMENT)

    assert [oct(d.stat().st_mode & 0o777) for d in (older, older.parent, blobs.blob_root())] == ["0o700"] * 3


def test_it_never_writes_plaintext_to_the_staging_file():
    with blobs.staging_file("transcripts") as (stream, path):
        stream.write(DOCUMENT * 5000)  # several chunks: all but the last are sealed and written now

        staged = path.read_bytes()
        assert len(staged) > 64 * 1024
        assert b"4111" not in staged
        assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_it_restarts_with_a_fresh_header_after_truncate():
    # A download that starts over (the object changed) must not reuse the chunk key and nonces.
    with blobs.staging_file("transcripts") as (stream, path):
        stream.write(b"first version " * 10000)
        first_header = path.read_bytes()[:STREAM_HEADER_BYTES]
        stream.seek(0)
        stream.truncate(0)
        stream.write(DOCUMENT)
        raw_path = blobs.promote(path, kind="transcripts", sha256=hashlib.sha256(DOCUMENT).hexdigest())

    stored = blobs.absolute_path(raw_path).read_bytes()
    assert stored[:STREAM_HEADER_BYTES] != first_header
    with blobs.open_blob(raw_path) as blob:
        assert blob.read() == DOCUMENT


def test_it_resumes_by_seeking_to_the_end_and_refuses_to_overwrite():
    with blobs.staging_file("transcripts") as (stream, path):
        stream.write(DOCUMENT[:10])
        assert stream.seek(10) == 10  # genesys.download resumes at `received`
        stream.write(DOCUMENT[10:])
        with pytest.raises(io.UnsupportedOperation):
            stream.seek(3)
        raw_path = blobs.promote(path, kind="transcripts", sha256=hashlib.sha256(DOCUMENT).hexdigest())

    with blobs.open_blob(raw_path) as blob:
        assert blob.read() == DOCUMENT


def test_it_refuses_to_promote_content_that_does_not_match_its_address():
    with blobs.staging_file("transcripts") as (stream, path), pytest.raises(blobs.BlobIntegrityError):
        stream.write(DOCUMENT)
        blobs.promote(path, kind="transcripts", sha256="0" * 64)

    assert not (blobs.blob_root() / "transcripts").exists()
    assert list((blobs.blob_root() / "tmp").iterdir()) == []


def test_it_keeps_the_first_copy_when_the_same_content_arrives_twice():
    content = b"same bytes"
    paths = [store(content, kind="audio") for _ in range(2)]

    assert paths[0] == paths[1]
    assert list((blobs.blob_root() / "tmp").iterdir()) == []


def test_it_reads_any_range_of_a_multi_chunk_blob():
    content = os.urandom(3 * 64 * 1024 + 1234)
    raw_path = store(content, kind="audio")

    with blobs.open_blob(raw_path) as blob:
        assert blob.size == len(content)
        for first, length in ((0, 10), (65530, 20), (64 * 1024, 64 * 1024), (len(content) - 5, 100), (0, len(content))):
            blob.seek(first)
            assert blob.read(length) == content[first : first + length], (first, length)
        assert blob.seek(0, os.SEEK_END) == len(content)
        assert blob.read() == b""


def test_it_stores_an_empty_blob():
    raw_path = store(b"")

    with blobs.open_blob(raw_path) as blob:
        assert (blob.size, blob.read()) == (0, b"")


def test_it_still_reads_a_blob_stored_before_encryption():
    raw_path = plant_legacy_blob(DOCUMENT)

    with blobs.open_blob(raw_path) as blob:
        assert (blob.read(), blob.size, blob.key_id) == (DOCUMENT, len(DOCUMENT), None)


def test_it_never_passes_off_a_blob_with_a_damaged_header_as_plaintext():
    raw_path = store(DOCUMENT)
    path = blobs.absolute_path(raw_path)
    os.chmod(path, 0o600)
    path.write_bytes(b"XVB1" + path.read_bytes()[4:])

    with pytest.raises(blobs.BlobIntegrityError, match="neither encrypted nor the plaintext"):
        blobs.open_blob(raw_path)


def test_it_fails_loudly_on_a_flipped_byte():
    content = os.urandom(2 * 64 * 1024)
    path = blobs.absolute_path(store(content, kind="audio"))
    os.chmod(path, 0o600)
    tampered = bytearray(path.read_bytes())
    tampered[STREAM_HEADER_BYTES + 100] ^= 0x01  # inside the first chunk
    path.write_bytes(bytes(tampered))

    with blobs.open_file(path) as blob, pytest.raises(DecryptionError, match="chunk 0 failed authentication"):
        blob.read(10)


def test_it_reads_a_blob_sealed_by_a_retired_key(settings):
    raw_path = store(DOCUMENT)
    settings.VAULT_ENCRYPTION_OLD_KEYS = [settings.VAULT_ENCRYPTION_KEY]
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()

    with blobs.open_blob(raw_path) as blob:
        assert blob.read() == DOCUMENT
        assert blob.key_id != keyring().active.key_id


def test_it_reseals_a_blob_under_the_active_key_in_place():
    old_raw_path = store(DOCUMENT)
    path = blobs.absolute_path(old_raw_path)
    legacy = blobs.absolute_path(plant_legacy_blob(b"stored in clear"))

    assert blobs.reseal(legacy) is True
    assert blobs.reseal(path) is False  # already under the active key

    assert legacy.read_bytes().startswith(b"TVB1")
    assert oct(legacy.stat().st_mode & 0o777) == "0o400"
    with blobs.open_file(legacy) as blob:
        assert blob.read() == b"stored in clear"


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


# ------------------------------------------------------------------------------------------ with genesys.download
class DroppingS3:
    """Serves BODY; each request takes the next behaviour: drop the connection after N bytes, or ignore Range."""

    def __init__(self, body: bytes, plan: list[dict]) -> None:
        self.body, self.plan, self.ranges = body, plan, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                behaviour = server.plan.pop(0) if server.plan else {}
                asked = self.headers.get("Range")
                server.ranges.append(asked)
                first = int(asked.split("=")[1].rstrip("-")) if asked and not behaviour.get("ignore_range") else 0
                part = server.body[first:]
                self.send_response(206 if first else 200)
                self.send_header("ETag", '"v1"')
                self.send_header("Content-Length", str(len(part)))
                if first:
                    self.send_header("Content-Range", f"bytes {first}-{len(server.body) - 1}/{len(server.body)}")
                self.end_headers()
                self.wfile.write(part[: behaviour.get("drop_after", len(part))])
                self.close_connection = "drop_after" in behaviour

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/object"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.mark.parametrize(
    ("plan", "ranges"),
    [
        ([{"drop_after": 150_000}], [None, "bytes=150000-"]),  # resumed with Range: the writer continues at its end
        ([{"drop_after": 150_000}, {"ignore_range": True}], [None, "bytes=150000-"]),  # restarted: truncate(0)
    ],
    ids=["resume", "restart"],
)
def test_it_takes_a_resumed_or_restarted_download_without_plaintext_on_disk(plan, ranges):
    body = os.urandom(300_000)
    s3 = DroppingS3(body, plan)
    try:
        with blobs.staging_file("audio") as (stream, path):
            result = stream_download(
                session=requests.Session(), url=s3.url, dest=stream, clock=FakeClock(0), rng=random.Random(1)
            )
            raw_path = blobs.promote(path, kind="audio", sha256=result.sha256)
    finally:
        s3.close()

    assert s3.ranges == ranges
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    with blobs.open_blob(raw_path) as blob:
        assert blob.read() == body


def test_it_keeps_memory_flat_writing_and_reading_a_large_blob():
    piece = os.urandom(512 * 1024)  # genesys.download writes pieces of up to 512 KiB
    pieces = 64  # 32 MiB
    digest = hashlib.sha256()
    process = psutil.Process()
    gc.collect()
    baseline = peak = process.memory_info().rss
    with blobs.staging_file("audio") as (stream, path):
        for _ in range(pieces):
            stream.write(piece)
            digest.update(piece)
            peak = max(peak, process.memory_info().rss)
        raw_path = blobs.promote(path, kind="audio", sha256=digest.hexdigest())
    with blobs.open_blob(raw_path) as blob:
        for _ in range(pieces):
            assert blob.read(len(piece)) == piece
            peak = max(peak, process.memory_info().rss)
        assert blob.read() == b""

    assert (peak - baseline) < 16 * 1024 * 1024, f"grew {(peak - baseline) / 2**20:.1f} MiB for a 32 MiB blob"
