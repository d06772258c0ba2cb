"""Streams stored call audio with HTTP Range support so the <audio> element can seek."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe

from reviews import access, audit, blobs
from reviews.models import AudioRecording, AuditEvent

CHUNK_SIZE = 64 * 1024
RANGE_RE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")


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


def _read_slice(path: Path, first: int, last: int) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        stream.seek(first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = stream.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _get_recording_for_user(request: HttpRequest, conversation_id: str, recording_pk: int) -> AudioRecording:
    conversation = access.get_conversation_for_user(request.user, conversation_id)
    return get_object_or_404(AudioRecording, pk=recording_pk, conversation=conversation)


def _is_first_request(request: HttpRequest, byte_range: tuple[int, int] | None) -> bool:
    # Players fetch many ranges while seeking; audit only the request that starts playback.
    return request.method == "GET" and (byte_range is None or byte_range[0] == 0)


@login_required
@require_safe
def stream(request: HttpRequest, conversation_id: str, recording_pk: int) -> HttpResponse:
    recording = _get_recording_for_user(request, conversation_id, recording_pk)
    path = blobs.absolute_path(recording.raw_path)
    if not path.is_file():
        raise Http404("Audio file missing from the store")
    size = path.stat().st_size
    try:
        byte_range = parse_range(request.headers.get("Range", ""), size)
    except UnsatisfiableRange:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    if _is_first_request(request, byte_range):
        audit.record_event(
            request=request,
            action=AuditEvent.Action.PLAY_AUDIO,
            object_type="recording",
            object_id=recording.recording_id,
            detail={"conversation": conversation_id},
        )
    content_type = recording.content_type or "application/octet-stream"
    if byte_range is None:
        response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115 (FileResponse closes it)
    else:
        first, last = byte_range
        response = StreamingHttpResponse(_read_slice(path, first, last), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=0"
    return response
