"""Personas and a small archive for the page tests.

alice: Reviewer of queue Q1. bob: Supervisor of division D1. carol: Compliance (sees all, read-only).
admin: staff superuser, which opens the admin and no conversation (reviews/access.py). The clients are signed in
the whole way: carol and admin also have a verified TOTP device (tests.fixtures.accounts.sign_in).
`conversation` is in Q1/D1 and has a transcript; `other_conversation` is in Q2/D2.
`two_parts` is in Q1/D1 with two transcript documents: the customer leg's first recording segment and, later, a
consult agent's leg (gzip-served), created in reverse time order so that ordering is by part_start_ms, not id.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from reviews import blobs
from reviews.models import (
    AccessScope,
    Agent,
    AudioRecording,
    Conversation,
    Division,
    OutboxMessage,
    Queue,
    RedactionFinding,
    Transcript,
    Utterance,
)
from tests.fixtures.accounts import sign_in

XSS = '<script>alert("x")</script>'
AUDIO_BYTES = bytes(range(256)) * 4  # 1024 bytes, each offset recognisable


def _user(username: str, *, group: str | None = None, **extra) -> User:
    user = User.objects.create_user(username, password="pw", **extra)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def d1(db):
    return Division.objects.create(genesys_id="div-1", name="D1")


@pytest.fixture
def d2(db):
    return Division.objects.create(genesys_id="div-2", name="D2")


@pytest.fixture
def q1(d1):
    return Queue.objects.create(genesys_id="queue-1", name="Q1 Billing", division=d1)


@pytest.fixture
def q2(d2):
    return Queue.objects.create(genesys_id="queue-2", name="Q2 Claims", division=d2)


@pytest.fixture
def alice(q1):
    user = _user("alice", group="Reviewer")
    AccessScope.objects.create(user=user).queues.add(q1)
    return user


@pytest.fixture
def bob(d1):
    user = _user("bob", group="Supervisor")
    AccessScope.objects.create(user=user).divisions.add(d1)
    return user


@pytest.fixture
def carol(db):
    return _user("carol", group="Compliance")


@pytest.fixture
def admin_user(db):
    return _user("admin", is_staff=True, is_superuser=True)


def _client_for(user) -> Client:
    return sign_in(user)


@pytest.fixture
def alice_client(alice):
    return _client_for(alice)


@pytest.fixture
def bob_client(bob):
    return _client_for(bob)


@pytest.fixture
def carol_client(carol):
    return _client_for(carol)


@pytest.fixture
def admin_client_(admin_user):
    return _client_for(admin_user)


def make_conversation(genesys_id: str, *, queue, division, agent_name: str = "Dana Agent", **extra) -> Conversation:
    started = timezone.now() - timedelta(days=1)
    agent, _ = Agent.objects.get_or_create(genesys_id=f"agent-{agent_name}", defaults={"name": agent_name})
    defaults = {
        "state": Conversation.State.STORED,
        "started_at": started,
        "ended_at": started + timedelta(minutes=3, seconds=25),
        "direction": "inbound",
    }
    return Conversation.objects.create(
        genesys_id=genesys_id, queue=queue, division=division, agent=agent, **(defaults | extra)
    )


def make_transcript(conversation: Conversation, utterances: list[dict], **extra) -> Transcript:
    fields = {
        "communication_id": f"comm-{conversation.genesys_id}",
        "sha256": "0" * 64,
        "size_bytes": 100,
        "raw_path": "transcripts/00/none",
        "redaction_status": Transcript.RedactionStatus.LEAKS_FOUND,
        "mask_counts": {"card number": 1},
        "confidence_mean": 0.82,
        "confidence_median": 0.9,
        "low_confidence_share": 0.1,
        "word_count": 20,
        "speaker_count": 2,
        "talk_ms_internal": 61_000,
        "talk_ms_external": 45_000,
        "availability_latency_ms": 90_000,
        "store_latency_ms": 1_500,
    }
    transcript = Transcript.objects.create(conversation=conversation, **(fields | extra))
    for index, values in enumerate(utterances):
        Utterance.objects.create(transcript=transcript, conversation=conversation, index=index, **values)
    return transcript


@pytest.fixture
def conversation(q1, d1):
    conversation = make_conversation("conv-q1", queue=q1, division=d1)
    transcript = make_transcript(
        conversation,
        [
            {
                "speaker": "internal",
                "participant_purpose": "ivr",
                "start_ms": 0,
                "end_ms": 3_000,
                "text": "welcome to billing",
                "words": [["welcome", 0.99, 0, 500], ["to", 0.98, 500, 200], ["billing", 0.97, 700, 600]],
            },
            {
                "speaker": "internal",
                "participant_purpose": "agent",
                "start_ms": 4_000,
                "end_ms": 8_000,
                "text": "how can I help with your refund",
                "words": [["how", 0.9, 4000, 200], ["can", 0.3, 4200, 200], ["refund", 0.95, 4400, 400]],
                "sentiment": 0.6,
                "topics": ["Refund"],
            },
            {
                "speaker": "external",
                "participant_purpose": "customer",
                "start_ms": 65_000,
                "end_ms": 70_000,
                "text": f"my card number is [card number] and 4111 1111 1111 1111 {XSS}",
                "words": [],
                "sentiment": -0.7,
            },
        ],
    )
    leaked = transcript.utterances.get(index=2)
    RedactionFinding.objects.create(
        transcript=transcript,
        utterance=leaked,
        kind="card_number",
        rule="luhn-16",
        confidence=0.97,
        start_ms=65_000,
        masked_excerpt="4111 **** **** 1111",
    )
    OutboxMessage.objects.create(
        transcript=transcript,
        sink="filesystem",
        idempotency_key=transcript.version_key,
        payload={},
        state=OutboxMessage.State.DELIVERED,
        attempts=1,
        delivered_at=transcript.stored_at + timedelta(seconds=2),
    )
    return conversation


@pytest.fixture
def other_conversation(q2, d2):
    conversation = make_conversation("conv-q2", queue=q2, division=d2, agent_name="Olly Other")
    make_transcript(
        conversation,
        [{"speaker": "external", "start_ms": 1_000, "end_ms": 2_000, "text": "zebra crossing claim", "words": []}],
    )
    return conversation


@pytest.fixture
def two_parts(q1, d1):
    conversation = make_conversation(
        "conv-parts",
        queue=q1,
        division=d1,
        communication_ids=["comm-customer", "comm-agent", "comm-consult"],
        participants=[
            {"purpose": "customer", "userId": "", "name": "", "sessionIds": ["comm-customer"]},
            {"purpose": "agent", "userId": "u-1", "name": "Dana Agent", "sessionIds": ["comm-agent"]},
            {"purpose": "agent", "userId": "u-2", "name": "Sam Consult", "sessionIds": ["comm-consult"]},
        ],
    )
    later = make_transcript(
        conversation,
        [
            {"speaker": "internal", "start_ms": 120_000, "end_ms": 124_000, "text": "consult leg speaking"},
            {"speaker": "internal", "start_ms": 130_000, "end_ms": 131_000, "text": "zebra refund approved"},
        ],
        communication_id="comm-consult",
        recording_id="rec-consult",
        part_start_ms=120_000,
        media_type="call",
        sha256="b" * 64,
        content_encoding="gzip",
        language="en-GB",
        redaction_status=Transcript.RedactionStatus.VERIFIED,
        mask_counts={"phone": 1},
        utterance_count=2,
        word_count=300,
        confidence_mean=0.6,
        confidence_median=0.65,
        low_confidence_share=0.5,
        speaker_count=1,
        talk_ms_internal=5_000,
        talk_ms_external=0,
        availability_latency_ms=200_000,
        store_latency_ms=3_000,
        download_seconds=0.25,
    )
    earlier = make_transcript(
        conversation,
        [
            {"speaker": "external", "start_ms": 0, "end_ms": 2_000, "text": "customer leg hello"},
            {"speaker": "internal", "start_ms": 125_000, "end_ms": 126_000, "text": "zebra refund pending"},
        ],
        communication_id="comm-customer",
        recording_id="rec-customer",
        part_start_ms=0,
        media_type="callback",
        sha256="a" * 64,
        language="en-US",
        redaction_status=Transcript.RedactionStatus.VERIFIED,
        mask_counts={"phone": 2},
        utterance_count=2,
        word_count=100,
        confidence_mean=0.9,
        confidence_median=0.95,
        low_confidence_share=0.1,
        speaker_count=2,
        talk_ms_internal=1_000,
        talk_ms_external=2_000,
        availability_latency_ms=100_000,
        store_latency_ms=1_000,
        download_seconds=0.5,
    )
    return SimpleNamespace(conversation=conversation, earlier=earlier, later=later)


def store_audio(conversation: Conversation, data: bytes = AUDIO_BYTES, recording_id: str = "rec-1") -> AudioRecording:
    """A recording stored the way the pipeline stores one: encrypted, at its content address (reviews/blobs.py)."""
    digest = hashlib.sha256(data).hexdigest()
    with blobs.staging_file("audio") as (stream, staged):
        stream.write(data)
        raw_path = blobs.promote(staged, kind="audio", sha256=digest)
    return AudioRecording.objects.create(
        conversation=conversation,
        recording_id=recording_id,
        sha256=digest,
        size_bytes=len(data),
        content_type="audio/wav",
        raw_path=raw_path,
    )


@pytest.fixture
def recording(conversation):
    return store_audio(conversation)


@pytest.fixture
def build(db):
    """The builders above, for tests (conftest modules are not importable under importlib mode)."""
    return SimpleNamespace(
        conversation=make_conversation,
        transcript=make_transcript,
        audio=store_audio,
        xss=XSS,
        audio_bytes=AUDIO_BYTES,
    )


@pytest.fixture
def vault_call(q1, d1, build):
    """An audio-only call in alice's queue that the vault transcribed itself (issue 15): one turn, "refund my
    order"."""
    conversation = build.conversation("conv-asr", queue=q1, division=d1, state="audio_fallback")
    build.transcript(
        conversation,
        [{"speaker": "external", "start_ms": 0, "end_ms": 2_000, "text": "refund my order", "words": []}],
        source="vault-asr",
        asr_engine="pocketsphinx",
        asr_model="en-us (pocketsphinx 5.1.1)",
    )
    return conversation
