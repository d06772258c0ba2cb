"""What the vault has learnt about the org's Genesys (GenesysFinding rows), and the decisions that follow.

- Transcript search health: the search is an accelerator, never a gate. A failed search puts it in a
  cooldown (SEARCH_COOLDOWN_SECONDS, doubling up to SEARCH_COOLDOWN_MAX_SECONDS) during which every due
  conversation is probed directly; the record is shown on the operations page and in /metrics.
- Search language: some orgs answer 400 REQUIRED_SEARCH_FIELD without a `language` criterion
  (genesys-api.md §5, §12); once seen, that is remembered and the org's languages (GENESYS_TRANSCRIPT_LANGUAGES
  plus those of stored transcripts) are always sent.
- Transcription settings: an org or queue without transcription need not wait TRANSCRIPT_DEADLINE_SECONDS
  for a transcript that cannot come (GET /api/v2/routing/settings/transcription, queues' enableTranscription),
  and an org with content search off is never searched (every conversation is probed directly).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from genesys.errors import GenesysError
from reviews.models import Conversation, GenesysFinding, Transcript
from reviews.pipeline.transitions import safe_error

logger = logging.getLogger(__name__)

SEARCH_HEALTH = "search.health"
SEARCH_REQUIRES_LANGUAGE = "search.requires_language"
TRANSCRIPTION_SETTINGS = "transcription.settings"
# The search "works" but has listed nothing for this long: content search is probably off in the org.
SEARCH_TRUST_WINDOW = timedelta(hours=24)
TRANSCRIPTION_SETTINGS_MAX_AGE = timedelta(hours=24)
LANGUAGE_CACHE_SECONDS = 600.0
QUEUE_FLOW_MODE = "EnabledQueueFlow"
DISABLED_MODE = "Disabled"


# ------------------------------------------------------------------------------------------- findings
def finding(key: str) -> GenesysFinding | None:
    return GenesysFinding.objects.filter(key=key).first()


def remember(key: str, value: dict, *, now: datetime, source: str = "pipeline") -> None:
    defaults = {"value": value, "learned_at": now, "source": source}
    try:
        with transaction.atomic():
            GenesysFinding.objects.update_or_create(key=key, defaults=defaults)
    except IntegrityError:  # created concurrently by another worker: ours is as fresh
        GenesysFinding.objects.filter(key=key).update(**defaults)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(value) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ------------------------------------------------------------------------------------------- search health
@dataclass
class SearchHealth:
    ok_at: datetime | None = None  # last successful search
    listed_at: datetime | None = None  # last search that listed at least one transcript
    failed_at: datetime | None = None
    failures: int = 0  # consecutive
    cooldown_until: datetime | None = None
    last_error: str = ""

    def usable(self, *, now: datetime) -> bool:
        """Not in a cooldown after a failure: this round may ask the search."""
        return self.cooldown_until is None or now >= self.cooldown_until

    def trusted(self, *, now: datetime) -> bool:
        """Listed something lately: a conversation it does not list is most likely not ready yet."""
        return self.listed_at is not None and self.listed_at >= now - SEARCH_TRUST_WINDOW

    @property
    def healthy(self) -> bool:
        return self.failures == 0

    def as_value(self) -> dict:
        value = asdict(self)
        for name in ("ok_at", "listed_at", "failed_at", "cooldown_until"):
            value[name] = _iso(value[name])
        return value

    @classmethod
    def from_value(cls, value: dict) -> SearchHealth:
        times = {name: _time(value.get(name)) for name in ("ok_at", "listed_at", "failed_at", "cooldown_until")}
        return cls(**times, failures=int(value.get("failures") or 0), last_error=str(value.get("last_error") or ""))


def search_health() -> SearchHealth:
    row = finding(SEARCH_HEALTH)
    return SearchHealth.from_value(row.value) if row else SearchHealth()


def record_search_success(*, now: datetime, listed_any: bool) -> SearchHealth:
    health = search_health()
    health.ok_at = now
    if listed_any:
        health.listed_at = now
    health.failures = 0
    health.cooldown_until = None
    remember(SEARCH_HEALTH, health.as_value(), now=now)
    return health


def record_search_failure(*, now: datetime, error: BaseException) -> SearchHealth:
    health = search_health()
    health.failures += 1
    health.failed_at = now
    health.last_error = safe_error(error)[:300]
    cooldown = min(settings.SEARCH_COOLDOWN_SECONDS * 2 ** (health.failures - 1), settings.SEARCH_COOLDOWN_MAX_SECONDS)
    health.cooldown_until = now + timedelta(seconds=cooldown)
    remember(SEARCH_HEALTH, health.as_value(), now=now)
    logger.warning(
        "transcript search failed (%d in a row); probing conversations directly for %.0fs: %s",
        health.failures,
        cooldown,
        health.last_error,
    )
    return health


# ------------------------------------------------------------------------------------------- search language
_languages_lock = threading.Lock()
_languages_cache: tuple[float, list[str]] | None = None


def stored_languages() -> list[str]:
    """Languages of the transcripts already stored (lower-case), cached per process for a few minutes."""
    global _languages_cache
    with _languages_lock:
        if _languages_cache is not None and time.monotonic() < _languages_cache[0]:
            return list(_languages_cache[1])
    found = sorted(
        {
            language.lower()
            for language in Transcript.objects.exclude(language="").values_list("language", flat=True).distinct()
        }
    )
    with _languages_lock:
        _languages_cache = (time.monotonic() + LANGUAGE_CACHE_SECONDS, found)
    return found


def forget_stored_languages() -> None:
    global _languages_cache
    with _languages_lock:
        _languages_cache = None


def search_languages() -> list[str]:
    return list(dict.fromkeys([*settings.GENESYS_TRANSCRIPT_LANGUAGES, *stored_languages()]))


def prepare_search(client) -> None:
    """Tell the client what the org needs before a search: the language criterion and its values."""
    client.search_languages = search_languages()
    if settings.GENESYS_TRANSCRIPT_LANGUAGES or finding(SEARCH_REQUIRES_LANGUAGE) is not None:
        client.search_requires_language = True


def learn_from_search(client, *, now: datetime) -> None:
    """The client found out (a REQUIRED_SEARCH_FIELD answer) that the org needs `language`: remember it."""
    if client.search_requires_language and finding(SEARCH_REQUIRES_LANGUAGE) is None:
        remember(SEARCH_REQUIRES_LANGUAGE, {"required": True}, now=now)
        logger.info("the org's transcript search requires a language criterion; it is sent from now on")


# ------------------------------------------------------------------------------------------- transcription
def transcription_settings(client, *, now: datetime) -> dict:
    """The org's transcription settings (`transcription`: EnabledGlobally / EnabledQueueFlow / Disabled,
    `contentSearchEnabled`, redaction flags), re-read once a day; {} when unknown (not readable with this role)."""
    row = finding(TRANSCRIPTION_SETTINGS)
    if row is not None and row.learned_at >= now - TRANSCRIPTION_SETTINGS_MAX_AGE:
        return {} if "error" in row.value else dict(row.value)
    try:
        body = client.get_transcription_settings() or {}
    except GenesysError as exc:
        remember(TRANSCRIPTION_SETTINGS, {"error": safe_error(exc)[:300]}, now=now)
        logger.info("transcription settings unreadable, assuming transcripts may come: %s", safe_error(exc))
        return {}
    keep = ("transcription", "contentSearchEnabled", "pciDssRedactionEnabled", "piiRedactionEnabled")
    value = {name: body.get(name) for name in keep}
    remember(TRANSCRIPTION_SETTINGS, value, now=now)
    return value


def content_search_off(settings_value: dict) -> bool:
    """The org says transcript content search is off: the search cannot list anything, so it is not asked."""
    return settings_value.get("contentSearchEnabled") is False


def no_transcript_reason(conversation: Conversation, *, mode: str | None) -> str | None:
    """Why no transcript can ever come for this conversation, or None when one may (or we cannot tell).

    `mode` is transcription_settings()["transcription"], read once per round. With EnabledQueueFlow a queue's enableTranscription
    decides (flows can enable it too, which the API does not show, so only an explicit false counts)."""
    if mode == DISABLED_MODE:
        return "transcription is disabled in the org"
    queue = conversation.queue
    if mode == QUEUE_FLOW_MODE and queue is not None and queue.transcription_enabled is False:
        return f"queue {queue.name or queue.genesys_id} has transcription disabled"
    return None
