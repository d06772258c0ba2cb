"""Kept recordings of audio-only calls, as the audio fallback leaves them, for the speech-to-text tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from reviews import blobs
from reviews.models import AudioRecording, Conversation

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def audio_only_call(genesys_id: str = "conv-audio-1", *, wav: bytes = b"RIFF", started: datetime = NOW) -> Conversation:
    """An audio-fallback conversation whose recording `wav` is kept in the blob store."""
    conversation = Conversation.objects.create(
        genesys_id=genesys_id,
        state=Conversation.State.AUDIO_FALLBACK,
        started_at=started - timedelta(hours=3),
        ended_at=started - timedelta(hours=2, minutes=50),
        communication_ids=[f"{genesys_id}-comm"],
    )
    keep_recording(conversation, wav=wav, recording_id=f"{genesys_id}-rec")
    return conversation


def keep_recording(conversation: Conversation, *, wav: bytes, recording_id: str, offset_ms: int = 0) -> None:
    sha256 = hashlib.sha256(wav).hexdigest()
    with blobs.staging_file("audio") as (stream, path):
        stream.write(wav)
        stream.flush()
        raw_path = blobs.promote(path, kind="audio", sha256=sha256)
    AudioRecording.objects.create(
        conversation=conversation,
        recording_id=recording_id,
        sha256=sha256,
        size_bytes=len(wav),
        content_type="audio/wav",
        raw_path=raw_path,
        start_offset_ms=offset_ms,
    )
