"""A compliance officer answers a data-subject request in a real browser (Debian's Chromium via Playwright): find
the subject's calls by phone number, download the access package, erase, and read what was kept and why.
Writes subject-requests.png (published to docs/screenshots by `make screenshots`)."""

from __future__ import annotations

import zipfile

import pytest
from django.utils import timezone

from reviews import encryption, identifiers, retention
from reviews.models import AuditEvent, IdentifierMention, SubjectRequest, Transcript, Utterance
from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in

pytestmark = BROWSER_MARKS

PHONE = "+1 312 555 0150"


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=1000) as page:
        yield page


@pytest.fixture
def world(transactional_db, settings):
    """Three calls the subject made (one under legal hold), one call that mentions their number, one unrelated."""
    from django.contrib.auth.models import Group, User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from reviews.models import Agent, Queue
    from tests.fixtures.retention_world import NOW, make_call

    settings.COMPLIANCE_SINKS = []
    shift = (timezone.now() - NOW).days
    queue = Queue.objects.create(genesys_id="queue-billing", name="Billing")
    agent = Agent.objects.create(genesys_id="agent-robin", name="Robin Agent")
    subject = [{"purpose": "customer", "aniDigest": identifiers.phone_digest(PHONE)}]
    own = [
        make_call(n, age_days=age - shift, participants=subject, queue=queue, agent=agent, with_audio=True)
        for n, age in ((1, 60), (2, 20), (3, 5))
    ]
    mentioning = make_call(4, age_days=12 - shift, queue=queue, agent=agent)
    utterance = Utterance.objects.get(conversation=mentioning, index=1)
    utterance.text = "you can also reach my wife on [phone*]"
    utterance.sealed_original = encryption.seal(b'{"text": "x"}', associated_data=b"test")
    utterance.save()
    IdentifierMention.objects.create(
        transcript=utterance.transcript, conversation=mentioning, utterance=utterance, kind="phone",
        digest=identifiers.mention_digest("phone", "3125550150"),
    )  # fmt: skip
    make_call(5, age_days=7 - shift, queue=queue)
    officer = User.objects.create_user("casey", password=PASSWORD)
    officer.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    device = TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)
    retention.place_hold(
        kind="conversation", conversation_id=own[0].genesys_id, reason="Chargeback dispute CB-7781",
        owner=officer, created_by=officer, now=timezone.now(),
    )  # fmt: skip
    return own, mentioning, device


def test_it_answers_an_access_and_an_erasure_request(page, world, tmp_path):
    own, mentioning, device = world
    log_in(page, "casey", device)

    page.click("nav.mainnav >> text=Subject requests")
    page.wait_for_url("**/compliance/subject-requests/")
    page.select_option("select[name=kind]", "phone")
    page.fill("input[name=identifier]", "(312) 555-0150")
    page.fill("input[name=reference]", "DSAR-2026-0042 (email from the customer, 1 Dec)")
    page.click("form.hold-form button[type=submit]")
    page.wait_for_selector("table.subject-calls")
    rows = page.locator("table.subject-calls tbody tr")
    assert rows.count() == 4
    assert "legal hold" in rows.nth(0).inner_text() and "mentioned" in rows.nth(2).inner_text()
    assert "5550150" not in page.content()
    page.wait_for_timeout(100)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "subject-requests.png"), full_page=True)

    with page.expect_download() as download:
        page.click("text=Download the access package")
    path = tmp_path / "package.zip"
    download.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert "access_log.csv" in names and f"conversations/{own[1].genesys_id}/audio/audio-2.ogg" in names

    page.check("#erase-confirm")
    page.click("form.erase-form button[type=submit]")
    page.wait_for_selector("text=Kept, and why")
    assert "under legal hold" in page.inner_text("ul.kept")
    assert Transcript.objects.filter(conversation=own[0]).exists()
    assert not Transcript.objects.filter(conversation__in=own[1:]).exists()
    assert SubjectRequest.objects.get().erased_at is not None
    steps = AuditEvent.objects.filter(action=AuditEvent.Action.SUBJECT_REQUEST).values_list("detail__step", flat=True)
    assert {"open", "lookup", "export", "erase"} <= set(steps)
    assert page.csp_errors == []
