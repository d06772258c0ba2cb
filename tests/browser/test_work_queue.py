"""My queue in a real browser (Debian's Chromium via Playwright): a reviewer lands on it after signing in, sees her
assignments soonest due first (the overdue one marked) and opens one; a supervisor bulk-assigns two unassigned calls
to her by a due date, then bulk-marks them reviewed from the team list. Screenshot: work-queue.png.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from reviews.models import AuditEvent, Conversation, ReviewAssignment
from tests.browser.support import BROWSER_MARKS, SCREENSHOTS, chromium_page, log_in, log_out, qa_world

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=1000) as page:
        yield page


@pytest.fixture
def world(transactional_db, settings):
    settings.COMPLIANCE_SINKS = []
    return qa_world()


def test_it_lands_a_reviewer_on_her_queue_and_lets_a_supervisor_assign_and_mark_reviewed_in_bulk(page, world):
    overdue, upcoming = world.assignments
    log_in(page, "rita")
    assert page.url.endswith("/queue/")  # a reviewer lands on My queue
    assert page.get_attribute("nav.mainnav a[aria-current=page]", "href") == "/queue/"
    rows = page.locator("form[aria-labelledby=mine-title] table.work-queue-rows tbody tr")
    assert rows.count() == 2
    assert overdue.conversation.genesys_id in rows.nth(0).inner_text()  # soonest due first
    assert "Overdue" in rows.nth(0).inner_text() and "overdue" in rows.nth(0).get_attribute("class")
    assert "Overdue" not in rows.nth(1).inner_text()
    assert "Assigned by sam" in rows.nth(1).inner_text()
    assert page.locator("form[action$='/queue/assign']").count() == 0  # reviewers do not assign

    rows.nth(1).locator(f"a[href='/conversations/{upcoming.conversation.genesys_id}/']").click()
    page.wait_for_url(f"**/conversations/{upcoming.conversation.genesys_id}/")
    page.wait_for_selector("#review-panel")
    assert AuditEvent.objects.filter(
        username="rita", action=AuditEvent.Action.VIEW_TRANSCRIPT, object_id=upcoming.conversation.genesys_id
    ).exists()
    log_out(page)

    log_in(page, "sam")
    assert page.url.endswith("/queue/")  # a supervisor lands there too
    assign = page.locator("form[action$='/queue/assign']")
    offered = assign.locator("tbody input[type=checkbox]")
    unassigned = {c.genesys_id for c in world.calls} - {a.conversation.genesys_id for a in world.assignments}
    assert {offered.nth(i).get_attribute("value") for i in range(offered.count())} == unassigned
    chosen = [offered.nth(0).get_attribute("value"), offered.nth(1).get_attribute("value")]
    for genesys_id in chosen:
        assign.locator(f"input[value='{genesys_id}']").check()
    assign.locator("select[name=assignee]").select_option(label="rita")
    due = timezone.localdate() + dt.timedelta(days=3)
    assign.locator("input[name=due_date]").fill(due.isoformat())
    assign.locator("button[type=submit]").click()
    page.wait_for_selector("text=2 calls assigned to rita.")

    made = ReviewAssignment.objects.filter(conversation__genesys_id__in=chosen, assignee=world.reviewer)
    assert made.count() == 2 and {a.assigned_by for a in made} == {world.supervisor}
    assert {timezone.localtime(a.due_at).date() for a in made} == {due}
    team = page.locator("form[aria-labelledby=team-title]")
    assert team.locator("tbody tr").count() == 4  # rita's two earlier ones and the two new ones
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "work-queue.png"), full_page=False)

    for genesys_id in chosen:
        team.locator(f"input[value='{genesys_id}']").check()
    team.locator("button[type=submit]").click()
    page.wait_for_selector("text=2 calls marked reviewed.")

    for conversation in Conversation.objects.filter(genesys_id__in=chosen):
        assert conversation.review_status == Conversation.ReviewStatus.REVIEWED
        assert conversation.reviewer == world.supervisor
    assert set(made.values_list("status", flat=True)) == {ReviewAssignment.Status.DONE}
    assert page.locator("form[aria-labelledby=team-title] tbody tr").count() == 2
    assert page.csp_errors == []
