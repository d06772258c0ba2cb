"""reviews/retention.py: what is due, what a hold keeps, what a purge deletes and what it leaves behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User

from reviews import blobs, identifiers, retention
from reviews.compliance import record_transcript_version, relay_due
from reviews.compliance.sinks import s3
from reviews.models import (
    Agent,
    AudioRecording,
    AuditEvent,
    Division,
    LegalHold,
    OutboxMessage,
    PurgeTombstone,
    Queue,
    RetentionRule,
    Transcript,
    Utterance,
)
from reviews.pipeline.discovery import participants_summary
from tests.fixtures.moto_s3 import BUCKET, object_lock_bucket
from tests.fixtures.retention_world import NOW, archive_snapshot, indexed, make_call

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _thirty_day_default(settings):
    settings.RETENTION_TRANSCRIPT_DAYS = 30
    settings.RETENTION_AUDIO_DAYS = 30
    settings.COMPLIANCE_SINKS = []


@pytest.fixture
def officer(db):
    user = User.objects.create_user("carol", password="pw")
    user.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    return user


def hold(officer, **kwargs):
    return retention.place_hold(
        reason="litigation matter 2026-17", owner=officer, created_by=officer, now=NOW, **kwargs
    )


def test_it_purges_a_due_transcript_with_its_utterances_search_rows_and_blob_leaving_a_tombstone():
    call = make_call(1, age_days=31)
    transcript = call.transcripts.get()
    blob = blobs.absolute_path(transcript.raw_path)
    assert indexed() == 1 and blob.is_file()

    report = retention.run_purge(now=NOW)

    assert [item.item_id for item in report.purged] == [transcript.transcript_id]
    assert not Transcript.objects.filter(conversation=call).exists()
    assert not Utterance.objects.filter(conversation=call).exists()
    assert indexed() == 0
    assert not blob.exists()
    tombstone = PurgeTombstone.objects.get()
    assert (tombstone.conversation, tombstone.item, tombstone.item_id) == (call, "transcript", transcript.transcript_id)
    assert tombstone.sha256 == transcript.sha256
    assert tombstone.utterance_count == 2
    assert tombstone.conversation_started_at == call.started_at
    assert tombstone.due_at == call.started_at + timedelta(days=30)
    assert tombstone.rule.startswith("default (RETENTION_TRANSCRIPT_DAYS=30")
    events = AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_PURGE)
    per_call = events.get(object_type="conversation")
    assert per_call.object_id == call.genesys_id
    assert per_call.detail["items"] == [
        {"item": "transcript", "item_id": transcript.transcript_id, "sha256": transcript.sha256}
    ]
    assert events.get(object_type="retention_run").object_id == report.run_id == tombstone.run_id


def test_it_keeps_what_is_not_due_yet():
    make_call(1, age_days=29)

    assert retention.run_purge(now=NOW).purged == []
    assert Transcript.objects.count() == 1


def test_it_keeps_everything_with_the_default_settings(settings):
    settings.RETENTION_TRANSCRIPT_DAYS = 0
    settings.RETENTION_AUDIO_DAYS = 0
    make_call(1, age_days=5000, with_audio=True)

    assert retention.plan_purge(now=NOW).due == []


@pytest.mark.parametrize("kind", ["conversation", "agent", "phone", "date_range"])
def test_it_never_purges_a_held_conversation(officer, kind):
    agent = Agent.objects.create(genesys_id="agent-7", name="Sam")
    digest = identifiers.phone_digest("+1 317 555 0100")
    call = make_call(1, age_days=400, agent=agent, participants=[{"purpose": "customer", "aniDigest": digest}])
    other = make_call(2, age_days=400)
    targets = {
        "conversation": {"conversation_id": call.genesys_id},
        "agent": {"agent_id": "agent-7"},
        "phone": {"phone": "tel:+13175550100"},
        "date_range": {
            "starts_at": call.started_at - timedelta(hours=1),
            "ends_at": call.started_at + timedelta(hours=1),
        },
    }
    if kind == "date_range":
        other.started_at = call.started_at - timedelta(days=3)
        other.save()
    placed = hold(officer, kind=kind, **targets[kind])

    report = retention.run_purge(now=NOW)

    assert report.plan.held == {call.genesys_id: [placed.pk]}
    assert Transcript.objects.filter(conversation=call).exists()
    assert not Transcript.objects.filter(conversation=other).exists()
    assert not PurgeTombstone.objects.filter(conversation=call).exists()


def test_it_purges_a_held_conversation_once_the_hold_is_released(officer):
    call = make_call(1, age_days=400)
    placed = hold(officer, kind="conversation", conversation_id=call.genesys_id)
    assert retention.run_purge(now=NOW).purged == []

    retention.release_hold(hold=placed, reason="matter settled, counsel agreed", by=officer, now=NOW)

    assert [item.conversation for item in retention.run_purge(now=NOW).purged] == [call]
    assert not Transcript.objects.filter(conversation=call).exists()


def test_it_honours_a_hold_placed_after_the_plan_was_made(officer, monkeypatch):
    call = make_call(1, age_days=400)
    stale_plan = retention.plan_purge(now=NOW)
    hold(officer, kind="conversation", conversation_id=call.genesys_id)
    monkeypatch.setattr(retention, "plan_purge", lambda **kwargs: stale_plan)

    assert retention.run_purge(now=NOW).purged == []
    assert Transcript.objects.filter(conversation=call).exists()


def test_it_changes_nothing_on_a_dry_run():
    call = make_call(1, age_days=400, with_audio=True)
    paths = [blobs.absolute_path(row.raw_path) for row in (call.transcripts.get(), call.recordings.get())]
    events = AuditEvent.objects.count()

    report = retention.run_purge(now=NOW, dry_run=True)

    assert {item.item for item in report.plan.due} == {"transcript", "audio"}
    assert report.purged == []
    assert Transcript.objects.count() == 1 and AudioRecording.objects.count() == 1
    assert Utterance.objects.count() == 2 and indexed() == 1
    assert all(path.is_file() for path in paths)
    assert PurgeTombstone.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_it_leaves_the_compliance_archive_untouched(settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    call = make_call(1, age_days=400)
    record_transcript_version(call.transcripts.get())
    assert relay_due().delivered == 1
    before = archive_snapshot()
    assert any(name.endswith(".transcript.json.tvb") for name in before)

    assert len(retention.run_purge(now=NOW).purged) == 1

    assert archive_snapshot() == before


def test_it_keeps_an_item_until_the_archive_has_it(settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    call = make_call(1, age_days=400)
    transcript = call.transcripts.get()
    record_transcript_version(transcript)  # pending: not delivered yet

    report = retention.run_purge(now=NOW)

    assert report.purged == [] and report.plan.awaiting_archive == [transcript.transcript_id]
    assert OutboxMessage.objects.filter(transcript=transcript).exists()


def test_it_picks_the_most_specific_rule():
    division = Division.objects.create(genesys_id="div-1", name="D1")
    queue = Queue.objects.create(genesys_id="queue-1", name="Q1", division=division)
    other_queue = Queue.objects.create(genesys_id="queue-2", name="Q2", division=division)
    RetentionRule.objects.create(division=division, transcript_days=100)
    RetentionRule.objects.create(queue=queue, transcript_days=200)
    RetentionRule.objects.create(division=division, queue=queue, transcript_days=300)
    RetentionRule.objects.create(queue=other_queue)  # empty days: keep forever, whatever the default says
    both = make_call(1, age_days=250, queue=queue, division=division)
    queue_only = make_call(2, age_days=250, queue=queue)
    division_only = make_call(3, age_days=150, division=division)
    forever = make_call(4, age_days=5000, queue=other_queue, division=division)
    unruled = make_call(5, age_days=31)

    purged = {item.conversation.genesys_id for item in retention.run_purge(now=NOW).purged}

    assert purged == {queue_only.genesys_id, division_only.genesys_id, unruled.genesys_id}
    assert retention.retention_for(both).transcript_days == 300
    assert retention.retention_for(forever).transcript_days is None


def test_it_purges_audio_on_its_own_period(settings):
    settings.RETENTION_AUDIO_DAYS = 10
    settings.RETENTION_TRANSCRIPT_DAYS = 0
    call = make_call(1, age_days=11, with_audio=True)
    recording = call.recordings.get()

    (item,) = retention.run_purge(now=NOW).purged

    assert item.item == "audio" and not AudioRecording.objects.exists()
    assert Transcript.objects.filter(conversation=call).exists()
    assert not blobs.absolute_path(recording.raw_path).exists()
    assert PurgeTombstone.objects.get().sha256 == recording.sha256


def test_it_keeps_a_blob_another_row_still_uses():
    old = make_call(1, age_days=400)
    young = make_call(2, age_days=1)
    shared = old.transcripts.get()
    Transcript.objects.filter(conversation=young).update(raw_path=shared.raw_path, sha256=shared.sha256)

    assert len(retention.run_purge(now=NOW).purged) == 1

    assert blobs.absolute_path(shared.raw_path).is_file()


def test_it_stops_at_the_limit():
    for number in range(3):
        make_call(number, age_days=400)

    assert len(retention.run_purge(now=NOW, limit=2).purged) == 2
    assert Transcript.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "conversation", "conversation_id": ""}, "conversation id"),
        ({"kind": "conversation", "conversation_id": "x" * 65}, "conversation id"),
        ({"kind": "agent", "agent_id": "nobody"}, "no such agent"),
        ({"kind": "phone", "phone": "call me"}, "6 to 15 digits"),
        ({"kind": "date_range", "starts_at": NOW, "ends_at": NOW}, "after its start"),
        ({"kind": "date_range", "starts_at": NOW}, "start and an end"),
        ({"kind": "everything"}, "unknown hold kind"),
        ({"kind": "conversation", "conversation_id": "c-1", "reason": "because"}, "at least 10"),
    ],
)
def test_it_refuses_bad_hold_input_and_writes_nothing(officer, kwargs, message):
    arguments = {"reason": "litigation matter 2026-17", **kwargs}
    with pytest.raises(retention.HoldError, match=message):
        retention.place_hold(owner=officer, created_by=officer, now=NOW, **arguments)
    assert not LegalHold.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LEGAL_HOLD).exists()


def test_it_audits_placing_and_releasing_a_hold_and_releases_once(officer):
    placed = hold(officer, kind="phone", phone="+44 20 7946 0958")

    retention.release_hold(hold=placed, reason="request withdrawn by counsel", by=officer, now=NOW)
    with pytest.raises(retention.HoldError, match="already released"):
        retention.release_hold(hold=placed, reason="request withdrawn by counsel", by=officer, now=NOW)

    placed.refresh_from_db()
    assert (placed.released_by, placed.released_at, placed.phone_hint) == (officer, NOW, "…0958")
    assert "7946" not in placed.phone_digest  # only the keyed digest is kept
    events = AuditEvent.objects.filter(object_type="legal_hold", object_id=str(placed.pk)).order_by("at", "pk")
    assert [(e.action, e.user) for e in events] == [
        (AuditEvent.Action.LEGAL_HOLD, officer),
        (AuditEvent.Action.LEGAL_HOLD_RELEASE, officer),
    ]
    assert events[0].detail["target"] == "phone number …0958"
    assert events[1].detail["reason"] == "request withdrawn by counsel"
    assert "2079460958" not in str([e.detail for e in events])


def test_it_notes_the_callers_number_only_as_a_digest_at_discovery():
    analytics = {
        "participants": [
            {"purpose": "customer", "sessions": [{"mediaType": "voice", "sessionId": "s1", "ani": "tel:+13175550100"}]},
            {
                "purpose": "agent",
                "userId": "u1",
                "sessions": [{"mediaType": "voice", "sessionId": "s2", "ani": "tel:+1800"}],
            },
        ]
    }

    customer, agent = participants_summary(analytics)

    assert customer["aniDigest"] == identifiers.phone_digest("+1 (317) 555-0100")
    assert "aniDigest" not in agent
    assert "3175550100" not in str([customer, agent])


@pytest.fixture
def s3_bucket(settings, monkeypatch):
    """moto with an Object Lock bucket in GOVERNANCE mode (legal holds are set and cleared on it)."""
    with object_lock_bucket(settings, monkeypatch, mode="GOVERNANCE") as client:
        yield client


def _status(client, key: str) -> str:
    try:
        return client.get_object_legal_hold(Bucket=BUCKET, Key=key).get("LegalHold", {}).get("Status") or "OFF"
    except client.exceptions.ClientError:
        return "OFF"


def test_it_sets_the_s3_legal_hold_on_held_archived_objects_and_clears_it_on_release(s3_bucket, officer):
    held, free = make_call(1, age_days=400), make_call(2, age_days=400)
    for call in (held, free):
        record_transcript_version(call.transcripts.get())
    assert relay_due().delivered == 2

    placed = hold(officer, kind="conversation", conversation_id=held.genesys_id)

    listing = s3_bucket.list_objects_v2(Bucket=BUCKET, Prefix="vault/")["Contents"]
    statuses = {entry["Key"]: _status(s3_bucket, entry["Key"]) for entry in listing}
    assert len(statuses) == 4
    assert {k: v for k, v in statuses.items() if held.genesys_id in k} and all(
        v == "ON" for k, v in statuses.items() if held.genesys_id in k
    )
    assert all(v == "OFF" for k, v in statuses.items() if free.genesys_id in k)

    retention.release_hold(hold=placed, reason="matter closed by counsel", by=officer, now=NOW)

    assert all(_status(s3_bucket, key) == "OFF" for key in statuses)


def test_it_places_the_hold_even_when_s3_is_unreachable_and_resyncs_it_daily(settings, officer):
    settings.COMPLIANCE_SINKS = ["s3"]
    settings.COMPLIANCE_S3_BUCKET = BUCKET
    settings.COMPLIANCE_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens: connection refused
    s3.s3_client.cache_clear()
    call, released_long_ago, free = make_call(1, age_days=1), make_call(2, age_days=1), make_call(3, age_days=1)
    for conversation in (call, free):
        transcript = conversation.transcripts.get()
        OutboxMessage.objects.create(
            transcript=transcript,
            conversation=conversation,
            sink="s3",
            idempotency_key=transcript.version_key,
            payload={"conversationStart": "2026-05-31T12:00:00Z"},
            state=OutboxMessage.State.DELIVERED,
        )
    old = hold(officer, kind="conversation", conversation_id=released_long_ago.genesys_id)
    retention.release_hold(hold=old, reason="closed a month ago", by=officer, now=NOW - timedelta(days=30))

    placed = hold(officer, kind="conversation", conversation_id=call.genesys_id)

    assert LegalHold.objects.get(pk=placed.pk).is_active
    assert list(retention.conversations_to_resync(now=NOW)) == [call]
    summary = retention.sync_archive_legal_holds(retention.conversations_to_resync(now=NOW))
    assert summary["locked"] == 0 and summary["errors"][0].startswith(call.genesys_id)
    s3.s3_client.cache_clear()
