"""The review page's player: stored call audio streamed with HTTP Range support, and on-demand preparation.

`prepare` is the "Preparing audio" poll of a transcribed call without playable audio: it queues a background
fetch from Genesys (reviews/pipeline/audio_cache.py) and never waits for Genesys itself. It answers the player
region when what it shows changed, 204 otherwise; without JavaScript it is a form that redirects back.

`stream` serves kept audio and cached copies until their cached_until (an expired copy is a 404 even before the
sweep deletes it).

Blobs are encrypted at rest; blobs.open_blob gives a seekable plaintext view. Whatever Content-Type the
upstream claimed, audio is served only as one of AUDIO_TYPES (anything else is a download of
application/octet-stream), with nosniff and a sandboxing CSP, so a stored file can never run as a page.

Every GET is part of a playback session: the first request of a session (whatever its Range) writes one
PLAY_AUDIO event; the player's further range requests belong to the same session until it has been idle
for PLAY_SESSION_IDLE_SECONDS. The session marker lives in the Django cache (shared Redis in production;
with the per-process LocMem default a session spread over several processes may count once per process).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST, require_safe

from genesys.clock import SYSTEM_CLOCK
from reviews import audit, blobs
from reviews.models import AudioRecording, AuditEvent, Conversation
from reviews.pipeline import audio_cache
from reviews.pipeline.schedule import now_of

CHUNK_SIZE = 64 * 1024
RANGE_RE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")
PLAY_SESSION_IDLE_SECONDS = 10 * 60
# Stored Content-Type (lower case, parameters dropped) -> the type served and the file name's extension.
AUDIO_TYPES: dict[str, tuple[str, str]] = {
    "audio/wav": ("audio/wav", "wav"),
    "audio/wave": ("audio/wav", "wav"),
    "audio/x-wav": ("audio/wav", "wav"),
    "audio/vnd.wave": ("audio/wav", "wav"),
    "audio/mpeg": ("audio/mpeg", "mp3"),
    "audio/mp3": ("audio/mpeg", "mp3"),
    "audio/ogg": ("audio/ogg", "ogg"),
    "audio/opus": ("audio/opus", "opus"),
    "audio/webm": ("audio/webm", "webm"),
}
DOWNLOAD_TYPE = ("application/octet-stream", "bin")
# The response is a media file, never a document: no script, no plugin, no same-origin access if opened.
AUDIO_CSP = "default-src 'none'; sandbox"
# Tests replace it with genesys.clock.FakeClock.
CLOCK = SYSTEM_CLOCK


class UnsatisfiableRange(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte range asked for, or None to send the whole file.

    RFC 9110 lets a server ignore Range, so other units and multi-range requests get the
    full body (200). A well-formed range that cannot be satisfied raises UnsatisfiableRange.
    """
    header = header.strip()
    if not header.startswith("bytes=") or "," in header:
        return None
    match = RANGE_RE.match(header.replace(" ", ""))
    if not match or (not match["start"] and not match["end"]):
        raise UnsatisfiableRange
    if not match["start"]:  # suffix range: the last N bytes
        suffix = int(match["end"])
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange
        return max(size - suffix, 0), size - 1
    first = int(match["start"])
    last = int(match["end"]) if match["end"] else size - 1
    if first >= size or last < first:
        raise UnsatisfiableRange
    return first, min(last, size - 1)


def served_type(stored_content_type: str) -> tuple[str, str]:
    """(Content-Type, file extension) to serve a recording as: an allow-listed audio type or a download."""
    essence = (stored_content_type or "").split(";", 1)[0].strip().lower()
    return AUDIO_TYPES.get(essence, DOWNLOAD_TYPE)


class _Slice:
    """Bytes first..last of an open blob; closing the response closes the blob, read or not."""

    def __init__(self, stream, first: int, last: int):
        self.stream, self.first, self.last = stream, first, last

    def __iter__(self) -> Iterator[bytes]:
        self.stream.seek(self.first)
        remaining = self.last - self.first + 1
        while remaining > 0:
            chunk = self.stream.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk

    def close(self) -> None:
        self.stream.close()


def _get_recording_for_user(request: HttpRequest, conversation_id: str, recording_pk: int) -> AudioRecording:
    conversation = audit.conversation_or_404(request, conversation_id, operation="play_audio")
    recording = (
        AudioRecording.objects.select_related("conversation").filter(pk=recording_pk, conversation=conversation).first()
    )
    if recording is None or not recording.is_playable(now=now_of(CLOCK)):
        audit.deny(
            request,
            Http404("No such recording"),
            object_type="recording",
            object_id=recording_pk,
            reason="no such recording in this conversation" if recording is None else "cached copy expired",
            operation="play_audio",
            via="web",
        )
    return recording


def _audit_playback(request: HttpRequest, recording: AudioRecording) -> None:
    """One PLAY_AUDIO event per playback session of this recording in this login session, whatever the Range."""
    key = f"audio-play:{request.session.session_key}:{request.user.pk}:{recording.pk}"
    now = CLOCK.time()
    if not cache.add(key, now, timeout=PLAY_SESSION_IDLE_SECONDS):
        previous = cache.get(key)
        cache.set(key, now, timeout=PLAY_SESSION_IDLE_SECONDS)
        if previous is not None and now - previous <= PLAY_SESSION_IDLE_SECONDS:
            return  # a further range request of the same playback
    audit.record_event(
        request=request,
        action=AuditEvent.Action.PLAY_AUDIO,
        object_type="recording",
        object_id=recording.recording_id,
        detail={"conversation": recording.conversation.genesys_id},
    )


def _headers(response: HttpResponse, recording: AudioRecording, content_type: str, extension: str) -> None:
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in recording.recording_id) or "recording"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=(content_type, extension) == DOWNLOAD_TYPE, filename=f"{name}.{extension}"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = AUDIO_CSP
    response["Accept-Ranges"] = "bytes"


@login_required
@require_safe
def stream(request: HttpRequest, conversation_id: str, recording_pk: int) -> HttpResponse:
    recording = _get_recording_for_user(request, conversation_id, recording_pk)
    try:
        blob = blobs.open_blob(recording.raw_path)
    except FileNotFoundError:
        raise Http404("Audio file missing from the store") from None
    content_type, extension = served_type(recording.content_type)
    size = blob.size
    try:
        byte_range = parse_range(request.headers.get("Range", ""), size)
    except UnsatisfiableRange:
        blob.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        _headers(response, recording, content_type, extension)
        return response
    first, last = byte_range if byte_range is not None else (0, size - 1)
    if request.method == "HEAD":
        blob.close()
        body = []
    else:
        _audit_playback(request, recording)
        body = _Slice(blob, first, last)
    response = StreamingHttpResponse(body, status=200 if byte_range is None else 206, content_type=content_type)
    if byte_range is not None:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(last - first + 1)
    _headers(response, recording, content_type, extension)
    return response


def player_context(conversation: Conversation, status: audio_cache.AudioStatus, *, poll: bool = False) -> dict:
    """What templates/reviews/conversation.html#audio-player renders (the page and the poll answers)."""
    return {
        "conversation": conversation,
        "audio": status,
        "recordings": status.recordings,
        "audio_poll": poll,
        "audio_poll_seconds": audio_cache.POLL_SECONDS,
    }


def _since(request: HttpRequest) -> int | None:
    raw = request.POST.get("since", "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


@login_required
@require_POST
def prepare(request: HttpRequest, conversation_id: str) -> HttpResponse:
    conversation = audit.conversation_or_404(request, conversation_id, operation="prepare_audio")
    status = audio_cache.request_audio(conversation, now=now_of(CLOCK), since=_since(request))
    if not request.htmx:
        return redirect("conversation", conversation_id=conversation.genesys_id)
    if request.POST.get("shown") == status.key:
        return HttpResponse(status=204)  # nothing new: no swap, and no repeated announcement
    return render(request, "reviews/conversation.html#audio-player", player_context(conversation, status, poll=True))
