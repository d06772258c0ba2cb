"""Audio fallback: keep the call recording when the transcript never came, is empty or is unparseable.

Only `media == audio` recordings are call audio (screen recordings are not kept), and every recording state
ends somewhere (genesys-api.md §6, §12):
- AVAILABLE / RESTORED with a media URI: streamed into the audio blob store.
- ARCHIVED: restored with `PUT …/recordings/{id}` (a new archiveDate) where the role allows, then fetched
  once RESTORED; without the permission the conversation ends `archived`, naming it.
- RESTORING, UPLOADING, or a 202 "transcoding": come back later, for at most AUDIO_WAIT_MAX_SECONDS.
- DELETED, ERROR: `audio_unavailable` with the reason.
Fallback audio is kept (AudioRecording.kept): it is the call's record. A playback copy the review page cached
earlier (reviews/pipeline/audio_cache.py) is made kept rather than fetched again. store_audio is also how the
on-demand audio cache stores its copies.

Routes: when BATCH_MIN or more conversations are due in one round, one batch request covers up to 100 of
them (a BatchJob row; any worker polls it). A job that 404s (expired, or lost) is resubmitted once; after
that, or when it takes too long, its members use the recordings API one by one, which also tells archived,
deleted and restricted recordings apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min, Q

from genesys.client import parse_time
from genesys.clock import Clock
from genesys.errors import AuthenticationError, GenesysError, NotFoundError, PermissionDeniedError, RateLimitedError
from reviews import blobs
from reviews.compliance.outbox import record_audio_archive
from reviews.models import AudioRecording, BatchJob, Conversation
from reviews.pipeline.leases import claim
from reviews.pipeline.schedule import audio_retry_at, audio_wait_over, now_of, span
from reviews.pipeline.transitions import (
    audio_kept,
    audio_not_yet,
    audio_routed,
    audio_unavailable,
    record_error,
    recording_archived,
    restrict,
    safe_error,
)

logger = logging.getLogger(__name__)
State = Conversation.State
Route = Conversation.AudioRoute

# A batch costs a submit plus at least one status poll, so it only pays off from three conversations.
BATCH_MIN = 3
BATCH_MAX = 100
# Genesys waits this long for transcoding before answering 202; small, because a worker must not idle.
RECORDINGS_MAX_WAIT_MS = 2000
PREFERRED_MEDIA_KEYS = ("S", "0")
AVAILABLE_STATES = frozenset({"AVAILABLE", "RESTORED"})
WAITING_STATES = frozenset({"RESTORING", "UPLOADING"})
RESTORE_PERMISSION = "recording:recording:editRetention"
_FATAL = (AuthenticationError, RateLimitedError)


def batch_poll_seconds() -> float:
    return settings.TRANSCRIPT_POLL_BASE_SECONDS


def batch_patience_seconds() -> float:
    """How long members wait for their batch before they are fetched on their own (the job may be stuck)."""
    return max(settings.PIPELINE_LEASE_SECONDS, 10 * settings.TRANSCRIPT_POLL_BASE_SECONDS)


def is_audio(recording: dict) -> bool:
    return (recording.get("media") or "audio") == "audio"


def fetch_audio(*, client, clock: Clock, token: str, conversations: list[Conversation]) -> None:
    """Fetch recordings for conversations awaiting audio (all leased with `token`)."""
    now = now_of(clock)
    undecided = [c for c in conversations if c.audio_route == Route.UNDECIDED]
    singles = [c for c in conversations if c.audio_route != Route.UNDECIDED]
    if len(undecided) >= BATCH_MIN:
        for start in range(0, len(undecided), BATCH_MAX):
            submit_batch(client=client, now=now, token=token, conversations=undecided[start : start + BATCH_MAX])
    else:
        singles += undecided
    for conversation in singles:
        # A member whose batch outlived its patience (this claim means it did) is fetched on its own.
        try:
            fetch_recordings(client=client, clock=clock, token=token, conversation=conversation)
        except _FATAL:
            raise
        except PermissionDeniedError as exc:
            restrict(conversation, token=token, now=now_of(clock), error=exc)
        except GenesysError as exc:
            logger.warning("recording fetch failed conversation=%s: %s", conversation.genesys_id, safe_error(exc))
            record_error(conversation, token=token, now=now_of(clock), error=exc)


def media_uri_of(recording: dict) -> str | None:
    uris = recording.get("mediaUris") or {}
    for key in PREFERRED_MEDIA_KEYS:
        if (uris.get(key) or {}).get("mediaUri"):
            return uris[key]["mediaUri"]
    for value in uris.values():
        if isinstance(value, dict) and value.get("mediaUri"):
            return value["mediaUri"]
    return None


@dataclass
class _Outcome:
    """What one recordings answer says about a conversation's audio."""

    pending: list[str] = field(default_factory=list)  # why we must come back (transcoding, restoring, uploading)
    gone: list[str] = field(default_factory=list)  # why a recording will never be there (deleted, error)
    archived_denied: str | None = None


def fetch_recordings(*, client, clock: Clock, token: str, conversation: Conversation) -> None:
    now = now_of(clock)
    try:
        recordings = client.list_recordings(
            conversation.genesys_id, format_id=settings.RECORDING_FORMAT, max_wait_ms=RECORDINGS_MAX_WAIT_MS
        )
    except NotFoundError:
        audio_unavailable(conversation, token=token, now=now, outcome="Genesys has no recording of this conversation")
        return
    outcome = _Outcome()
    if recordings is None:
        # 202: Genesys is transcoding. Come back later; nothing sleeps here, and the wait is bounded.
        outcome.pending.append("recording is transcoding")
        recordings = []
    for recording in [r for r in recordings if is_audio(r) and r.get("id")]:
        handle_recording(client=client, conversation=conversation, recording=recording, now=now, outcome=outcome)
    conclude(conversation, token=token, now=now, outcome=outcome)


def handle_recording(*, client, conversation: Conversation, recording: dict, now: datetime, outcome: _Outcome) -> None:
    recording_id = recording["id"]
    if already_kept(conversation, recording_id):
        return
    state = (recording.get("fileState") or "AVAILABLE").upper()
    uri = media_uri_of(recording)
    if state in AVAILABLE_STATES and uri:
        store_audio(
            client=client,
            conversation=conversation,
            recording_id=recording_id,
            url=uri,
            source="recordings",
            duration_ms=recording.get("outputDurationMs"),
            start_offset_ms=start_offset_ms(conversation, recording),
        )
    elif state in AVAILABLE_STATES or state in WAITING_STATES:
        outcome.pending.append(
            f"recording {state.lower()}" if state in WAITING_STATES else "recording has no media yet"
        )
    elif state == "ARCHIVED":
        restore(client=client, conversation=conversation, recording_id=recording_id, now=now, outcome=outcome)
    elif state == "DELETED":
        outcome.gone.append("recording deleted in Genesys")
    elif state == "ERROR":
        outcome.gone.append("recording in ERROR state in Genesys")
    else:
        outcome.gone.append(f"recording in unknown state {state[:20]}")


def restore(*, client, conversation: Conversation, recording_id: str, now: datetime, outcome: _Outcome) -> None:
    """Ask Genesys to restore an archived recording for AUDIO_RESTORE_DAYS (a later archiveDate)."""
    try:
        client.restore_recording(
            conversation.genesys_id, recording_id, archive_date=now + timedelta(days=settings.AUDIO_RESTORE_DAYS)
        )
    except PermissionDeniedError as exc:
        permission = ", ".join(exc.missing_permissions) or RESTORE_PERMISSION
        outcome.archived_denied = f"recording archived in Genesys; restoring it needs {permission}"
        return
    logger.info("archived recording restore requested conversation=%s", conversation.genesys_id)
    outcome.pending.append("archived recording is being restored")


def conclude(conversation: Conversation, *, token: str, now: datetime, outcome: _Outcome) -> None:
    """Wait for pending recordings (at most AUDIO_WAIT_MAX_SECONDS), then end: audio kept, archived, or none."""
    if outcome.pending and not audio_wait_over(conversation, now=now):
        why = "; ".join(outcome.pending)
        audio_not_yet(conversation, token=token, now=now, next_at=audio_retry_at(conversation, now=now), note=why)
        return
    given_up = [f"{why} for over {span(settings.AUDIO_WAIT_MAX_SECONDS)}" for why in outcome.pending]
    notes = [*outcome.gone, *given_up, *([outcome.archived_denied] if outcome.archived_denied else [])]
    if conversation.recordings.exists():
        # Archived before the state moves: a crash in between leaves the rows for the next worker to find.
        record_audio_archive(conversation, now=now)
        audio_kept(conversation, token=token, now=now, note="; ".join(notes))
    elif outcome.archived_denied:
        recording_archived(conversation, token=token, now=now, outcome=outcome.archived_denied)
    else:
        reason = "; ".join(notes) or "Genesys lists no audio recording for this conversation"
        audio_unavailable(conversation, token=token, now=now, outcome=reason)


def already_kept(conversation: Conversation, recording_id: str) -> bool:
    """Whether the vault already keeps this recording. A playback copy cached for the review page
    (reviews/pipeline/audio_cache.py) becomes the kept record instead of being fetched twice."""
    row = AudioRecording.objects.filter(conversation=conversation, recording_id=recording_id).first()
    if row is None:
        return False
    if not row.kept:
        row.keep()
    # The audio cache sweep may have deleted the copy first: then it is fetched again.
    return AudioRecording.objects.filter(pk=row.pk, kept=True).exists()


def start_offset_ms(conversation: Conversation, recording: dict) -> int | None:
    """Where a recording starts in the call (its startTime - the conversation start), for the player's timeline."""
    started = parse_time(recording.get("startTime"))
    if started is None or conversation.started_at is None:
        return None
    return int((started - conversation.started_at).total_seconds() * 1000)


def store_audio(
    *,
    client,
    conversation: Conversation,
    recording_id: str,
    url: str,
    source: str,
    duration_ms=None,
    content_type: str | None = None,
    cached_until: datetime | None = None,
    start_offset_ms: int | None = None,
) -> bool:
    """Stream one recording into the blob store and record it; False when it was already stored.

    Kept (the vault's record) unless `cached_until` is given: then it is a playback copy until that moment."""
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
                kept=cached_until is None,
                cached_until=cached_until,
                start_offset_ms=start_offset_ms,
            )
    except IntegrityError:  # stored concurrently: the same immutable blob, nothing to do
        return False
    logger.info(
        "audio stored conversation=%s recording=%s bytes=%d", conversation.genesys_id, recording_id, result.size
    )
    return True


# ------------------------------------------------------------------------------------------ batches
def submit_batch(
    *, client, now: datetime, token: str, conversations: list[Conversation], resubmission_of: BatchJob | None = None
) -> BatchJob | None:
    try:
        job_id = client.submit_batch_download([(c.genesys_id, None) for c in conversations])
    except _FATAL:
        raise
    except GenesysError as exc:
        # Batch download is an optimisation: without it (denied, down) each conversation uses the recordings API.
        logger.warning("batch submit failed for %d conversations: %s", len(conversations), safe_error(exc))
        for conversation in conversations:
            audio_routed(conversation, token=token, now=now, route=Route.RECORDINGS, next_at=now)
        return None
    job = BatchJob.objects.create(
        job_id=job_id[:64],
        submitted_at=now,
        next_poll_at=now + timedelta(seconds=batch_poll_seconds()),
        member_ids=[c.genesys_id for c in conversations],
        resubmission_of=resubmission_of,
    )
    patience = now + timedelta(seconds=batch_patience_seconds())
    for conversation in conversations:
        audio_routed(
            conversation,
            token=token,
            now=now,
            route=Route.BATCH,
            batch=job,
            next_at=patience,
            note=f"waiting for batch download {job_id}",
        )
    logger.info("batch download submitted job=%s conversations=%d", job_id, len(conversations))
    return job


def next_batch_poll_at() -> datetime | None:
    return BatchJob.objects.filter(state=BatchJob.State.PENDING).aggregate(at=Min("next_poll_at"))["at"]


def poll_batches(*, client, clock: Clock) -> int:
    """Poll due batch jobs; store the results of completed ones. Returns the number of jobs finished."""
    finished = 0
    now = now_of(clock)
    for job in BatchJob.objects.filter(state=BatchJob.State.PENDING, next_poll_at__lte=now):
        # Claim the poll with a conditional UPDATE so two workers never poll (and download) the same job.
        claimed = BatchJob.objects.filter(pk=job.pk, next_poll_at=job.next_poll_at).update(
            next_poll_at=now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
        )
        if claimed:
            finished += poll_batch(client=client, clock=clock, job=job)
    return finished


def poll_batch(*, client, clock: Clock, job: BatchJob) -> int:
    now = now_of(clock)
    try:
        status = client.get_batch_download(job.job_id)
    except _FATAL:
        raise
    except (NotFoundError, PermissionDeniedError) as exc:
        # Jobs expire, and only the submitting client may read one: this job is gone.
        job_lost(client=client, clock=clock, job=job, reason=safe_error(exc))
        return 1
    except GenesysError as exc:
        logger.warning("batch poll failed job=%s: %s", job.job_id, safe_error(exc))
        status = {}
    results = status.get("results") or []
    expected = status.get("expectedResultCount")
    complete = status.get("status") == "Completed" and (expected is None or len(results) >= expected)
    if complete:
        store_batch_results(client=client, clock=clock, job=job, results=results)
        finish_job(job, state=BatchJob.State.COMPLETED, now=now_of(clock))
        return 1
    if now - job.submitted_at >= timedelta(seconds=batch_patience_seconds()):
        finish_job(job, state=BatchJob.State.ABANDONED, now=now, error="still in progress after its patience")
        members_to_recordings(job, now=now)
        return 1
    BatchJob.objects.filter(pk=job.pk).update(
        polls=job.polls + 1, next_poll_at=now + timedelta(seconds=batch_poll_seconds())
    )
    return 0


def finish_job(job: BatchJob, *, state: str, now: datetime, error: str = "") -> None:
    BatchJob.objects.filter(pk=job.pk).update(state=state, finished_at=now, next_poll_at=None, last_error=error[:300])


def job_lost(*, client, clock: Clock, job: BatchJob, reason: str) -> None:
    """A 404 job: resubmit its waiting members once; a lost resubmission sends them to the recordings API."""
    now = now_of(clock)
    finish_job(job, state=BatchJob.State.LOST, now=now, error=reason)
    if job.resubmission_of_id is not None:
        members_to_recordings(job, now=now)
        return
    token, members = claim(now=now, limit=BATCH_MAX, extra=Q(audio_batch=job), due=False)
    if members:
        logger.info("batch job lost, resubmitting job=%s conversations=%d", job.job_id, len(members))
        submit_batch(client=client, now=now, token=token, conversations=members, resubmission_of=job)


def members_to_recordings(job: BatchJob, *, now: datetime) -> None:
    token, members = claim(now=now, limit=BATCH_MAX, extra=Q(audio_batch=job), due=False)
    for conversation in members:
        audio_routed(conversation, token=token, now=now, route=Route.RECORDINGS, next_at=now)


def store_batch_results(*, client, clock: Clock, job: BatchJob, results: list[dict]) -> None:
    by_conversation: dict[str, list[dict]] = {}
    for result in results:
        by_conversation.setdefault(result.get("conversationId") or "", []).append(result)
    now = now_of(clock)
    token, members = claim(now=now, limit=BATCH_MAX, extra=Q(audio_batch=job), due=False)
    for conversation in members:
        try:
            store_member_results(
                client=client, conversation=conversation, results=by_conversation.get(conversation.genesys_id, [])
            )
        except _FATAL:
            raise
        except GenesysError as exc:
            record_error(conversation, token=token, now=now_of(clock), error=exc)
            continue
        if conversation.recordings.exists():
            record_audio_archive(conversation, now=now_of(clock))
            audio_kept(conversation, token=token, now=now_of(clock))
        else:
            # Nothing usable in the batch (archived, deleted, denied, only screen media): the recordings API
            # says which, one conversation at a time.
            audio_routed(conversation, token=token, now=now_of(clock), route=Route.RECORDINGS, next_at=now)


def store_member_results(*, client, conversation: Conversation, results: list[dict]) -> None:
    for result in results:
        content_type = (result.get("contentType") or "").lower()
        if result.get("errorMsg") or not result.get("resultUrl"):
            continue
        if content_type and not content_type.startswith("audio/"):
            continue  # screen recordings (video/webm) are not call audio
        recording_id = result.get("recordingId") or conversation.genesys_id
        if already_kept(conversation, recording_id):
            continue
        store_audio(
            client=client,
            conversation=conversation,
            recording_id=recording_id,
            url=result["resultUrl"],
            source="batch",
            content_type=result.get("contentType"),
        )
