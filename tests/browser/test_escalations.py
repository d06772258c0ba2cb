"""An escalation's path in a real browser (Debian's Chromium via Playwright): a supervisor escalates a review with
a reason, a compliance officer (signed in with a second factor) finds it in the inbox, comments, assigns it and
resolves it, and the supervisor sees the outcome on the review page. Screenshot: escalations.png (published to docs/screenshots by `make screenshots`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reviews.models import AuditEvent, Escalation
from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in, log_out

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=860) as page:
        yield page


@pytest.fixture
def calls(transactional_db):
    """Three stored calls in one division, each with a short transcript."""
    from reviews.models import Agent, Conversation, Division, Queue, Transcript, Utterance

    division = Division.objects.create(genesys_id="div-sales", name="Sales")
    queue = Queue.objects.create(genesys_id="queue-sales", name="Sales inbound", division=division)
    agent = Agent.objects.create(genesys_id="agent-1", name="Dana Agent")
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    conversations = []
    for number in range(3):
        conversation = Conversation.objects.create(
            genesys_id=f"3f2c9a1e-0000-4000-8000-00000000000{number}",
            state=Conversation.State.STORED,
            started_at=started + timedelta(minutes=20 * number),
            ended_at=started + timedelta(minutes=20 * number + 4),
            direction="inbound",
            queue=queue,
            division=division,
            agent=agent,
            review_status=Conversation.ReviewStatus.IN_REVIEW,
        )
        transcript = Transcript.objects.create(
            conversation=conversation,
            communication_id=f"comm-{number}",
            sha256=f"{number}" * 64,
            size_bytes=100,
            raw_path="transcripts/00/none",
            redaction_status=Transcript.RedactionStatus.VERIFIED,
        )
        Utterance.objects.create(
            transcript=transcript,
            conversation=conversation,
            index=0,
            speaker="internal",
            participant_purpose="agent",
            start_ms=0,
            end_ms=3_000,
            text="I can promise you a full refund today",
        )
        conversations.append(conversation)
    return conversations


def _user(username: str, group: str, **scope):
    from django.contrib.auth.models import Group, User

    from reviews.models import AccessScope, Division

    user = User.objects.create_user(username, password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    if group == "Supervisor":
        AccessScope.objects.create(user=user).divisions.set(Division.objects.all())
    return user


def test_it_walks_an_escalation_from_the_supervisor_to_compliance_and_back(page, calls):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    supervisor = _user("sam", "Supervisor")
    officer = _user("cleo", "Compliance")
    _user("omar", "Compliance")
    device = TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)
    # Two cases escalated earlier, so the inbox shows more than one.
    for conversation, reason, hours_ago in [
        (calls[1], "Customer asked to be removed from marketing calls; agent kept pitching", 26),
        (calls[2], "Card number read out loud by the customer, check the recording is masked", 2),
    ]:
        at = datetime.now(UTC) - timedelta(hours=hours_ago)
        Escalation.open_for(conversation=conversation, by=supervisor, reason=reason, at=at)

    log_in(page, "sam")
    page.goto(f"/conversations/{calls[0].genesys_id}/")
    page.select_option("#review-panel select[name=status]", "escalated")
    page.fill("#review-panel textarea[name=note]", "Agent promised a refund outside policy")
    page.click("#review-panel button[type=submit]")
    page.wait_for_selector("#review-panel >> text=Escalation open")
    assert "Escalations" not in page.inner_text("nav.mainnav")
    log_out(page)

    log_in(page, "cleo", device)
    page.click("nav.mainnav >> text=Escalations")
    page.wait_for_selector("text=Agent promised a refund outside policy")
    assert page.locator("table.escalations tbody tr").count() == 3
    screenshot_path = SCREENSHOTS / "escalations.png"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot_path), full_page=False)

    page.click("table.escalations >> text=Agent promised a refund outside policy >> xpath=../td[1]/a")
    page.wait_for_selector("h1 >> text=Escalation of")
    page.fill("form.escalation-comment textarea", "Listened to the call: the refund was promised twice.")
    page.click("form.escalation-comment button")
    page.wait_for_selector("text=Comment added.")
    page.select_option("form.escalation-assign select", label="omar")
    page.click("form.escalation-assign button")
    page.wait_for_selector("text=Assigned to omar.")
    page.select_option("form.escalation-resolve select", "coaching")
    page.fill("form.escalation-resolve textarea", "Coach the agent on the refund policy.")
    page.click("form.escalation-resolve button")
    page.wait_for_selector("text=Resolved: Coaching.")
    assert page.locator("form.escalation-resolve").count() == 0
    log_out(page)

    log_in(page, "sam")
    page.goto(f"/conversations/{calls[0].genesys_id}/")
    panel = page.inner_text("#review-panel")
    assert "Outcome: Coaching" in panel
    assert "Coach the agent on the refund policy." in panel

    steps = AuditEvent.objects.filter(action=AuditEvent.Action.ESCALATION).order_by("at", "pk")
    expected = ["escalate", "inbox", "view", "comment", "view", "assign", "view", "resolve", "view"]
    assert [event.detail["step"] for event in steps] == expected
