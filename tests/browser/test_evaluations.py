"""Scorecards in a real browser (Debian's Chromium via Playwright): a reviewer opens a call from My queue, the
evaluation panel loads after the page (hx-get), shows the automatic answers, and her evaluation starts from them; she
overrides one, answers the questions for a person, submits and sees the score. A supervisor disputes it with a reason
and re-scores it; the panel keeps the score before and after. Screenshot: evaluation.png.
"""

from __future__ import annotations

import pytest

from reviews.models import AuditEvent, Evaluation, EvaluationAnswer, EvaluationDispute
from tests.browser.support import BROWSER_MARKS, SCREENSHOTS, chromium_page, log_in, log_out, qa_world

pytestmark = BROWSER_MARKS

FURTHER_HELP = "The agent offers further help before closing"
EMPATHY = "The agent shows empathy"
RESOLVED = "The caller's issue is resolved"


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=1100) as page:
        yield page


@pytest.fixture
def world(transactional_db, settings):
    settings.COMPLIANCE_SINKS = []
    return qa_world()


def _question(page, text: str):
    return page.locator("#evaluation-panel fieldset.evaluation-question-set").filter(
        has=page.locator("legend", has_text=text)
    )


def test_it_evaluates_a_call_from_the_automatic_answers_then_disputes_and_rescores_it(page, world):
    call = world.calls[1]  # assigned to rita, overdue
    log_in(page, "rita")
    page.click(f"table.work-queue-rows a[href='/conversations/{call.genesys_id}/']")
    page.wait_for_url(f"**/conversations/{call.genesys_id}/")

    # The panel replaces its placeholder once the page has loaded (hx-get, its own audited view).
    page.wait_for_selector("#evaluation-panel")
    assert page.locator("#evaluation-panel-slot").count() == 0
    automatic = page.locator("#evaluation-panel details.evaluation-automatic")
    assert automatic.locator("li").count() == 6  # every question with an automatic rule
    assert automatic.locator(".badge.answer-yes").count() == 6
    assert "100.0" in automatic.locator("summary").inner_text()

    page.click("#evaluation-panel button:has-text('Evaluate with Call quality (starter)')")
    page.wait_for_selector("#evaluation-panel form.evaluation-edit")
    assert "Evaluation started from the automatic answers." in page.inner_text("#evaluation-panel [role=status]")
    further_help = _question(page, FURTHER_HELP)
    assert further_help.locator("input[value=yes]").is_checked()  # the automatic answer, ready to keep or change
    assert "Automatic: YES" in further_help.inner_text()

    further_help.locator("label:has-text('No') input").check()
    _question(page, EMPATHY).locator("label:has-text('3') input").check()
    _question(page, RESOLVED).locator("label:has-text('Yes') input").check()
    page.click("#evaluation-panel button[value=submit]")
    page.wait_for_selector("#evaluation-panel table.evaluation-results")
    assert "Evaluation submitted." in page.inner_text("#evaluation-panel [role=status]")

    mine = Evaluation.objects.get(kind=Evaluation.Kind.HUMAN, evaluator=world.reviewer)
    assert mine.status == Evaluation.Status.SUBMITTED
    answers = {a.question.text: a for a in mine.answers.select_related("question")}
    assert answers[FURTHER_HELP].value == EvaluationAnswer.NO and answers[FURTHER_HELP].is_override
    assert (answers[EMPATHY].value, answers[RESOLVED].value) == ("3", "yes")
    # Weights 1+2+2+2+1 earned, further help (1) not, empathy 3/4 of 2, resolved 3: 12.5 of 14.
    expected = 89.3
    assert mine.score == expected
    row = page.locator("table.evaluation-results tbody tr", has_text="rita")
    assert str(expected) in row.inner_text() and "Submitted" in row.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#evaluation-panel").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "evaluation.png"), full_page=False)
    assert page.csp_errors == []
    log_out(page)

    # A supervisor disputes it, then re-scores it with a note.
    log_in(page, "sam")
    page.goto(f"/conversations/{call.genesys_id}/")
    page.wait_for_selector("#evaluation-panel table.evaluation-results")
    page.fill(f"#reason-{mine.pk}", "The agent did offer more help at 4:10")
    page.click("form.evaluation-dispute button")
    page.wait_for_selector("#evaluation-panel form.evaluation-edit >> text=Re-score the disputed evaluation by rita")
    assert "Disputed by sam: The agent did offer more help at 4:10" in page.inner_text("#evaluation-panel")
    _question(page, FURTHER_HELP).locator("label:has-text('Yes') input").check()
    page.fill(f"#note-{mine.pk}", "Further help was offered; answer set back to yes")
    page.click("#evaluation-panel form.evaluation-edit button[value=submit]")
    page.wait_for_selector("#evaluation-panel .evaluation-dispute-history")

    mine.refresh_from_db()
    dispute = EvaluationDispute.objects.get(evaluation=mine)
    assert mine.status == Evaluation.Status.SUBMITTED and mine.score == 96.4  # 13.5 of 14
    assert (dispute.score_before, dispute.score_after) == (expected, mine.score)
    history = page.inner_text("#evaluation-panel .evaluation-dispute-history")
    assert f"re-scored {expected} → {mine.score} by sam" in history
    steps = [
        event.detail.get("step")
        for event in AuditEvent.objects.filter(action=AuditEvent.Action.REVIEW, object_id=call.genesys_id).order_by(
            "pk"
        )
    ]
    assert steps[:3] == ["start", "override", "submit"] and "dispute" in steps and "rescore" in steps
    assert page.csp_errors == []
