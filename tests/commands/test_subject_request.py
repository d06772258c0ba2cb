"""manage.py subject_request: the data-subject lookup, package and erasure from the command line."""

from __future__ import annotations

import json
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reviews import identifiers
from reviews.models import AuditEvent, SubjectRequest, Transcript
from tests.fixtures.retention_world import make_call

pytestmark = pytest.mark.django_db

PHONE = "+13125550150"


@pytest.fixture(autouse=True)
def _no_archive(settings):
    settings.COMPLIANCE_SINKS = []


@pytest.fixture
def own_call():
    return make_call(
        1, age_days=3, participants=[{"purpose": "customer", "aniDigest": identifiers.phone_digest(PHONE)}]
    )


def run(*args) -> str:
    out = StringIO()
    call_command("subject_request", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_subjects_calls_as_json(own_call):
    report = json.loads(run("--phone", "312-555-0150", "--json"))
    assert [row["conversation"] for row in report["conversations"]] == [own_call.genesys_id]
    assert report["identifier"] == {"kind": "phone", "hint": "…0150"}
    assert SubjectRequest.objects.get().pk == report["request"]
    steps = AuditEvent.objects.filter(action=AuditEvent.Action.SUBJECT_REQUEST).values_list("detail__step", flat=True)
    assert sorted(steps) == ["lookup", "open"]


def test_it_prints_a_readable_summary(own_call):
    out = run("--phone", PHONE)
    assert own_call.genesys_id in out and "1 conversation found" in out and "5550150" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phone", "nope"], "6 to 15 digits"),
        (["--email", "jane@"], "e-mail address such as"),
        (["--phone", PHONE, "--reference", "short"], "reference of at least"),
        (["--phone", PHONE, "--erase"], "add --yes"),
        (["--phone", PHONE, "--erase", "--yes"], "--erase needs --reference"),
        (["--phone", PHONE, "--by", "ghost"], "no active user"),
        (["--phone", PHONE, "--export", "/nonexistent-dir/p.zip"], "no such directory"),
    ],
)
def test_it_exits_non_zero_with_a_clear_message_on_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not SubjectRequest.objects.exists()


def test_it_needs_a_phone_or_an_email():
    with pytest.raises(CommandError, match="one of the arguments --phone --email is required"):
        run("--json")


def test_it_writes_the_access_package(own_call, tmp_path):
    target = tmp_path / "package.zip"
    report = json.loads(run("--phone", PHONE, "--export", str(target), "--json"))
    assert report["export"]["path"] == str(target)
    assert f"conversations/{own_call.genesys_id}/transcript.txt" in zipfile.ZipFile(target).namelist()


def test_it_erases_when_confirmed_with_a_reference(own_call):
    out = run("--phone", PHONE, "--erase", "--yes", "--reference", "DSAR ticket 2026-0042")
    assert f"erased: {own_call.genesys_id} transcript" in out
    assert not Transcript.objects.exists()
