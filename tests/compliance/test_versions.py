"""A later discovery that changes an archived conversation's Genesys facts records and delivers a new version;
the archive keeps what it holds, and an unchanged rediscovery writes nothing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from genesys.clock import FakeClock
from reviews.compliance import record_transcript_version, relay_due
from reviews.compliance.outbox import clock_now
from reviews.compliance.payload import VERSION_SCHEMA, payload_bytes
from reviews.models import Conversation, ConversationVersion, OutboxMessage
from reviews.pipeline.discovery import upsert_conversation
from tests.compliance.conftest import deliver_twice
from tests.compliance.test_s3 import BUCKET, s3_server  # noqa: F401  (the moto fixture)

pytestmark = pytest.mark.django_db
CONVERSATION_ID = "c0ffee00-0000-4000-8000-0000000000aa"
START = "2025-06-15T09:30:00.000Z"
SHIFTED = "2025-06-15T09:29:58.250Z"  # what a restart of the demo made of the same call


def analytics(*, start=START, end="2025-06-15T09:34:02.000Z", queue="q-1", agent="agent-1", divisions=("div-1",)):
    return {
        "conversationId": CONVERSATION_ID,
        "conversationStart": start,
        "conversationEnd": end,
        "originatingDirection": "inbound",
        "divisionIds": list(divisions),
        "participants": [
            {
                "purpose": "customer",
                "sessions": [{"mediaType": "voice", "sessionId": "s-customer", "recording": True}],
            },
            {
                "purpose": "agent",
                "userId": agent,
                "sessions": [
                    {"mediaType": "voice", "sessionId": "s-agent", "recording": True, "segments": [{"queueId": queue}]}
                ],
            },
        ],
    }


@pytest.fixture
def archived(make_transcript, clock, settings):
    """A discovered conversation whose transcript version was archived (to the configured sinks)."""

    def archive():
        upsert_conversation(analytics(), now=clock_now(clock))
        transcript = make_transcript(conversation_id=CONVERSATION_ID)
        record_transcript_version(transcript, clock=clock)
        while relay_due(clock=clock).handled:
            pass
        return Conversation.objects.get(genesys_id=CONVERSATION_ID)

    return archive


def rediscover(clock, **changes) -> None:
    upsert_conversation(analytics(**changes), now=clock_now(clock))


def test_it_delivers_a_changed_start_time_as_a_new_version_once_and_keeps_the_archived_one(archived, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    conversation = archived()
    root = Path(settings.COMPLIANCE_ARCHIVE_DIR)
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and "manifest" not in path.name}

    rediscover(clock, start=SHIFTED)
    deliver_twice(clock, settings)

    conversation.refresh_from_db()
    assert conversation.started_at == datetime(2025, 6, 15, 9, 29, 58, 250000, tzinfo=UTC)  # the dashboard follows
    first, second = ConversationVersion.objects.filter(conversation=conversation)
    assert (first.number, first.facts["conversationStart"], first.changed_fields) == (1, START, [])
    assert (second.number, second.facts["conversationStart"], second.changed_fields) == (
        2,
        SHIFTED,
        ["conversationStart"],
    )
    rows = OutboxMessage.objects.filter(conversation=conversation, kind="version")
    assert sorted(rows.values_list("version__number", "state")) == [(1, "delivered"), (2, "delivered")]
    # The archive still holds the first facts (the transcript payload and version 1), untouched ...
    assert all(path.read_bytes() == content for path, content in before.items())
    (transcript_payload,) = [p for p in before if p.suffix == ".json" and "versions" not in p.parts]
    assert json.loads(before[transcript_payload])["conversationStart"] == START
    # ... plus one manifest line per version however often it was delivered, beside the call's other files.
    lines = [json.loads(line) for line in (root / "manifest.jsonl").read_bytes().splitlines()]
    assert len(lines) == 3
    versions_dir = root / "2025/06/15" / CONVERSATION_ID / "versions"
    archived_v2 = json.loads((versions_dir / f"v0002-{second.facts_sha256[:16]}.json").read_bytes())
    assert archived_v2["schema"] == VERSION_SCHEMA
    assert archived_v2["facts"]["conversationStart"] == SHIFTED
    assert (archived_v2["version"], archived_v2["previousVersion"]) == (2, 1)
    assert archived_v2["previousFactsSha256"] == first.facts_sha256


def test_it_delivers_a_new_version_once_to_every_sink(
    make_transcript,
    settings,
    webhook_receiver,
    s3_server,  # noqa: F811
):
    clock = FakeClock(datetime.now(UTC).timestamp())  # S3 Object Lock needs a retain-until date in the future
    settings.COMPLIANCE_SINKS = ["filesystem", "webhook", "s3"]
    upsert_conversation(analytics(), now=clock_now(clock))
    record_transcript_version(make_transcript(conversation_id=CONVERSATION_ID), clock=clock)
    while relay_due(clock=clock).handled:
        pass
    webhook_receiver.requests.clear()

    rediscover(clock, start=SHIFTED)
    deliver_twice(clock, settings)

    second = ConversationVersion.objects.get(number=2)
    assert set(OutboxMessage.objects.filter(version=second).values_list("sink", "state")) == {
        ("filesystem", "delivered"),
        ("webhook", "delivered"),
        ("s3", "delivered"),
    }
    # Delivered twice (at least once); the receiver deduplicates on webhook-id: two versions, two ids.
    by_id = {}
    for request in webhook_receiver.requests:
        by_id.setdefault(request["headers"]["webhook-id"], set()).add(request["body"])
    assert set(by_id) == {second.version_key, ConversationVersion.objects.get(number=1).version_key}
    assert by_id[second.version_key] == {
        payload_bytes(OutboxMessage.objects.get(version=second, sink="webhook").payload)
    }
    stem = f"vault/2025/06/15/{CONVERSATION_ID}/versions/v0002-{second.facts_sha256[:16]}.json"
    assert [v["Key"] for v in s3_server.list_object_versions(Bucket=BUCKET, Prefix=stem)["Versions"]] == [stem]


def test_it_writes_nothing_when_rediscovery_finds_the_same_facts(archived, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    archived()
    outbox = OutboxMessage.objects.count()
    reordered = analytics(divisions=("div-1",))
    reordered["participants"] = copy.deepcopy(reordered["participants"])[::-1]  # same facts, other order

    rediscover(clock)
    upsert_conversation(reordered, now=clock_now(clock))

    assert ConversationVersion.objects.count() == 0
    assert OutboxMessage.objects.count() == outbox


def test_it_records_each_kind_of_fact_change(archived, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    archived()

    rediscover(clock, end="2025-06-15T09:35:00.000Z")
    rediscover(clock, end="2025-06-15T09:35:00.000Z", queue="q-2", agent="agent-2")
    rediscover(clock, end="2025-06-15T09:35:00.000Z", queue="q-2", agent="agent-2", divisions=("div-1", "div-2"))

    changes = list(ConversationVersion.objects.values_list("number", "changed_fields"))
    assert changes == [
        (1, []),
        (2, ["conversationEnd"]),
        (3, ["queueId", "agentId"]),
        (4, ["divisionIds"]),
    ]
    assert ConversationVersion.objects.get(number=4).facts["divisionIds"] == ["div-1", "div-2"]


def test_it_records_a_change_back_as_a_new_version(archived, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    archived()

    rediscover(clock, start=SHIFTED)
    rediscover(clock)  # Genesys corrected itself: the archive learns that too, as version 3
    rediscover(clock)

    assert list(ConversationVersion.objects.values_list("number", "facts__conversationStart")) == [
        (1, START),
        (2, SHIFTED),
        (3, START),
    ]
    assert OutboxMessage.objects.filter(kind="version").count() == 3


def test_it_does_not_version_a_conversation_that_is_not_archived_yet(clock, settings):
    upsert_conversation(analytics(), now=clock_now(clock))

    rediscover(clock, start=SHIFTED)

    assert Conversation.objects.get().started_at.second == 58  # nothing archived to contradict: the row moves
    assert ConversationVersion.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_it_versions_an_audio_only_call_as_well(make_audio_only_call, clock, settings):
    from reviews.compliance.outbox import record_audio_archive

    settings.COMPLIANCE_SINKS = ["filesystem"]
    conversation = make_audio_only_call()
    Conversation.objects.filter(pk=conversation.pk).update(genesys_id=CONVERSATION_ID, direction="inbound")
    conversation.refresh_from_db()
    record_audio_archive(conversation, now=clock_now(clock))

    rediscover(clock, start=SHIFTED, end="2025-06-15T09:33:00.000Z")

    assert ConversationVersion.objects.filter(conversation=conversation).count() == 2
    assert relay_due(clock=clock).delivered == 3  # the recording and two versions
