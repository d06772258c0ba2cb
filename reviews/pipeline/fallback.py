"""Audio fallback: keep the call recording when the transcript never came, is empty or is unparseable.

A few conversations go through GET /conversations/{id}/recordings (one call each; a 202 "transcoding"
just reschedules). When BATCH_MIN or more are due in one round, one batch request covers up to 100 of
them: the job id is kept in a SyncCursor named "batch:<jobId>" (watermark = when to poll next,
last_result = the member conversation ids). That keeps the Conversation row free of job bookkeeping,
survives restarts, and any worker may poll it on a later round.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min

from genesys.clock import Clock
from genesys.errors import AuthenticationError, GenesysError, PermissionDeniedError
from reviews import blobs
from reviews.models import AudioRecording, Conversation, SyncCursor
from reviews.pipeline.leases import claim_one
from reviews.pipeline.rows import now_of, record_failure, release, safe_error

logger = logging.getLogger(__name__)
State = Conversation.State

BATCH_PREFIX = "batch:"
# A batch costs a submit plus at least one status poll, so it only pays off from three conversations.
BATCH_MIN = 3
BATCH_MAX = 100
# Genesys waits this long for transcoding before answering 202; small, because a worker must not idle.
RECORDINGS_MAX_WAIT_MS = 2000
PREFERRED_MEDIA_KEYS = ("S", "0")
BATCH_MISS = "batch download returned no recording"


def batch_poll_seconds() -> float:
    return settings.TRANSCRIPT_POLL_BASE_SECONDS


def batch_patience_seconds() -> float:
    """How long members wait for their batch before they are retried on their own (the job may be lost)."""
    return max(settings.PIPELINE_LEASE_SECONDS, 10 * settings.TRANSCRIPT_POLL_BASE_SECONDS)


def fetch_audio(*, client, clock: Clock, token: str, conversations: list[Conversation]) -> None:
    """Fetch recordings for conversations that need the audio fallback (all leased with `token`)."""
    # One the batch missed goes to the recordings API, so a batch that never lists it cannot loop.
    batchable = [c for c in conversations if not c.last_error.startswith(BATCH_MISS)]
    singles = [c for c in conversations if c.last_error.startswith(BATCH_MISS)]
    if len(batchable) >= BATCH_MIN:
        for start in range(0, len(batchable), BATCH_MAX):
            submit_batch(client=client, clock=clock, token=token, conversations=batchable[start : start + BATCH_MAX])
    else:
        singles = conversations
    for conversation in singles:
        try:
            fetch_recordings(client=client, clock=clock, token=token, conversation=conversation)
        except (AuthenticationError, PermissionDeniedError):
            raise
        except GenesysError as exc:
            logger.warning("recording fetch failed conversation=%s: %s", conversation.genesys_id, safe_error(exc))
            record_failure(conversation, token=token, now=now_of(clock), error=exc)


def media_uri_of(recording: dict) -> str | None:
    uris = recording.get("mediaUris") or {}
    for key in PREFERRED_MEDIA_KEYS:
        if (uris.get(key) or {}).get("mediaUri"):
            return uris[key]["mediaUri"]
    for value in uris.values():
        if isinstance(value, dict) and value.get("mediaUri"):
            return value["mediaUri"]
    return None


def fetch_recordings(*, client, clock: Clock, token: str, conversation: Conversation) -> None:
    now = now_of(clock)
    recordings = client.list_recordings(
        conversation.genesys_id, format_id=settings.RECORDING_FORMAT, max_wait_ms=RECORDINGS_MAX_WAIT_MS
    )
    if recordings is None:
        # 202: Genesys is transcoding. Come back later; this is not an error and nothing sleeps here.
        release(
            conversation,
            token=token,
            attempts=conversation.attempts + 1,
            next_attempt_at=now + timedelta(seconds=settings.TRANSCRIPT_POLL_BASE_SECONDS),
            last_error="recording is transcoding",
        )
        return
    stored = 0
    for recording in recordings:
        uri = media_uri_of(recording)
        if not uri or not recording.get("id"):
            continue
        stored += store_audio(
            client=client,
            conversation=conversation,
            recording_id=recording["id"],
            url=uri,
            source="recordings",
            duration_ms=recording.get("outputDurationMs"),
        )
    finish_fallback(conversation, token=token, has_audio=stored > 0 or conversation.recordings.exists())


def store_audio(
    *,
    client,
    conversation: Conversation,
    recording_id: str,
    url: str,
    source: str,
    duration_ms=None,
    content_type: str | None = None,
) -> bool:
    """Stream one recording into the blob store and record it; False when it was already stored."""
    if AudioRecording.objects.filter(conversation=conversation, recording_id=recording_id).exists():
        return False
    with blobs.staging_file("audio") as (stream, path):
        result = client.download(url, stream)
        stream.flush()
        raw_path = blobs.promote(path, kind="audio", sha256=result.sha256)
    try:
        with transaction.atomic():
            AudioRecording.objects.create(
                conversation=conversation,
                recording_id=recording_id,
                sha256=result.sha256,
                size_bytes=result.size,
                content_type=(content_type or result.content_type or "application/octet-stream")[:100],
                raw_path=raw_path,
                source=source,
                duration_ms=duration_ms if isinstance(duration_ms, int) else None,
            )
    except IntegrityError:  # stored concurrently: the same immutable blob, nothing to do
        return False
    logger.info(
        "audio stored conversation=%s recording=%s bytes=%d", conversation.genesys_id, recording_id, result.size
    )
    return True


def finish_fallback(conversation: Conversation, *, token: str, has_audio: bool) -> bool:
    if has_audio:
        return release(conversation, token=token, state=State.AUDIO_FALLBACK, next_attempt_at=None, last_error="")
    return release(
        conversation,
        token=token,
        state=State.FAILED,
        next_attempt_at=None,
        last_error="no recording available for the audio fallback",
    )


# ------------------------------------------------------------------------------------------ batches
def submit_batch(*, client, clock: Clock, token: str, conversations: list[Conversation]) -> str | None:
    now = now_of(clock)
    try:
        job_id = client.submit_batch_download([(c.genesys_id, None) for c in conversations])
    except (AuthenticationError, PermissionDeniedError):
        raise
    except GenesysError as exc:
        logger.warning("batch submit failed for %d conversations: %s", len(conversations), safe_error(exc))
        for conversation in conversations:
            record_failure(conversation, token=token, now=now, error=exc)
        return None
    SyncCursor.objects.create(
        name=f"{BATCH_PREFIX}{job_id}"[:64],
        watermark=now + timedelta(seconds=batch_poll_seconds()),
        last_run_at=now,
        last_result={"job_id": job_id, "conversations": [c.genesys_id for c in conversations]},
    )
    patience = now + timedelta(seconds=batch_patience_seconds())
    for conversation in conversations:
        release(conversation, token=token, next_attempt_at=patience, last_error=f"waiting for batch download {job_id}")
    logger.info("batch download submitted job=%s conversations=%d", job_id, len(conversations))
    return job_id


def next_batch_poll_at() -> datetime | None:
    return SyncCursor.objects.filter(name__startswith=BATCH_PREFIX).aggregate(at=Min("watermark"))["at"]


def poll_batches(*, client, clock: Clock) -> int:
    """Poll due batch jobs; store the results of completed ones. Returns the number of jobs finished."""
    finished = 0
    now = now_of(clock)
    for cursor in SyncCursor.objects.filter(name__startswith=BATCH_PREFIX, watermark__lte=now):
        # Claim the poll with a conditional UPDATE so two workers never poll (and download) the same job.
        claimed = SyncCursor.objects.filter(pk=cursor.pk, watermark=cursor.watermark).update(
            watermark=now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
        )
        if claimed:
            finished += poll_batch(client=client, clock=clock, cursor=cursor)
    return finished


def poll_batch(*, client, clock: Clock, cursor: SyncCursor) -> int:
    job_id = cursor.last_result.get("job_id") or cursor.name.removeprefix(BATCH_PREFIX)
    try:
        status = client.get_batch_download(job_id)
    except (AuthenticationError, PermissionDeniedError):
        raise
    except GenesysError as exc:
        logger.warning("batch poll failed job=%s: %s", job_id, safe_error(exc))
        status = {}
    results = status.get("results") or []
    expected = status.get("expectedResultCount")
    complete = status.get("status") == "Completed" and (expected is None or len(results) >= expected)
    if not complete:
        SyncCursor.objects.filter(pk=cursor.pk).update(
            watermark=now_of(clock) + timedelta(seconds=batch_poll_seconds())
        )
        return 0
    store_batch_results(
        client=client, clock=clock, members=cursor.last_result.get("conversations") or [], results=results
    )
    cursor.delete()
    return 1


def store_batch_results(*, client, clock: Clock, members: list[str], results: list[dict]) -> None:
    by_conversation: dict[str, list[dict]] = {genesys_id: [] for genesys_id in members}
    for result in results:
        by_conversation.setdefault(result.get("conversationId") or "", []).append(result)
    for genesys_id in members:
        now = now_of(clock)
        token, conversation = claim_one(genesys_id=genesys_id, now=now)
        if conversation is None:
            continue  # finished meanwhile, or another worker holds it
        if not conversation.needs_manual_review:
            release(conversation, token=token)
            continue
        error = None
        for result in by_conversation.get(genesys_id, []):
            if result.get("errorMsg") or not result.get("resultUrl"):
                error = GenesysError(f"recording.batch.get: result error for recording {result.get('recordingId')}")
                continue
            try:
                store_audio(
                    client=client,
                    conversation=conversation,
                    recording_id=result.get("recordingId") or genesys_id,
                    url=result["resultUrl"],
                    source="batch",
                    content_type=result.get("contentType"),
                )
            except (AuthenticationError, PermissionDeniedError):
                raise
            except GenesysError as exc:
                error = exc
        if conversation.recordings.exists():
            finish_fallback(conversation, token=token, has_audio=True)
        elif error is not None:
            record_failure(conversation, token=token, now=now, error=error)
        else:
            # The job listed nothing for it: ask the recordings API directly on its next round.
            release(conversation, token=token, next_attempt_at=now, last_error=BATCH_MISS)
