from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from genesys.clock import FakeClock
from reviews import blobs
from reviews.models import AudioRecording, Conversation, Transcript

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
START = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)


def store_blob(data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    with blobs.staging_file("transcripts") as (stream, path):
        stream.write(data)
        stream.flush()
        return blobs.promote(path, kind="transcripts", sha256=sha), sha


@pytest.fixture
def clock():
    return FakeClock(START.timestamp() + 3600)


@pytest.fixture
def make_transcript(clock):
    """A stored transcript with its raw document in the blob store; keywords override fields."""
    counter = iter(range(1, 10_000))

    def make(*, conversation_id=None, communication_id=None, document=None, **fields):
        number = next(counter)
        conversation, _ = Conversation.objects.get_or_create(
            genesys_id=conversation_id or f"c0ffee00-0000-4000-8000-{number:012d}",
            defaults={
                "started_at": START,
                "ended_at": START + timedelta(minutes=4, seconds=2),
                "state": Conversation.State.STORED,
            },
        )
        raw = document or json.dumps({"conversationId": conversation.genesys_id, "n": number}).encode()
        raw_path, sha = store_blob(raw)
        values = {
            "communication_id": communication_id or f"5e550000-0000-4000-8000-{number:012d}",
            "transcript_id": f"7a000000-0000-4000-8000-{number:012d}",
            "language": "en-US",
            "recording_id": f"rec-{number}",
            "media_type": "call",
            "part_start_ms": 1200,
            "sha256": sha,
            "size_bytes": len(raw),
            "raw_path": raw_path,
            "first_available_at": START + timedelta(minutes=10),
            "stored_at": START + timedelta(minutes=11),
            "redaction_status": Transcript.RedactionStatus.VERIFIED,
            "mask_counts": {"card number": 2, "phone": 1},
            "leak_count": 0,
            "word_count": 120,
            "speaker_count": 2,
            "confidence_mean": 0.875,
        }
        values.update(fields)
        return Transcript.objects.create(conversation=conversation, **values)

    return make


class WebhookReceiver:
    """A local HTTP receiver: answers with `status` (changeable mid-test) and records every request."""

    def __init__(self, clock):
        self.clock = clock
        self.secret = WEBHOOK_SECRET
        self.status = 200
        self.headers: dict[str, str] = {}  # extra response headers, e.g. Retry-After
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    status = receiver.status
                    receiver.requests.append(
                        {"headers": dict(self.headers), "body": body, "at": receiver.clock.time(), "status": status}
                    )
                self.send_response(status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def webhook_receiver(clock, settings):
    receiver = WebhookReceiver(clock)
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.COMPLIANCE_SINKS = ["webhook"]
    settings.COMPLIANCE_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/compliance"
    settings.COMPLIANCE_WEBHOOK_SECRET = WEBHOOK_SECRET
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def store_audio_blob(data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    with blobs.staging_file("audio") as (stream, path):
        stream.write(data)
        stream.flush()
        return blobs.promote(path, kind="audio", sha256=sha), sha


@pytest.fixture
def make_audio_only_call():
    """An audio-only call: state audio_fallback, no transcript, its recordings in the audio blob store."""
    counter = iter(range(1, 10_000))

    def make(*, recordings=(b"RIFF....WAVEfmt fake call audio",)):
        number = next(counter)
        conversation = Conversation.objects.create(
            genesys_id=f"a0d10000-0000-4000-8000-{number:012d}",
            started_at=START,
            ended_at=START + timedelta(minutes=3),
            direction="inbound",
            state=Conversation.State.AUDIO_FALLBACK,
        )
        for index, audio in enumerate(recordings, start=1):
            raw_path, sha = store_audio_blob(audio)
            AudioRecording.objects.create(
                conversation=conversation,
                recording_id=f"rec-audio-{number}-{index}",
                sha256=sha,
                size_bytes=len(audio),
                content_type="audio/wav",
                raw_path=raw_path,
                duration_ms=180_000,
                stored_at=START + timedelta(minutes=20),
            )
        return conversation

    return make


def deliver_twice(clock, settings) -> None:
    """Every due row reaches its sink twice: a relay delivers and dies before marking the row delivered, then
    another relay takes the row over once the lease ran out and delivers it again (at least once)."""
    from reviews.compliance import relay, sinks

    for message in relay.claim_due(clock=clock, limit=100):
        assert sinks.deliver(message, clock=clock).result == "delivered", message
    clock.advance(settings.COMPLIANCE_LEASE_SECONDS + 1)
    while relay.relay_due(clock=clock).handled:
        pass
