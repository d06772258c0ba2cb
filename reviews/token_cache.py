"""Where worker processes share the Genesys access token (genesys.auth.TokenCache): GENESYS_TOKEN_CACHE, Redis
by default when REDIS_URL is set, else the database. A worker running for a day then asks the login service for one token, not one per
task or process; a token Genesys rejects (401) is discarded for everyone at once.

The token is a 24-hour bearer credential for the whole Genesys org, so it is sealed at rest (AES-256-GCM under
the vault key, bound to its cache key): a database dump, a backup or a look at Redis does not hand it out. A
token that cannot be opened (sealed by a key the keyring no longer holds, or tampered with) is a cache miss:
the next caller fetches a new one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import IntegrityError, transaction

from reviews.encryption import DecryptionError, seal, unseal
from reviews.models import OAuthToken

# One process fetches a token at a time; a lock older than this belongs to a process that died mid-request.
LOCK_SECONDS = 30.0
# Others wait this long for the fetching process, then fetch themselves (two tokens beat none).
LOCK_WAIT_SECONDS = 35.0
LOCK_POLL_SECONDS = 0.05


def associated_data(key: str) -> bytes:
    """What a sealed token is bound to: its cache key (a token copied to another key does not open)."""
    return f"oauth-token:{key}".encode()


def seal_token(key: str, token: str) -> str:
    return seal(token.encode(), associated_data=associated_data(key))


def unseal_token(key: str, sealed: str) -> str | None:
    """The token, or None when it cannot be opened (its key was retired and dropped, or it was tampered with)."""
    try:
        return unseal(sealed, associated_data=associated_data(key)).decode()
    except DecryptionError:
        return None


class DatabaseTokenCache:
    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time) -> None:
        self._sleep = sleep
        self._now = now

    def get(self, key: str) -> tuple[str, float] | None:
        row = OAuthToken.objects.filter(key=key).values_list("token", "refresh_at").first()
        token = unseal_token(key, row[0]) if row and row[0] else None
        if token is None:
            return None
        return token, float(row[1])

    def set(self, key: str, token: str, refresh_at: float) -> None:
        self._row(key)
        OAuthToken.objects.filter(key=key).update(token=seal_token(key, token), refresh_at=refresh_at)

    def discard(self, key: str, token: str) -> None:
        sealed = OAuthToken.objects.filter(key=key).values_list("token", flat=True).first()
        if sealed and unseal_token(key, sealed) == token:
            # Conditional on the sealed value read: a token someone stored meanwhile is never discarded.
            OAuthToken.objects.filter(key=key, token=sealed).update(token="", refresh_at=0)

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        self._row(key)
        deadline = self._now() + LOCK_WAIT_SECONDS
        held = False
        while True:
            now = self._now()
            held = bool(
                OAuthToken.objects.filter(key=key, locked_until__lt=now).update(locked_until=now + LOCK_SECONDS)
            )
            if held or now >= deadline or _is_fresh(self.get(key), self._now()):
                break
            self._sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            if held:
                OAuthToken.objects.filter(key=key).update(locked_until=0)

    @staticmethod
    def _row(key: str) -> None:
        try:
            with transaction.atomic():
                OAuthToken.objects.get_or_create(key=key)
        except IntegrityError:  # created concurrently
            pass


class RedisTokenCache:
    def __init__(self, redis_client, *, prefix: str = "transcript-vault:", sleep=time.sleep, now=time.time) -> None:
        self._redis = redis_client
        self._prefix = prefix
        self._sleep = sleep
        self._now = now

    def _key(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def get(self, key: str) -> tuple[str, float] | None:
        sealed, refresh_at = self._redis.hmget(self._key(key), "token", "refresh_at")
        token = unseal_token(key, _text(sealed)) if sealed else None
        if token is None or refresh_at is None:
            return None
        return token, float(refresh_at)

    def set(self, key: str, token: str, refresh_at: float) -> None:
        ttl = max(int(refresh_at - self._now()), 1)
        pipe = self._redis.pipeline()
        pipe.hset(self._key(key), mapping={"token": seal_token(key, token), "refresh_at": repr(refresh_at)})
        pipe.expire(self._key(key), ttl)
        pipe.execute()

    def discard(self, key: str, token: str) -> None:
        current = self._redis.hget(self._key(key), "token")
        if current is not None and unseal_token(key, _text(current)) == token:
            self._redis.delete(self._key(key))

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        lock_key, mine = self._key(key) + ":lock", secrets.token_hex(8)
        deadline = self._now() + LOCK_WAIT_SECONDS
        held = False
        while True:
            held = bool(self._redis.set(lock_key, mine, nx=True, px=int(LOCK_SECONDS * 1000)))
            if held or self._now() >= deadline or _is_fresh(self.get(key), self._now()):
                break
            self._sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            if held and self._redis.get(lock_key) in (mine, mine.encode()):
                self._redis.delete(lock_key)


def _is_fresh(entry: tuple[str, float] | None, now: float) -> bool:
    """A waiter stops waiting for the lock holder only when a token still usable is cached: the expired token
    the holder is replacing stays in the cache until then, and stopping on it made every waiter fetch its own
    (a refresh stampede at each expiry)."""
    return entry is not None and entry[1] > now


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def token_cache_from_settings():
    if settings.GENESYS_TOKEN_CACHE == "redis":
        import redis

        return RedisTokenCache(redis.Redis.from_url(settings.REDIS_URL))
    return DatabaseTokenCache()
