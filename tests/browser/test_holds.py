"""A compliance officer's legal holds in a real browser (Debian's Chromium via Playwright): place a hold on a call,
let the retention purge delete what is due around it, read the tombstones and release the hold.
Writes holds.png (published to docs/screenshots by `make screenshots`)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from reviews import retention
from reviews.models import AuditEvent, LegalHold, PurgeTombstone, Transcript
from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=1000) as page:
        yield page


@pytest.fixture
def world(transactional_db, settings):
    """Three year-old calls in a division with a 365-day rule, one recent call, and a compliance officer."""
    from django.contrib.auth.models import Group, User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from reviews.models import Division, Queue, RetentionRule
    from tests.fixtures.retention_world import NOW, make_call

    settings.COMPLIANCE_SINKS = []
    settings.RETENTION_TRANSCRIPT_DAYS = 0
    division = Division.objects.create(genesys_id="div-sales", name="Sales")
    queue = Queue.objects.create(genesys_id="queue-sales", name="Sales inbound", division=division)
    RetentionRule.objects.create(division=division, transcript_days=365, audio_days=90, note="Sales policy 7.1")
    RetentionRule.objects.create(queue=queue, transcript_days=730, note="Complaints kept two years")
    # make_call counts ages back from the fixtures' NOW; these calls are 400 days and 3 days before today.
    shift = (timezone.now() - NOW).days
    calls = [make_call(number, age_days=400 - shift, division=division) for number in range(1, 4)]
    make_call(9, age_days=3 - shift, division=division)
    officer = User.objects.create_user("casey", password=PASSWORD)
    officer.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    device = TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)
    return calls, officer, device


def test_it_places_a_hold_that_survives_the_purge_and_releases_it(page, world):
    calls, officer, device = world
    held = calls[0]
    log_in(page, "casey", device)

    page.click("nav.mainnav >> text=Holds")
    page.wait_for_url("**/compliance/holds/")
    page.select_option("select[name=kind]", "conversation")
    page.fill("input[name=conversation_id]", held.genesys_id)
    page.fill("textarea[name=reason]", "Litigation hold: Smith v. Acme, case 2026-CV-0417")
    page.click("form.hold-form button[type=submit]")
    page.wait_for_selector("text=Placed legal hold")
    page.select_option("select[name=kind]", "phone")
    page.fill("input[name=phone]", "+1 317 555 0100")
    page.fill("textarea[name=reason]", "Data-subject dispute, ticket DSR-2291")
    page.click("form.hold-form button[type=submit]")
    page.wait_for_selector("text=phone number …0100")

    report = retention.run_purge(now=timezone.now())

    assert {item.conversation for item in report.purged} == set(calls[1:])
    assert Transcript.objects.filter(conversation=held).exists()
    page.goto("/compliance/holds/")
    assert page.locator("table.tombstones tbody tr").count() == 2
    assert page.locator("table.holds tbody tr").count() == 2
    page.wait_for_timeout(100)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "holds.png"), full_page=True)

    hold = LegalHold.objects.get(kind="phone")
    page.fill(f"#release-reason-{hold.pk}", "Dispute closed, customer confirmed")
    page.click(f"form[action$='/{hold.pk}/release'] button")
    page.wait_for_selector(f"text=Released legal hold {hold.pk}")

    hold.refresh_from_db()
    assert hold.released_by == officer
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LEGAL_HOLD_RELEASE, user=officer).count() == 1
    assert PurgeTombstone.objects.count() == 2
    assert page.csp_errors == []
