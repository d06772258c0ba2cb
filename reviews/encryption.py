"""Encryption at rest: AES-256-GCM under the vault's keyring (the `cryptography` package).

The keyring is VAULT_ENCRYPTION_KEY (the active key, used for every new write) plus
VAULT_ENCRYPTION_OLD_KEYS (retired keys, only for reading what they sealed until `manage.py rotate_key`
has re-encrypted it). Every ciphertext names the id of the key that sealed it, so keys can rotate.

A key is 32 random bytes written as URL-safe base64 (`python manage.py rotate_key --generate`).
Its id is the first 8 hex digits of sha256(key): stable, and reveals nothing of the key.

Small values (an utterance's original text, a token) are sealed with `seal()` into one printable
string, `tv1:<key id>:<base64 nonce|ciphertext|tag>`.

Blobs (Genesys documents, call audio: up to tens of MB) use a chunked stream, the STREAM construction of
Hoang, Reyhanitabar, Rogaway and Vizár as in Tink's AES-GCM-HKDF streaming AEAD, so memory stays flat and a
reader can seek (audio Range requests) without decrypting what comes before:

    header   "TVB1" | key id (8 ASCII hex) | chunk size (uint32 BE) | salt (16) | nonce prefix (7)   39 bytes
    chunks   AES-256-GCM(chunk key, nonce, plaintext chunk, associated data = header) = chunk + 16-byte tag

Every chunk holds `chunk size` plaintext bytes except the last, which holds 0..chunk size. The chunk key is
HKDF-SHA256(vault key, salt, info = header[:16]): one fresh key per stream, so nonces never repeat across
streams however many blobs one vault key seals. The nonce is prefix | chunk index (uint32 BE) | 1 for the last
chunk else 0: a chunk moved, dropped, duplicated, taken from another stream, or a stream cut at a chunk
boundary fails authentication. Reading and writing files in this format is reviews/blobs.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEALED_PREFIX = "tv1"

STREAM_MAGIC = b"TVB1"
STREAM_FORMAT = "TVB1 (AES-256-GCM-HKDF-SHA256 STREAM)"
STREAM_CHUNK_BYTES = 64 * 1024
_STREAM_HEADER = struct.Struct(">4s8sI16s7s")
STREAM_HEADER_BYTES = _STREAM_HEADER.size
# The chunk size comes from the file before it is authenticated: bound what a crafted header can make us allocate.
_STREAM_CHUNK_LIMITS = (1024, 16 * 1024 * 1024)
_STREAM_MAX_CHUNKS = 2**32


class DecryptionError(Exception):
    """A ciphertext that cannot be opened: unknown key id, tampered bytes or a malformed envelope."""


class UnknownKeyError(DecryptionError):
    """The ciphertext names a key id the keyring does not hold (a retired key was dropped too early)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no vault key with id {key_id!r}; add the retired key to VAULT_ENCRYPTION_OLD_KEYS")
        self.key_id = key_id


@dataclass(frozen=True)
class VaultKey:
    key_id: str
    material: bytes

    @property
    def aead(self) -> AESGCM:
        return AESGCM(self.material)


def parse_key(text: str, *, name: str) -> VaultKey:
    """A key from its base64 text; ImproperlyConfigured naming `name` when it is not 32 bytes."""
    cleaned = text.strip()
    try:
        material = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be 32 bytes in URL-safe base64; it is not base64 "
            "(generate one with: python manage.py rotate_key --generate)"
        ) from None
    if len(material) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{name} must be 32 bytes in URL-safe base64 (got {len(material)} bytes); "
            "generate one with: python manage.py rotate_key --generate"
        )
    return VaultKey(key_id=hashlib.sha256(material).hexdigest()[:8], material=material)


def generate_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


@dataclass(frozen=True)
class Keyring:
    active: VaultKey
    by_id: dict[str, VaultKey]

    def key(self, key_id: str) -> VaultKey:
        try:
            return self.by_id[key_id]
        except KeyError:
            raise UnknownKeyError(key_id) from None


def keyring_from(active_text: str, old_texts: list[str]) -> Keyring:
    if not active_text:
        raise ImproperlyConfigured(
            "VAULT_ENCRYPTION_KEY (or VAULT_ENCRYPTION_KEY_FILE) is not set; "
            "generate one with: python manage.py rotate_key --generate"
        )
    active = parse_key(active_text, name="VAULT_ENCRYPTION_KEY")
    keys = {active.key_id: active}
    for position, text in enumerate(old_texts, start=1):
        old = parse_key(text, name=f"VAULT_ENCRYPTION_OLD_KEYS entry {position}")
        keys.setdefault(old.key_id, old)
    return Keyring(active=active, by_id=keys)


@lru_cache(maxsize=8)
def _cached_keyring(active_text: str, old_texts: tuple[str, ...]) -> Keyring:
    return keyring_from(active_text, list(old_texts))


def keyring() -> Keyring:
    """The configured keyring (cached per distinct configuration, so tests can swap keys)."""
    return _cached_keyring(settings.VAULT_ENCRYPTION_KEY, tuple(settings.VAULT_ENCRYPTION_OLD_KEYS))


def seal(plaintext: bytes, *, associated_data: bytes = b"") -> str:
    """`plaintext` encrypted under the active key, as one printable string."""
    key = keyring().active
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = key.aead.encrypt(nonce, plaintext, associated_data or None)
    return f"{SEALED_PREFIX}:{key.key_id}:{base64.b64encode(nonce + ciphertext).decode()}"


def sealed_key_id(sealed: str) -> str:
    prefix, key_id, _ = _split(sealed)
    return key_id


def unseal(sealed: str, *, associated_data: bytes = b"") -> bytes:
    """The plaintext of a `seal()` string; DecryptionError if it was tampered with or its key is unknown."""
    _, key_id, body = _split(sealed)
    key = keyring().key(key_id)
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("sealed value is not valid base64") from None
    if len(raw) < NONCE_BYTES + 16:
        raise DecryptionError("sealed value is too short")
    try:
        return key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data or None)
    except InvalidTag:
        raise DecryptionError("sealed value failed authentication (tampered, or sealed for other data)") from None


def is_sealed_by_active_key(sealed: str) -> bool:
    return sealed_key_id(sealed) == keyring().active.key_id


def _split(sealed: str) -> tuple[str, str, str]:
    parts = sealed.split(":", 2) if isinstance(sealed, str) else []
    if len(parts) != 3 or parts[0] != SEALED_PREFIX:
        raise DecryptionError("not a sealed value (expected tv1:<key id>:<base64>)")
    return parts[0], parts[1], parts[2]


# ------------------------------------------------------------------------------------------ streams
@dataclass(frozen=True)
class StreamHeader:
    key_id: str
    chunk_size: int
    salt: bytes
    nonce_prefix: bytes

    @property
    def raw(self) -> bytes:
        return _STREAM_HEADER.pack(
            STREAM_MAGIC, self.key_id.encode("ascii"), self.chunk_size, self.salt, self.nonce_prefix
        )


def new_stream_header(*, chunk_size: int = STREAM_CHUNK_BYTES) -> StreamHeader:
    """A header for a new stream under the active key, with a fresh salt (hence a fresh chunk key)."""
    return StreamHeader(
        key_id=keyring().active.key_id, chunk_size=chunk_size, salt=os.urandom(16), nonce_prefix=os.urandom(7)
    )


def is_stream(prefix: bytes) -> bool:
    return prefix[: len(STREAM_MAGIC)] == STREAM_MAGIC


def parse_stream_header(raw: bytes) -> StreamHeader:
    """The header at the start of a stream; DecryptionError when it is cut short or out of bounds."""
    if len(raw) < STREAM_HEADER_BYTES or not is_stream(raw):
        raise DecryptionError("encrypted blob header is truncated")
    _, key_id, chunk_size, salt, prefix = _STREAM_HEADER.unpack(raw[:STREAM_HEADER_BYTES])
    low, high = _STREAM_CHUNK_LIMITS
    if not low <= chunk_size <= high:
        raise DecryptionError(f"encrypted blob header names an invalid chunk size ({chunk_size})")
    try:
        key_text = key_id.decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError("encrypted blob header names an invalid key id") from None
    return StreamHeader(key_id=key_text, chunk_size=chunk_size, salt=salt, nonce_prefix=prefix)


class StreamCipher:
    """Seals and opens the chunks of one stream (the key is looked up by the header's key id)."""

    def __init__(self, header: StreamHeader) -> None:
        vault_key = keyring().key(header.key_id)
        self.header = header
        self._associated_data = header.raw
        chunk_key = HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=header.salt, info=self._associated_data[:16]
        ).derive(vault_key.material)
        self._aead = AESGCM(chunk_key)

    def _nonce(self, index: int, *, last: bool) -> bytes:
        if not 0 <= index < _STREAM_MAX_CHUNKS:
            raise ValueError("stream has too many chunks")
        return self.header.nonce_prefix + struct.pack(">IB", index, 1 if last else 0)

    def seal(self, index: int, plaintext: bytes, *, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last=last), plaintext, self._associated_data)

    def open(self, index: int, ciphertext: bytes, *, last: bool) -> bytes:
        try:
            return self._aead.decrypt(self._nonce(index, last=last), ciphertext, self._associated_data)
        except InvalidTag:
            raise DecryptionError(
                f"encrypted blob chunk {index} failed authentication (tampered, truncated or reordered)"
            ) from None
