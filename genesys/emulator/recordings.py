"""Recordings for the Emulator: list/get/metadata, the restore PUT, and batch downloads (genesys-api.md §6).

File states (`Emulator.recording_file_state`): a recording's state comes from the dataset (`SimRecording`) and
the clock: UPLOADING turns AVAILABLE `DatasetShape.uploading_seconds` after the call ends; an ARCHIVED one
becomes RESTORING after an accepted PUT and RESTORED `OrgBehaviour.restore_seconds` later. Only AVAILABLE and
RESTORED recordings have media: the others answer 200 with their fileState and no mediaUris (never 202), and
batch results for them carry an `errorMsg` and no resultUrl. Screen recordings (media "screen") are WebM.
Every recorded call has its audio recording, a WAV as long as the call (audio.py): outputDurationMs says so.
Conversations in denied divisions answer 403 on every recording endpoint; their batch items say "Access denied".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from .data import SimConversation, SimRecording, iso_ms
from .documents import screen_webm_bytes
from .protocol import ApiError, not_found, parse_datetime, require_object
from .resources import API_PREFIX, recording_json, recording_metadata_json

BATCH_MAX_ITEMS = 100
RECORDING_FORMATS = ("WAV", "WEBM", "WAV_ULAW", "OGG_VORBIS", "OGG_OPUS", "MP3", "NONE")
MEDIA_STATES = ("AVAILABLE", "RESTORED")
UNAVAILABLE_MESSAGES = {
    "ARCHIVED": "Recording is archived",
    "RESTORING": "Recording is being restored",
    "DELETED": "Recording is deleted",
    "ERROR": "Recording is in an error state",
    "UPLOADING": "Recording is uploading",
}
ACCESS_DENIED = "Access denied"


@dataclass
class BatchJob:
    id: str
    created_at: float
    done_at: float
    results: list[dict]  # {"conversationId", "recordingId", "errorMsg"|None}


@dataclass
class Restore:
    requested_at: float
    archive_date: datetime  # when the restored recording is archived again (the PUT's archiveDate)


class RecordingEndpoints:
    """Mixed into Emulator; uses its dataset, clock, behaviour, faults and presigner."""

    # ------------------------------------------------------------------ ground truth

    def recording_file_state(self, conv: SimConversation, recording_id: str) -> str:
        """The recording's fileState at the emulator clock's now."""
        recording = conv.recording(recording_id)
        if recording is None:
            raise KeyError(recording_id)
        now = self._now()
        if recording.file_state == "UPLOADING":
            uploading_seconds = self.dataset.shape.uploading_seconds if self.dataset.shape else 600.0
            return "AVAILABLE" if now >= conv.end.timestamp() + uploading_seconds else "UPLOADING"
        if recording.file_state == "ARCHIVED":
            with self._lock:
                restore = self._restores.get((conv.conversation_id, recording_id))
            if restore is None:
                return "ARCHIVED"
            return "RESTORED" if now >= restore.requested_at + self.behaviour.restore_seconds else "RESTORING"
        return recording.file_state

    def _state_dates(self, conv: SimConversation, recording: SimRecording, state: str) -> dict[str, str]:
        if state == "DELETED":
            return {"deleteDate": iso_ms(conv.end)}
        if state == "ARCHIVED":
            return {"archiveDate": iso_ms(conv.end), "archiveMedium": "CLOUDARCHIVE"}
        if state in ("RESTORING", "RESTORED"):
            with self._lock:
                restore = self._restores[(conv.conversation_id, recording.recording_id)]
            archive_date = iso_ms(restore.archive_date)
            return {"archiveDate": archive_date, "archiveMedium": "CLOUDARCHIVE", "restoreExpirationTime": archive_date}
        return {}

    # ------------------------------------------------------------------ shared checks

    def _conversation_or_404(self, conversation_id: str) -> SimConversation:
        conv = self._visible(self.dataset.conversation(conversation_id))
        if conv is None:
            raise not_found()
        return conv

    def _readable_conversation(self, conversation_id: str) -> SimConversation:
        conv = self._conversation_or_404(conversation_id)
        self._require_division_rights(conv)
        return conv

    def _transcoded(self, conv: SimConversation, format_id: str, max_wait_ms: int) -> int | None:
        """Transcode time in ms once AVAILABLE, else None (202). The first request starts the transcode."""
        now = self._now()
        key = (conv.conversation_id, format_id)
        with self._lock:
            if key not in self._transcode_ready:
                seconds = self.faults.transcode_seconds()
                self._transcode_ready[key] = (now + seconds, seconds)
            ready_at, seconds = self._transcode_ready[key]
        remaining = ready_at - now
        if remaining > 0:
            if remaining > max_wait_ms / 1000:
                return None
            self.clock.sleep(remaining)  # the server holds the request up to maxWaitMs, as Genesys does
        return int(seconds * 1000)

    def _media_uri(self, conv: SimConversation, recording_id: str, format_id: str) -> str | None:
        if format_id == "NONE":
            return None
        recording = conv.recording(recording_id)
        extension = "webm" if recording is not None and recording.media == "screen" else "wav"
        key = f"recordings/{self.dataset.organization_id}/{conv.conversation_id}/{recording_id}.{extension}"
        return self.presign(key, f"recording:{conv.conversation_id}:{recording_id}")

    def _recording_body(
        self, conv: SimConversation, recording: SimRecording, state: str, format_id: str | None, transcode_ms: int
    ) -> dict:
        has_media = state in MEDIA_STATES and format_id is not None
        media_uri = self._media_uri(conv, recording.recording_id, format_id) if has_media else None
        size = len(screen_webm_bytes(recording.recording_id)) if recording.media == "screen" else None
        body = recording_json(
            self.dataset,
            conv,
            recording.recording_id,
            media_uri,
            transcode_ms,
            file_state=state,
            dates=self._state_dates(conv, recording, state),
            output_size=size,
        )
        if recording.media == "audio":
            body["outputDurationMs"] = conv.duration_ms  # the served WAV is as long as the call (audio.py)
        return body

    # ------------------------------------------------------------------ endpoints

    def _api_recording_list(self, conversation_id, *, query, body) -> tuple[int, list | None]:
        conv = self._readable_conversation(conversation_id)
        if conv.end.timestamp() > self._now():
            return 200, []  # still in progress: nothing recorded to hand out yet
        format_id = _format_id(query)
        recordings = conv.recordings
        states = [self.recording_file_state(conv, r.recording_id) for r in recordings]
        transcode_ms = 0
        if any(state in MEDIA_STATES for state in states):  # nothing to transcode: answer at once, never 202
            transcode_ms = self._transcoded(conv, format_id, _max_wait_ms(query))
            if transcode_ms is None:
                return 202, None
        return 200, [
            self._recording_body(conv, r, state, format_id, transcode_ms)
            for r, state in zip(recordings, states, strict=True)
        ]

    def _api_recording_get(self, conversation_id, recording_id, *, query, body) -> tuple[int, dict | None]:
        conv = self._readable_conversation(conversation_id)
        if recording_id not in conv.recording_ids or conv.end.timestamp() > self._now():
            raise not_found()
        format_id = _format_id(query)
        recording = conv.recording(recording_id)
        state = self.recording_file_state(conv, recording_id)
        transcode_ms = 0
        if state in MEDIA_STATES:
            transcode_ms = self._transcoded(conv, format_id, _max_wait_ms(query, default=0))
            if transcode_ms is None:
                return 202, None
        return 200, self._recording_body(conv, recording, state, format_id, transcode_ms)

    def _api_recording_update(self, conversation_id, recording_id, *, query, body) -> tuple[int, dict]:
        """PUT: a future `archiveDate` on an ARCHIVED recording restores it; anything else changes nothing."""
        conv = self._readable_conversation(conversation_id)
        if recording_id not in conv.recording_ids or conv.end.timestamp() > self._now():
            raise not_found()
        body = require_object(body)
        recording = conv.recording(recording_id)
        if self.recording_file_state(conv, recording_id) == "ARCHIVED":
            archive_date = _future_archive_date(body, self._now_dt())
            with self._lock:
                self._restores[(conv.conversation_id, recording_id)] = Restore(self._now(), archive_date)
        state = self.recording_file_state(conv, recording_id)
        return 200, self._recording_body(conv, recording, state, None, 0)

    def _api_recording_metadata(self, conversation_id, *, query, body) -> tuple[int, list]:
        conv = self._readable_conversation(conversation_id)
        if conv.end.timestamp() > self._now():
            return 200, []
        listed = []
        for recording in conv.recordings:
            state = self.recording_file_state(conv, recording.recording_id)
            dates = self._state_dates(conv, recording, state)
            listed.append(
                recording_metadata_json(self.dataset, conv, recording.recording_id, file_state=state, dates=dates)
            )
        return 200, listed

    def _api_recording_batch_submit(self, *, query, body) -> tuple[int, dict]:
        items = require_object(body).get("batchDownloadRequestList")
        if not isinstance(items, list) or not items or len(items) > BATCH_MAX_ITEMS:
            raise ApiError(
                400,
                "invalid.value",
                f"batchDownloadRequestList must contain between 1 and {BATCH_MAX_ITEMS} items.",
                [{"errorCode": "INVALID_VALUE", "fieldName": "batchDownloadRequestList"}],
            )
        results = []
        for item in items:
            results.extend(self._batch_results(item if isinstance(item, dict) else {}))
        now = self._now()
        job = BatchJob(str(uuid.uuid4()), now, now + 2.0 + 0.05 * len(results), results)
        with self._lock:
            self._jobs[job.id] = job
            if self._first_job_id is None:
                self._first_job_id = job.id
        return 200, {"id": job.id, "selfUri": f"{API_PREFIX}/recording/batchrequests/{job.id}"}

    def _batch_results(self, item: dict) -> list[dict]:
        conversation_id, recording_id = item.get("conversationId"), item.get("recordingId")
        conv = self._visible(self.dataset.conversation(str(conversation_id)))
        if conv is None or conv.end.timestamp() > self._now():
            return [
                {"conversationId": conversation_id, "recordingId": recording_id, "errorMsg": "Conversation not found"}
            ]
        if recording_id is None:
            return [
                {"conversationId": conv.conversation_id, "recordingId": rid, "errorMsg": self._batch_error(conv, rid)}
                for rid in conv.recording_ids
            ]
        if recording_id not in conv.recording_ids:
            return [{"conversationId": conversation_id, "recordingId": recording_id, "errorMsg": "Recording not found"}]
        return [
            {
                "conversationId": conversation_id,
                "recordingId": recording_id,
                "errorMsg": self._batch_error(conv, recording_id),
            }
        ]

    def _batch_error(self, conv: SimConversation, recording_id: str) -> str | None:
        if self.is_restricted(conv):
            return ACCESS_DENIED
        return UNAVAILABLE_MESSAGES.get(self.recording_file_state(conv, recording_id))

    def _api_recording_batch_get(self, job_id, *, query, body) -> tuple[int, dict]:
        with self._lock:
            job = self._jobs.get(job_id)
            lost = job is not None and self.behaviour.batch_first_job_lost and job_id == self._first_job_id
        now = self._now()
        ttl = self.behaviour.batch_job_ttl_s
        if job is None or lost or (ttl is not None and now >= job.created_at + ttl):
            raise not_found()
        span = max(job.done_at - job.created_at, 1e-9)
        revealed = (
            len(job.results) if now >= job.done_at else int(len(job.results) * max(0.0, now - job.created_at) / span)
        )
        results = []
        for result in job.results[:revealed]:
            entry = {"conversationId": result["conversationId"], "recordingId": result["recordingId"]}
            if result["errorMsg"]:
                entry["errorMsg"] = result["errorMsg"]
            else:
                conv = self.dataset.conversation(result["conversationId"])
                recording = conv.recording(result["recordingId"])
                entry["resultUrl"] = self._media_uri(conv, result["recordingId"], "WAV")
                entry["contentType"] = "video/webm" if recording and recording.media == "screen" else "audio/wav"
            results.append(entry)
        return 200, {
            "id": job.id,
            "jobId": job.id,
            "expectedResultCount": len(job.results),
            "resultCount": revealed,
            "errorCount": sum(1 for r in results if "errorMsg" in r),
            "status": "Completed" if revealed == len(job.results) else "InProgress",
            "results": results,
            "selfUri": f"{API_PREFIX}/recording/batchrequests/{job.id}",
        }


def _future_archive_date(body: dict, now: datetime) -> datetime:
    try:
        archive_date = parse_datetime(body.get("archiveDate"))
    except ValueError:
        archive_date = None
    if archive_date is None or archive_date <= now:
        raise ApiError(
            400,
            "invalid.value",
            "To restore an archived recording, archiveDate must be a date-time later than now.",
            [{"errorCode": "invalid.value", "fieldName": "archiveDate"}],
        )
    return archive_date.astimezone(UTC)


def _format_id(query: dict) -> str:
    media_formats = query.get("mediaFormats")
    value = media_formats[0].split(",")[0] if media_formats else query.get("formatId", ["WEBM"])[0]
    if value not in RECORDING_FORMATS:
        raise ApiError(400, "invalid.value", f"Value [{value}] is not valid for field type [formatId].")
    return value


def _max_wait_ms(query: dict, default: int = 5000) -> int:
    try:
        return max(0, int(query.get("maxWaitMs", [str(default)])[0]))
    except ValueError:
        raise ApiError(400, "invalid.value", "maxWaitMs must be an integer.") from None
