"""Audio with every call: a transcribed call's recording, fetched from Genesys in the background for the player.

The review page plays what the vault holds (AudioRecording rows that are kept, or cached copies that have not
expired). A stored (transcribed) call without one shows "Preparing audio" and polls request_audio() (the view
reviews.views.audio.prepare), which never calls Genesys: it enqueues `reviews.tasks.fetch_audio_task` at most
once per FETCH_QUEUED_SECONDS (or when Genesys asked to come back). The task (fetch_call_audio) asks the
recordings API once (RECORDINGS_MAX_WAIT_MS) through the shared client, so under the shared per-client rate limit,
then ends:
- media ready: each audio recording is streamed into the blob store, encrypted (fallback.store_audio);
- 202 (transcoding), UPLOADING, RESTORING: nothing sleeps; the status says "come back", and the next poll after
  FETCH_RETRY_SECONDS enqueues the fetch again (the page polls for PREPARE_PATIENCE_SECONDS at most);
- ARCHIVED: not restored for playback. A restore changes the recording's archive date in Genesys; the audio
  fallback does that only for calls whose audio is their only record;
- 404, 403, DELETED, ERROR: unavailable, with the reason; asked again after UNAVAILABLE_RECHECK_SECONDS.

The fetch status lives in the Django cache: with REDIS_URL it is shared, so the worker's answer (transcoding,
unavailable and why) reaches every web process. With the per-process default cache a web process only knows
that it asked: the page says "preparing" until the audio is there, and asks again every FETCH_QUEUED_SECONDS.
The audio itself, and so "ready", is always in the database.

Keeping (AUDIO_ARCHIVE): `fallback` (default) caches a copy for AUDIO_CACHE_HOURS, never past the end of the
call's audio retention (reviews/retention.py), and sweep_audio_cache() deletes it afterwards: row, then blob
unless another row uses it. Cached copies are never archived. `all` keeps every fetched recording (kept=True)
and archives it to the compliance sinks like fallback audio (record_audio_archive); the sweep then keeps any
copy cached before the switch too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F

from genesys.clock import Clock
from genesys.errors import GenesysError, NotFoundError, PermissionDeniedError
from reviews.compliance.outbox import record_audio_archive
from reviews.models import AudioRecording, Conversation
from reviews.pipeline.fallback import (
    AVAILABLE_STATES,
    WAITING_STATES,
    is_audio,
    media_uri_of,
    start_offset_ms,
    store_audio,
)
from reviews.pipeline.schedule import now_of
from reviews.pipeline.transitions import safe_error
from reviews.retention import remove_unreferenced_blob

logger = logging.getLogger(__name__)

FETCH_TASK = "reviews.tasks.fetch_audio_task"
# Genesys holds the list request this long while it transcodes (its own default). Longer than the audio fallback's
# wait: here one person waits for one call, so a few seconds of one worker buy a player without a second round.
RECORDINGS_MAX_WAIT_MS = 5000
# A queued fetch gets this long before a poll queues another: the task may be lost, or (without a shared cache) the
# web cannot see the worker's "come back in FETCH_RETRY_SECONDS". A fetch that is due anyway skips (fetch_call_audio).
FETCH_QUEUED_SECONDS = 15
# After a 202 or an UPLOADING/RESTORING recording, ask Genesys again this much later.
FETCH_RETRY_SECONDS = 10
# After a transient failure (Genesys down, rate limited, a broken download).
FAILED_RETRY_SECONDS = 60
# "No recording" is rechecked this much later: a recording can still be uploaded or restored in Genesys.
UNAVAILABLE_RECHECK_SECONDS = 3600
# The page stops polling after this long and says so; reloading it starts over.
PREPARE_PATIENCE_SECONDS = 600
# How often the page polls while preparing (seconds; templates/reviews/conversation.html).
POLL_SECONDS = 3
# The sweep runs this often (reviews/schedules.py): expired copies outlive AUDIO_CACHE_HOURS by at most this,
# and the player refuses an expired copy at once anyway (reviews/views/audio.py).
SWEEP_INTERVAL_MINUTES = 15
SWEEP_BATCH = 500

NO_AUDIO = "No audio stored for this call."
PREPARING_MESSAGE = "Preparing the call recording…"
READY_MESSAGE = "The call recording is ready to play."


class State:
    READY = "ready"  # the vault holds playable audio
    PREPARING = "preparing"  # a fetch is queued, running or waiting for Genesys to transcode
    UNAVAILABLE = "unavailable"  # Genesys said there is no playable recording (and why)
    STALLED = "stalled"  # the page waited PREPARE_PATIENCE_SECONDS; reloading asks again
    NONE = "none"  # no fetch for this call: not a stored transcribed call, or its audio retention has passed


# What the cache remembers about the latest fetch of a conversation's audio, and when (`retry_at`, epoch seconds
# on the caller's clock) a poll may queue the next one. The key outlives retry_at by MARKER_GRACE_SECONDS.
QUEUED, FETCHING, WAITING, FAILED, GONE = "queued", "fetching", "waiting", "failed", "unavailable"
MARKER_GRACE_SECONDS = 600


@dataclass(frozen=True)
class AudioStatus:
    """What the player region shows for one conversation."""

    state: str
    message: str = ""
    recordings: list = field(default_factory=list)
    since: int | None = None  # epoch seconds when this page started preparing (the poll carries it)

    @property
    def polling(self) -> bool:
        return self.state == State.PREPARING

    @property
    def key(self) -> str:
        """Changes exactly when the region would show something else: a poll with the same key gets 204."""
        return f"{self.state}|{self.message}|{','.join(str(r.pk) for r in self.recordings)}"

    @property
    def poll_values(self) -> str:
        """The poll's hx-vals: what the page shows now, and since when it has been preparing."""
        return json.dumps({"shown": self.key, "since": self.since})


def status_key(genesys_id: str) -> str:
    return f"audio-fetch:{genesys_id}"


def fetch_status(genesys_id: str) -> dict | None:
    value = cache.get(status_key(genesys_id))
    return value if isinstance(value, dict) and isinstance(value.get("retry_at"), int | float) else None


def _marker(state: str, note: str, *, now: datetime, seconds: float) -> dict:
    return {"state": state, "note": note, "retry_at": now.timestamp() + seconds}


def _remember(genesys_id: str, state: str, note: str = "", *, now: datetime, seconds: float) -> None:
    marker = _marker(state, note, now=now, seconds=seconds)
    cache.set(status_key(genesys_id), marker, timeout=seconds + MARKER_GRACE_SECONDS)


def _forget(genesys_id: str) -> None:
    cache.delete(status_key(genesys_id))


# ---------------------------------------------------------------------------------------------- what to keep
def keeps_everything() -> bool:
    return settings.AUDIO_ARCHIVE == "all"


def audio_retention_ends(conversation: Conversation) -> datetime | None:
    """When retention says the vault must stop holding this call's audio (None: never)."""
    from reviews.retention import retention_for

    days = retention_for(conversation).audio_days
    return conversation.started_at + timedelta(days=days) if days else None


def cache_expiry(conversation: Conversation, *, now: datetime) -> datetime:
    """Until when a playback copy fetched now may stay: AUDIO_CACHE_HOURS, but never past the audio retention."""
    until = now + timedelta(hours=settings.AUDIO_CACHE_HOURS)
    ends = audio_retention_ends(conversation)
    return min(until, ends) if ends is not None else until


def why_not_fetched(conversation: Conversation, *, has_transcript: bool, now: datetime) -> str | None:
    """Why the vault does not fetch this call's audio on demand, or None when it does.

    Only stored, transcribed calls: the audio fallback owns the others (their audio is their record, and a copy
    cached in the middle of it would be swept from under it)."""
    if conversation.state != Conversation.State.STORED or not has_transcript:
        return NO_AUDIO
    ends = audio_retention_ends(conversation)
    if ends is not None and ends <= now:
        return "The vault's retention period for this call's audio has passed, so it is not fetched again."
    return None


# ---------------------------------------------------------------------------------------------- the page
def audio_for_page(conversation: Conversation, *, has_transcript: bool, now: datetime) -> AudioStatus:
    """What the player region shows, without side effects (the review page's first render)."""
    # In call order: the recording that starts first is the one the player opens with.
    first = F("start_offset_ms").asc(nulls_first=True)
    recordings = list(conversation.recordings.playable(now=now).order_by(first, "stored_at", "pk"))
    if recordings:
        return AudioStatus(State.READY, recordings=recordings)
    reason = why_not_fetched(conversation, has_transcript=has_transcript, now=now)
    if reason is not None:
        return AudioStatus(State.NONE, reason)
    known = fetch_status(conversation.genesys_id) or {}
    if known.get("state") == GONE and known["retry_at"] > now.timestamp():
        return AudioStatus(State.UNAVAILABLE, known.get("note") or "Genesys has no playable recording of this call.")
    if known.get("state") in (WAITING, FAILED) and known.get("note"):
        return AudioStatus(State.PREPARING, known["note"], since=int(now.timestamp()))
    return AudioStatus(State.PREPARING, PREPARING_MESSAGE, since=int(now.timestamp()))


def request_audio(conversation: Conversation, *, now: datetime, since: int | None) -> AudioStatus:
    """A poll of the player region: enqueue a background fetch when one is due, and say what to show.

    Never talks to Genesys. `since` is when the page started preparing; after PREPARE_PATIENCE_SECONDS the page
    stops polling."""
    status = audio_for_page(conversation, has_transcript=conversation.transcripts.exists(), now=now)
    if status.state == State.READY:
        return AudioStatus(State.READY, READY_MESSAGE, recordings=status.recordings)
    if status.state != State.PREPARING:
        return status
    started = since if since is not None and since <= now.timestamp() else int(now.timestamp())
    if now.timestamp() - started > PREPARE_PATIENCE_SECONDS:
        return AudioStatus(
            State.STALLED, "The recording is not ready yet. Reload the page to try again.", since=started
        )
    queue_fetch_when_due(conversation.genesys_id, now=now)
    return AudioStatus(status.state, status.message, since=started)


def queue_fetch_when_due(genesys_id: str, *, now: datetime) -> bool:
    """Enqueue a fetch unless one is queued or running, or Genesys asked us to come back later."""
    key = status_key(genesys_id)
    known = fetch_status(genesys_id)
    if known is not None:
        if known["retry_at"] > now.timestamp():
            return False
        cache.delete(key)  # due: make way for the next fetch (two web processes may both queue one; it is idempotent)
    # add() is atomic: one enqueue per conversation until the fetch answers or FETCH_QUEUED_SECONDS pass.
    marker = _marker(QUEUED, "", now=now, seconds=FETCH_QUEUED_SECONDS)
    if not cache.add(key, marker, timeout=FETCH_QUEUED_SECONDS + MARKER_GRACE_SECONDS):
        return False
    enqueue_fetch(genesys_id)
    return True


def enqueue_fetch(genesys_id: str) -> str:
    """The django-q task that fetches this conversation's audio; returns its task id."""
    from django_q.tasks import async_task

    return async_task(FETCH_TASK, genesys_id)


# ---------------------------------------------------------------------------------------------- the worker
@dataclass
class _Answer:
    """What one recordings answer says about the call's playable audio."""

    stored: int = 0
    pending: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


def fetch_call_audio(*, client, clock: Clock, genesys_id: str) -> str:
    """Fetch a stored call's recordings into the vault (one recordings API call, no waiting); a short summary."""
    conversation = Conversation.objects.filter(genesys_id=genesys_id).first()
    if conversation is None:
        _forget(genesys_id)
        return "no such conversation"
    now = now_of(clock)
    reason = why_not_fetched(conversation, has_transcript=conversation.transcripts.exists(), now=now)
    if reason is not None:
        _forget(genesys_id)
        return f"not fetched: {reason}"
    if conversation.recordings.playable(now=now).exists():
        _forget(genesys_id)
        return "already in the vault"
    known = fetch_status(genesys_id)
    if known is not None and known["state"] != QUEUED and known["retry_at"] > now.timestamp():
        # A second task for the same call: another one is fetching, or Genesys asked to come back later.
        return f"not due: {known['state']}"
    # While this runs (a long recording downloads for a while), no poll queues a second fetch.
    _remember(genesys_id, FETCHING, now=now, seconds=settings.Q_CLUSTER["timeout"])
    try:
        answer = _fetch(client=client, conversation=conversation, now=now)
    except NotFoundError:
        return _unavailable(genesys_id, "Genesys has no recording of this call.", now=now)
    except PermissionDeniedError as exc:
        needs = f" (it needs {', '.join(exc.missing_permissions)})" if exc.missing_permissions else ""
        note = f"Genesys refused this call's recording to the vault's role{needs}."
        return _unavailable(genesys_id, note, now=now)
    except GenesysError as exc:
        logger.warning("on-demand audio fetch failed conversation=%s: %s", genesys_id, safe_error(exc))
        note = "Genesys did not hand out the recording just now; the vault asks again shortly."
        _remember(genesys_id, FAILED, note, now=now, seconds=FAILED_RETRY_SECONDS)
        return f"failed: {safe_error(exc)}"
    if conversation.recordings.playable(now=now).exists():
        if keeps_everything():
            record_audio_archive(conversation, now=now)
        _forget(genesys_id)
        return f"stored {answer.stored} recording(s)"
    if answer.pending:
        note = f"Genesys is still preparing the recording ({'; '.join(answer.pending)}); the vault asks again shortly."
        _remember(genesys_id, WAITING, note, now=now, seconds=FETCH_RETRY_SECONDS)
        return f"waiting: {'; '.join(answer.pending)}"
    return _unavailable(
        genesys_id, " ".join(answer.gone) or "Genesys lists no call audio for this conversation.", now=now
    )


def _unavailable(genesys_id: str, note: str, *, now: datetime) -> str:
    _remember(genesys_id, GONE, note, now=now, seconds=UNAVAILABLE_RECHECK_SECONDS)
    return f"unavailable: {note}"


def _fetch(*, client, conversation: Conversation, now: datetime) -> _Answer:
    answer = _Answer()
    recordings = client.list_recordings(
        conversation.genesys_id, format_id=settings.RECORDING_FORMAT, max_wait_ms=RECORDINGS_MAX_WAIT_MS
    )
    if recordings is None:  # 202: transcoding. Come back later; nothing sleeps here.
        answer.pending.append("transcoding")
        return answer
    for recording in [r for r in recordings if is_audio(r) and r.get("id")]:
        state = (recording.get("fileState") or "AVAILABLE").upper()
        uri = media_uri_of(recording)
        if state in AVAILABLE_STATES and uri:
            answer.stored += _keep_or_store(
                client=client, conversation=conversation, recording=recording, url=uri, now=now
            )
        elif state in AVAILABLE_STATES or state in WAITING_STATES:
            answer.pending.append(state.lower() if state in WAITING_STATES else "no media yet")
        elif state == "ARCHIVED":
            answer.gone.append("The recording is archived in Genesys; it is not restored for playback.")
        elif state == "DELETED":
            answer.gone.append("The recording was deleted in Genesys.")
        else:
            answer.gone.append(f"The recording is in state {state[:20]} in Genesys.")
    return answer


def _keep_or_store(*, client, conversation: Conversation, recording: dict, url: str, now: datetime) -> int:
    """Make this recording playable: an existing (expired, not yet swept) copy is renewed or kept; else fetched."""
    keep = keeps_everything()
    until = None if keep else cache_expiry(conversation, now=now)
    existing = AudioRecording.objects.filter(conversation=conversation, recording_id=recording["id"]).first()
    if existing is not None and (existing.kept or (existing.keep() if keep else existing.cache_until(until))):
        return 0
    stored = store_audio(
        client=client,
        conversation=conversation,
        recording_id=recording["id"],
        url=url,
        source="recordings",
        duration_ms=recording.get("outputDurationMs"),
        cached_until=until,
        start_offset_ms=start_offset_ms(conversation, recording),
    )
    return int(stored)


# ---------------------------------------------------------------------------------------------- the sweep
@dataclass
class SweepReport:
    deleted: int = 0
    blobs_deleted: int = 0
    kept: int = 0

    def summary(self) -> str:
        if keeps_everything():
            return f"audio cache: AUDIO_ARCHIVE=all, {self.kept} cached copies kept and archived"
        return f"audio cache: {self.deleted} expired copies deleted, {self.blobs_deleted} blobs removed"


def sweep_audio_cache(*, now: datetime, limit: int = SWEEP_BATCH) -> SweepReport:
    """Delete expired playback copies (row, then its blob if no other row uses it); with AUDIO_ARCHIVE=all keep
    and archive every cached copy instead. At most `limit` rows a run; the next run takes the rest."""
    report = SweepReport()
    if keeps_everything():
        kept_conversations = {}
        for row in AudioRecording.objects.filter(kept=False).select_related("conversation").order_by("pk")[:limit]:
            if row.keep():
                report.kept += 1
                kept_conversations[row.conversation_id] = row.conversation
        for conversation in kept_conversations.values():
            record_audio_archive(conversation, now=now)
        return report
    for row in AudioRecording.objects.expired(now=now).order_by("cached_until", "pk")[:limit]:
        # Conditional: a copy renewed or kept since the query (a new fetch, the audio fallback) stays.
        deleted, _ = AudioRecording.objects.expired(now=now).filter(pk=row.pk).delete()
        if not deleted:
            continue
        report.deleted += 1
        report.blobs_deleted += remove_unreferenced_blob(row.raw_path)
    if report.deleted:
        logger.info("audio cache sweep deleted=%d blobs=%d", report.deleted, report.blobs_deleted)
    return report
