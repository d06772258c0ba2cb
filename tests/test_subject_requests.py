"""reviews/subject_requests.py: finding a data subject's calls, the access package, and an erasure that keeps
what holds, the law and the archive say it must."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User

from reviews import blobs, encryption, identifiers, retention, subject_requests
from reviews.compliance import record_transcript_version, relay_due
from reviews.models import (
    AudioRecording,
    AuditEvent,
    IdentifierMention,
    PurgeTombstone,
    Queue,
    RetentionRule,
    SubjectRequest,
    Transcript,
    Utterance,
)
from reviews.subject_requests import SubjectRequestError
from tests.fixtures.retention_world import NOW, archive_snapshot, indexed, make_call

pytestmark = pytest.mark.django_db

PHONE = "+1 312 555 0150"
EMAIL = "jane.doe@example.com"
REFERENCE = "DSAR ticket 2026-0042"


@pytest.fixture(autouse=True)
def _no_archive_by_default(settings):
    settings.COMPLIANCE_SINKS = []
    settings.RETENTION_MINIMUM_DAYS = 0


@pytest.fixture
def officer(db):
    user = User.objects.create_user("carol", password="pw")
    user.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    return user


def caller(number: int, phone: str = PHONE, **kwargs):
    """A call the subject made: discovery noted the keyed digest of its ani."""
    participants = [{"purpose": "customer", "aniDigest": identifiers.phone_digest(phone)}, {"purpose": "agent"}]
    return make_call(number, age_days=kwargs.pop("age_days", 40), participants=participants, **kwargs)


def mentioning(number: int, kind: str = "phone", said: str = "3125550150", **kwargs):
    """A call another customer made, whose phrase 1 mentions the subject (masked at ingest, original sealed)."""
    call = make_call(number, age_days=kwargs.pop("age_days", 40), **kwargs)
    utterance = Utterance.objects.get(conversation=call, index=1)
    utterance.text = "call my husband on [phone*]"
    utterance.sealed_original = encryption.seal(b'{"text": "sealed"}', associated_data=b"test")
    utterance.save()
    IdentifierMention.objects.create(
        transcript=utterance.transcript,
        conversation=call,
        utterance=utterance,
        kind=kind,
        digest=identifiers.mention_digest(kind, said),
    )
    return call


def open_phone(officer, phone: str = PHONE) -> SubjectRequest:
    return subject_requests.open_request(phone=phone, reference=REFERENCE, by=officer, now=NOW)


def ids(matches) -> list[str]:
    return [match.conversation.genesys_id for match in matches]


# ---------------------------------------------------------------------------------------------- opening
@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "either a phone number or an e-mail address"),
        ({"phone": PHONE, "email": EMAIL}, "either a phone number or an e-mail address"),
        ({"phone": "call me"}, "6 to 15 digits"),
        ({"email": "jane at example"}, "e-mail address such as"),
        ({"phone": PHONE, "reference": "dsar"}, "reference of at least 10 characters"),
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(officer, given, message):
    arguments = {"reference": REFERENCE} | given
    with pytest.raises(SubjectRequestError, match=message):
        subject_requests.open_request(by=officer, now=NOW, **arguments)
    assert not SubjectRequest.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SUBJECT_REQUEST).exists()


def test_it_keeps_only_a_digest_and_a_hint_of_the_identifier(officer):
    request = open_phone(officer)
    assert (request.identifier_kind, request.identifier_hint) == ("phone", "…0150")
    assert request.identifier_digest == identifiers.phone_digest("3125550150")
    stored = json.dumps(list(SubjectRequest.objects.values()) + list(AuditEvent.objects.values()), default=str)
    assert "5550150" not in stored
    opened = AuditEvent.objects.get(action=AuditEvent.Action.SUBJECT_REQUEST)
    assert (opened.detail["step"], opened.username, opened.object_id) == ("open", "carol", str(request.pk))


# ---------------------------------------------------------------------------------------------- finding
def test_it_finds_the_calls_the_subject_made_and_the_calls_that_mention_them(officer):
    own = caller(1)
    mentioned = mentioning(2)
    caller(3, phone="+1 312 555 0199")  # someone else
    mentioning(4, said="3125550199")

    # Typed without the country code: the same number by the one normalisation rule.
    matches = subject_requests.find_matches(open_phone(officer, "(312) 555-0150"), now=NOW)

    assert ids(matches) == [own.genesys_id, mentioned.genesys_id]
    assert [match.match_label for match in matches] == ["caller", "mentioned"]


def test_it_finds_an_address_whatever_its_case(officer):
    # How a spoken address becomes these letters is the scanner's part (tests/pipeline/test_ingest_masking.py).
    call = mentioning(1, kind="email", said="janedoeexamplecom")
    request = subject_requests.open_request(email="Jane.Doe@Example.com", reference=REFERENCE, by=officer, now=NOW)
    assert ids(subject_requests.find_matches(request, now=NOW)) == [call.genesys_id]
    assert request.identifier_hint == "J…@example.com"


def test_it_shows_what_is_held_and_what_holds_it_and_audits_the_lookup(officer):
    own = caller(1, with_audio=True)
    placed = retention.place_hold(
        kind="conversation", conversation_id=own.genesys_id, reason="litigation matter 17", owner=officer,
        created_by=officer, now=NOW,
    )  # fmt: skip
    request = open_phone(officer)

    report = subject_requests.lookup(request, now=NOW, user=officer)

    [row] = report["conversations"]
    assert row["held"] == {
        "transcripts": [own.transcripts.get().transcript_id],
        "recordings": ["audio-1"],
        "utterances": 2,
    }
    assert row["legal_holds"] == [placed.pk]
    lookup = AuditEvent.objects.filter(action=AuditEvent.Action.SUBJECT_REQUEST, detail__step="lookup").get()
    assert lookup.detail["conversations"] == [own.genesys_id]


# ---------------------------------------------------------------------------------------------- access package
def package_of(request, officer) -> zipfile.ZipFile:
    out = io.BytesIO()
    sha256 = subject_requests.write_package(request, out, now=NOW, user=officer)
    assert hashlib.sha256(out.getvalue()).hexdigest() == sha256 == SubjectRequest.objects.get().export_sha256
    return zipfile.ZipFile(io.BytesIO(out.getvalue()))


def test_it_packages_the_subjects_calls_with_their_audio_and_who_accessed_them(officer):
    own = caller(1, with_audio=True)
    AuditEvent.objects.create(
        username="=HYPERLINK(evil)", action=AuditEvent.Action.VIEW_TRANSCRIPT, object_type="conversation",
        object_id=own.genesys_id,
    )  # fmt: skip
    request = open_phone(officer)

    package = package_of(request, officer)

    folder = f"conversations/{own.genesys_id}"
    assert json.loads(package.read("request.json"))["conversations"][0]["conversation"] == own.genesys_id
    metadata = json.loads(package.read(f"{folder}/metadata.json"))
    assert metadata["subject_match"] == "caller" and len(metadata["utterances"]) == 2
    assert "refundable call 1" in package.read(f"{folder}/transcript.txt").decode()
    recording = AudioRecording.objects.get()
    with blobs.open_blob(recording.raw_path) as audio:
        assert package.read(f"{folder}/audio/audio-1.ogg") == audio.read()
    rows = list(csv.DictReader(io.StringIO(package.read("access_log.csv").decode())))
    assert [(row["action"], row["username"]) for row in rows] == [("Viewed transcript", "'=HYPERLINK(evil)")]


def test_it_packages_only_the_mentioning_phrases_of_someone_elses_call(officer):
    other = mentioning(1, with_audio=True)
    package = package_of(open_phone(officer), officer)
    folder = f"conversations/{other.genesys_id}"
    transcript = package.read(f"{folder}/transcript.txt").decode()
    assert "call my husband on [phone*]" in transcript
    assert "refundable" not in transcript  # the other customer's own words are not the subject's data
    assert not [name for name in package.namelist() if "/audio/" in name]


def test_it_audits_the_export_on_every_call_it_contains(officer):
    own, other = caller(1), mentioning(2)
    request = open_phone(officer)
    package_of(request, officer)
    exports = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).order_by("object_id")
    assert sorted(e.object_id for e in exports) == sorted([own.genesys_id, other.genesys_id])
    assert {e.detail["subject_request"] for e in exports} == {request.pk}


# ---------------------------------------------------------------------------------------------- erasure
def test_it_erases_the_subjects_own_calls_from_rows_index_and_blobs_with_tombstones(officer):
    own = caller(1, with_audio=True)
    transcript, recording = own.transcripts.get(), own.recordings.get()
    files = [blobs.absolute_path(transcript.raw_path), blobs.absolute_path(recording.raw_path)]
    request = open_phone(officer)

    result = subject_requests.erase(request, now=NOW, user=officer)

    assert [(item["item"], item["item_id"]) for item in result["erased"]] == [
        ("transcript", transcript.transcript_id),
        ("audio", "audio-1"),
    ]
    assert result["kept"] == []
    assert not Transcript.objects.exists() and not AudioRecording.objects.exists()
    assert not Utterance.objects.exists() and indexed() == 0
    assert not any(path.exists() for path in files)
    tombstones = PurgeTombstone.objects.order_by("item")
    assert {t.rule for t in tombstones} == {f"erasure: subject request {request.pk}"}
    assert {t.sha256 for t in tombstones} == {transcript.sha256, recording.sha256}
    request.refresh_from_db()
    assert request.erased_at == NOW and request.erasure["erased"] == result["erased"]
    # A later lookup still finds the call and says what was deleted, and when.
    [row] = subject_requests.lookup(request, now=NOW)["conversations"]
    assert [item["item"] for item in row["already_deleted"]] == ["transcript", "audio"]


def test_it_keeps_a_held_call_and_says_which_hold(officer):
    own = caller(1)
    placed = retention.place_hold(
        kind="phone", phone=PHONE, reason="regulator inquiry 2026-3", owner=officer, created_by=officer, now=NOW
    )
    result = subject_requests.erase(open_phone(officer), now=NOW, user=officer)
    assert result["erased"] == []
    assert result["kept"] == [{"conversation": own.genesys_id, "why": f"under legal hold {placed.pk}"}]
    assert Transcript.objects.filter(conversation=own).exists()


def test_it_keeps_what_the_law_makes_the_firm_keep_and_says_until_when(officer, settings):
    queue = Queue.objects.create(genesys_id="q-trading", name="Trading")
    RetentionRule.objects.create(queue=queue, minimum_days=1826)
    settings.RETENTION_MINIMUM_DAYS = 0
    kept = caller(1, queue=queue, age_days=40)
    erased = caller(2, age_days=40)

    result = subject_requests.erase(open_phone(officer), now=NOW, user=officer)

    until = (kept.started_at + timedelta(days=1826)).date().isoformat()
    assert result["kept"] == [
        {"conversation": kept.genesys_id, "why": f"kept by law until {until} (statutory minimum retention)"}
    ]
    assert {item["conversation"] for item in result["erased"]} == {erased.genesys_id}


def test_it_keeps_what_the_compliance_archive_has_not_received_yet(officer, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    own = caller(1)
    record_transcript_version(own.transcripts.get())  # pending: not delivered yet

    result = subject_requests.erase(open_phone(officer), now=NOW, user=officer)

    assert result["erased"] == []
    assert [k["why"] for k in result["kept"]] == [
        "not yet in the compliance archive (the regulatory record); erase again after the relay"
    ]
    assert relay_due().delivered == 1
    before = archive_snapshot()
    again = subject_requests.erase(open_phone(officer), now=NOW, user=officer)
    assert [item["item"] for item in again["erased"]] == ["transcript"]
    assert archive_snapshot() == before  # the archive keeps its copy: the vault never deletes there
    assert any("WORM" in note for note in again["notes"])


def test_it_destroys_only_the_sealed_originals_of_a_call_that_mentions_the_subject(officer):
    other = mentioning(1)
    result = subject_requests.erase(open_phone(officer), now=NOW, user=officer)
    assert result["erased"] == [{"conversation": other.genesys_id, "item": "mentions", "phrases": 1}]
    utterance = Utterance.objects.get(conversation=other, index=1)
    assert utterance.sealed_original == "" and utterance.text == "call my husband on [phone*]"
    assert Transcript.objects.filter(conversation=other).exists()
    assert not IdentifierMention.objects.exists()
    steps = AuditEvent.objects.filter(action=AuditEvent.Action.SUBJECT_REQUEST).values_list("detail__step", flat=True)
    assert list(steps.order_by("pk")) == ["open", "erase-mentions", "erase"]
