"""Pure-Python Genesys Cloud client: auth, rate limiting, endpoints, downloads and transcript parsing."""

from __future__ import annotations

from genesys.auth import TokenProvider
from genesys.client import ClientStats, GenesysClient, RequestEvent
from genesys.clock import SYSTEM_CLOCK, Clock, FakeClock
from genesys.download import DownloadResult
from genesys.errors import (
    AuthenticationError,
    DownloadError,
    GenesysError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TranscriptFormatError,
    TransportError,
    UrlExpiredError,
)
from genesys.ratelimit import MemoryBackend, RateLimitBackend, RateLimiter, RedisBackend
from genesys.regions import RegionUrls, login_url_for, urls_for_region
from genesys.transcript import Phrase, TopicEvent, TranscriptDocument, TranscriptMeta, Word, parse_transcript

__all__ = [
    "SYSTEM_CLOCK",
    "AuthenticationError",
    "ClientStats",
    "Clock",
    "DownloadError",
    "DownloadResult",
    "FakeClock",
    "GenesysClient",
    "GenesysError",
    "MemoryBackend",
    "NotFoundError",
    "PermissionDeniedError",
    "Phrase",
    "RateLimitBackend",
    "RateLimitedError",
    "RateLimiter",
    "RedisBackend",
    "RegionUrls",
    "RequestEvent",
    "ServerError",
    "TokenProvider",
    "TopicEvent",
    "TranscriptDocument",
    "TranscriptFormatError",
    "TranscriptMeta",
    "TransportError",
    "UrlExpiredError",
    "Word",
    "login_url_for",
    "parse_transcript",
    "urls_for_region",
]
