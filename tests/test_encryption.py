from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from reviews import blobs
from reviews.encryption import (
    STREAM_HEADER_BYTES,
    TAG_BYTES,
    DecryptionError,
    StreamCipher,
    UnknownKeyError,
    generate_key_text,
    keyring,
    keyring_from,
    new_stream_header,
    parse_key,
    seal,
    sealed_key_id,
    unseal,
)

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1024  # the smallest chunk the format allows: multi-chunk streams stay tiny


def sealed_stream(plaintext: bytes, *, chunk_size: int = CHUNK) -> bytes:
    """A TVB1 stream under the active key, built from the primitives (what BlobWriter writes)."""
    header = new_stream_header(chunk_size=chunk_size)
    cipher = StreamCipher(header)
    # A plaintext of whole chunks ends with a full last chunk; only the empty plaintext has an empty one.
    pieces = [plaintext[i : i + chunk_size] for i in range(0, len(plaintext), chunk_size)] or [b""]
    body = b"".join(cipher.seal(i, piece, last=i == len(pieces) - 1) for i, piece in enumerate(pieces))
    return header.raw + body


def read_stream(path: Path) -> bytes:
    with blobs.open_file(path) as stream:
        return stream.read()


def segments(stream: bytes) -> tuple[bytes, list[bytes]]:
    size = CHUNK + TAG_BYTES
    body = stream[STREAM_HEADER_BYTES:]
    return stream[:STREAM_HEADER_BYTES], [body[i : i + size] for i in range(0, len(body), size)]


@pytest.fixture
def write(tmp_path):
    def write(content: bytes) -> Path:
        path = tmp_path / "stream.tvb"
        path.write_bytes(content)
        return path

    return write


PLAINTEXT = bytes(range(256)) * 12  # 3072 bytes: three full chunks of 1024


# ------------------------------------------------------------------------------------------ small values
def test_it_seals_and_unseals_a_value_naming_its_key():
    sealed = seal(b"4111 1111 1111 1111", associated_data=b"utterance:7")

    assert sealed.startswith(f"tv1:{keyring().active.key_id}:")
    assert "4111" not in sealed
    assert sealed_key_id(sealed) == keyring().active.key_id
    assert unseal(sealed, associated_data=b"utterance:7") == b"4111 1111 1111 1111"
    assert seal(b"same") != seal(b"same")  # a fresh nonce every time


def test_it_refuses_a_value_sealed_for_other_data_or_tampered():
    sealed = seal(b"secret", associated_data=b"utterance:7")
    prefix, key_id, body = sealed.split(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 0x01
    flipped = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(DecryptionError, match="failed authentication"):
        unseal(sealed, associated_data=b"utterance:8")  # moved to another row
    with pytest.raises(DecryptionError):
        unseal(f"{prefix}:{key_id}:{flipped}", associated_data=b"utterance:7")
    with pytest.raises(DecryptionError, match="not a sealed value"):
        unseal("secret")


def test_it_opens_a_value_sealed_by_a_retired_key_and_names_an_unknown_one(settings):
    sealed = seal(b"secret")
    retired = settings.VAULT_ENCRYPTION_KEY
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()
    settings.VAULT_ENCRYPTION_OLD_KEYS = [retired]

    assert unseal(sealed) == b"secret"

    settings.VAULT_ENCRYPTION_OLD_KEYS = []
    with pytest.raises(UnknownKeyError, match="VAULT_ENCRYPTION_OLD_KEYS") as failure:
        unseal(sealed)
    assert failure.value.key_id == parse_key(retired, name="x").key_id


def test_it_refuses_keys_that_are_not_32_bytes():
    with pytest.raises(ImproperlyConfigured, match="VAULT_ENCRYPTION_KEY must be 32 bytes .*got 16 bytes"):
        keyring_from("A" * 22, [])
    with pytest.raises(ImproperlyConfigured, match="VAULT_ENCRYPTION_OLD_KEYS entry 1"):
        keyring_from(generate_key_text(), ["not base64!"])
    with pytest.raises(ImproperlyConfigured, match="is not set"):
        keyring_from("", [])


# ------------------------------------------------------------------------------------------ streams
def test_it_round_trips_a_stream_with_the_key_id_in_its_header(write):
    stream = sealed_stream(PLAINTEXT + b"tail")

    assert stream[:4] == b"TVB1"
    assert stream[4:12] == keyring().active.key_id.encode()
    assert read_stream(write(stream)) == PLAINTEXT + b"tail"


@pytest.mark.parametrize("plaintext", [b"", b"x", PLAINTEXT], ids=["empty", "one byte", "exact chunks"])
def test_it_round_trips_edge_sizes(write, plaintext):
    with blobs.open_file(write(sealed_stream(plaintext))) as stream:
        assert (stream.size, stream.read()) == (len(plaintext), plaintext)


def test_it_detects_a_flip_of_any_single_byte(write):
    stream = sealed_stream(PLAINTEXT[:2500])
    undetected = []
    for position in range(len(stream)):
        tampered = bytearray(stream)
        tampered[position] ^= 0x80
        try:
            read_stream(write(bytes(tampered)))
        except DecryptionError:
            continue
        undetected.append(position)

    assert undetected == []


def test_it_detects_truncation_at_and_between_chunk_boundaries(write):
    stream = sealed_stream(PLAINTEXT)
    header, chunks = segments(stream)

    for cut in (header + chunks[0] + chunks[1], header + chunks[0], stream[:-1], stream[:-TAG_BYTES], header):
        with pytest.raises(DecryptionError):
            read_stream(write(cut))


def test_it_detects_reordered_duplicated_and_appended_chunks(write):
    header, chunks = segments(sealed_stream(PLAINTEXT))

    for body in (
        [chunks[1], chunks[0], chunks[2]],
        [chunks[0], chunks[0], chunks[2]],
        [chunks[0], chunks[1], chunks[2], chunks[2]],
    ):
        with pytest.raises(DecryptionError):
            read_stream(write(header + b"".join(body)))


def test_it_detects_a_chunk_spliced_in_from_another_stream_under_the_same_key(write):
    header, chunks = segments(sealed_stream(PLAINTEXT))
    _, other = segments(sealed_stream(PLAINTEXT))

    with pytest.raises(DecryptionError):
        read_stream(write(header + chunks[0] + other[1] + chunks[2]))


def test_it_names_the_missing_key_of_a_stream_and_reads_one_from_a_retired_key(write, settings):
    path = write(sealed_stream(PLAINTEXT))
    retired = settings.VAULT_ENCRYPTION_KEY
    settings.VAULT_ENCRYPTION_KEY = generate_key_text()

    with pytest.raises(UnknownKeyError, match=parse_key(retired, name="x").key_id):
        read_stream(path)

    settings.VAULT_ENCRYPTION_OLD_KEYS = [retired]
    assert read_stream(path) == PLAINTEXT


def test_it_refuses_a_header_with_an_absurd_chunk_size(write):
    stream = bytearray(sealed_stream(b"x"))
    stream[12:16] = (2**31).to_bytes(4, "big")

    with pytest.raises(DecryptionError, match="invalid chunk size"):
        read_stream(write(bytes(stream)))


# ------------------------------------------------------------------------------------------ start-up
def run_check(**env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "VAULT_ENCRYPTION_", "SECRET_KEY", "DJANGO_SETTINGS"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "transcripts_site.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_a_shared_deployment_without_the_vault_key(tmp_path):
    done = run_check(
        DATA_DIR=str(tmp_path),
        DATABASE_URL="postgresql://vault@127.0.0.1:5432/vault",
        SECRET_KEY="x-test-secret-key-that-is-long-enough-for-django-000000000000",
    )

    assert done.returncode != 0
    assert "ImproperlyConfigured: VAULT_ENCRYPTION_KEY (or VAULT_ENCRYPTION_KEY_FILE) must be set" in done.stderr
    assert not (tmp_path / "secrets" / "vault_encryption_key").exists()


def test_it_refuses_to_start_with_a_malformed_vault_key(tmp_path):
    done = run_check(DATA_DIR=str(tmp_path), VAULT_ENCRYPTION_KEY="too-short")

    assert done.returncode != 0
    assert "VAULT_ENCRYPTION_KEY must be 32 bytes in URL-safe base64" in done.stderr
    assert "rotate_key --generate" in done.stderr
