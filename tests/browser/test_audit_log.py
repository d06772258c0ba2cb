"""A compliance officer reads the audit log in a real browser (Debian's Chromium via Playwright): who opened which
call, filtered by user and conversation, one row opened, the filtered set exported as CSV, and the chain's last
check. Writes audit-log.png (published to docs/screenshots by `make screenshots`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.test import RequestFactory

from reviews import audit_chain
from reviews.audit import record_event, record_search
from reviews.models import AuditEvent
from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in

Action = AuditEvent.Action

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=900) as page:
        yield page


def _request(ip: str):
    return RequestFactory().get("/", REMOTE_ADDR=ip)


@pytest.fixture
def world(transactional_db):
    """A supervisor and a reviewer who read, searched, played and were refused; a compliance officer with TOTP."""
    from django.contrib.auth.models import Group, User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    sam = User.objects.create_user("sam", password=PASSWORD)
    rita = User.objects.create_user("rita", password=PASSWORD)
    for user, ip in ((sam, "10.20.0.7"), (rita, "10.20.0.9")):
        record_event(request=_request(ip), user=user, action=Action.LOGIN, object_type="auth.user", object_id=user.pk)
    for conversation in ("c0ffee01-5a1e-4d8a-9f00-000000000001", "c0ffee01-5a1e-4d8a-9f00-000000000002"):
        record_event(
            request=_request("10.20.0.7"), user=sam, action=Action.VIEW_TRANSCRIPT,
            object_type="conversation", object_id=conversation, detail={"via": "web"},
        )  # fmt: skip
    record_event(
        request=_request("10.20.0.7"), user=sam, action=Action.PLAY_AUDIO, object_type="recording",
        object_id="rec-77", detail={"conversation": "c0ffee01-5a1e-4d8a-9f00-000000000001"},
    )  # fmt: skip
    record_search(request=_request("10.20.0.9"), user=rita, query="refund [card number]", filters=None, total=3)
    record_event(
        request=_request("10.20.0.9"), user=rita, action=Action.ACCESS_DENIED, object_type="conversation",
        object_id="c0ffee01-5a1e-4d8a-9f00-000000000002",
        detail={"path": "/conversations/c0ffee01-5a1e-4d8a-9f00-000000000002/", "reason": "outside the user's scope"},
    )  # fmt: skip
    audit_chain.check_and_record()
    officer = User.objects.create_user("casey", password=PASSWORD)
    officer.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    device = TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)
    return officer, device


def test_it_filters_opens_and_exports_the_audit_log(page, world):
    officer, device = world
    log_in(page, "casey", device)

    page.click("nav.mainnav >> text=Audit log")
    page.wait_for_url("**/audit/")
    assert page.is_visible("text=Chain intact")
    page.fill("input[name=user]", "sam")
    page.click("form.inline-filters button[type=submit]")
    page.wait_for_url("**/audit/?**")
    rows = page.locator("table.audit-log tbody tr")
    assert rows.count() == 4  # sam's sign-in, two transcripts and a playback
    page.fill("input[name=user]", "")
    page.fill("input[name=conversation]", "c0ffee01-5a1e-4d8a-9f00-000000000002")
    page.select_option("select[name=outcome]", "refused")
    page.click("form.inline-filters button[type=submit]")
    page.wait_for_selector("table.audit-log >> text=Refused")
    assert rows.count() == 1
    page.select_option("select[name=outcome]", "")
    page.click("form.inline-filters button[type=submit]")
    page.wait_for_selector("table.audit-log >> text=Viewed transcript")
    assert rows.count() == 2  # sam read it, rita was refused
    page.goto("/audit/")  # everything, the officer's own views of the log on top
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "audit-log.png"), full_page=False)

    page.goto("/audit/?user=sam&action=play_audio")
    page.click("table.audit-log >> text=Played audio")
    page.wait_for_selector("h1 >> text=Played audio")
    assert page.is_visible("text=rec-77") and page.is_visible("pre >> text=c0ffee01-5a1e-4d8a-9f00-000000000001")

    page.goto("/audit/?user=rita")
    with page.expect_download() as download_info:
        page.click("text=Export CSV")
    exported = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text())))
    assert [row["action"] for row in exported] == ["access_denied", "search", "login"]
    assert page.csp_errors == []
    assert AuditEvent.objects.filter(user=officer, action=Action.EXPORT, object_type="audit_log").count() == 1
    assert AuditEvent.objects.filter(user=officer, object_type__in=["audit_log", "audit_event"]).count() >= 6
    assert audit_chain.verify().ok
