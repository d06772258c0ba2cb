"""Search as a work list in a real browser (Debian's Chromium via Playwright): without words, the filters (duration,
sentiment, leak found, evaluated) list the matching calls with their total, the sort reorders them in place, and the
CSV export downloads that very list (same count, same calls, same order). Screenshot: search-worklist.png.

The world (tests/browser/support.py CALLS): six calls of 2, 5, 12, 7, 15 and 3 minutes; negative sentiment on the
5, 12 and 3 minute calls; a card number leak in the 5 and 3 minute calls, an e-mail address in the 7 minute one.
"""

from __future__ import annotations

import csv
from urllib.parse import parse_qs, urlparse

import pytest

from reviews.models import AuditEvent, Evaluation
from tests.browser.support import BROWSER_MARKS, SCREENSHOTS, chromium_page, htmx_settled, log_in, qa_world

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=1000) as page:
        yield page


@pytest.fixture
def world(transactional_db, settings):
    settings.COMPLIANCE_SINKS = []
    return qa_world()


def _ids(world, *numbers: int) -> list[str]:
    return [world.calls[number - 1].genesys_id for number in numbers]


def _listed(page) -> list[str]:
    """The Genesys ids of the listed calls, in the page's order."""
    hrefs = page.eval_on_selector_all("#results table.data tbody a", "links => links.map(a => a.pathname)")
    return [href.rstrip("/").rsplit("/", 1)[1] for href in hrefs]


def _apply(page) -> None:
    with htmx_settled(page):
        page.click("fieldset.filters button[type=submit]")


def _download(page, tmp_path) -> list[dict]:
    with page.expect_download() as download_info:
        page.click("#results a[download]:has-text('Download CSV')")
    target = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(target)
    with target.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_it_filters_sorts_counts_and_exports_the_work_list(page, world, tmp_path):
    log_in(page, "sam")
    page.click("nav.mainnav >> text=Search")
    page.wait_for_url("**/search/")
    assert page.inner_text("#results .result-count") == "6 conversations"

    page.select_option("select[name=sentiment]", "negative")
    _apply(page)
    assert page.inner_text("#results .result-count") == "3 conversations"
    assert set(_listed(page)) == set(_ids(world, 2, 3, 6))
    assert parse_qs(urlparse(page.url).query)["sentiment"] == ["negative"]  # the URL can be shared

    page.fill("input[name=duration_min]", "4")
    _apply(page)
    assert page.inner_text("#results .result-count") == "2 conversations"
    assert set(_listed(page)) == set(_ids(world, 2, 3))

    # The sort applies as soon as it changes (no button), keeping the filters.
    with htmx_settled(page):
        page.select_option("select[name=sort]", "duration_desc")
    assert _listed(page) == _ids(world, 3, 2)  # 12 minutes, then 5
    assert parse_qs(urlparse(page.url).query)["duration_min"] == ["4"]
    with htmx_settled(page):
        page.select_option("select[name=sort]", "duration_asc")
    assert _listed(page) == _ids(world, 2, 3)

    page.fill("input[name=duration_min]", "")
    page.select_option("select[name=leak_kind]", "card_number")
    _apply(page)
    assert page.inner_text("#results .result-count") == "2 conversations"
    assert _listed(page) == _ids(world, 6, 2)  # the card-number leaks, shortest first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "search-worklist.png"), full_page=False)

    rows = _download(page, tmp_path)
    assert [row["conversation_id"] for row in rows] == _ids(world, 6, 2)  # the same list, in the same order
    assert [row["duration_seconds"] for row in rows] == ["180", "300"]
    assert {row["sentiment"] for row in rows} == {"negative"}
    export = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, username="sam").get()
    assert export.detail["total"] == export.detail["rows"] == 2
    assert export.detail["filters"] == {"sentiment": "negative", "leak_kind": "card_number"}

    page.select_option("select[name=sentiment]", "")
    page.select_option("select[name=leak_kind]", "email")
    _apply(page)
    assert page.inner_text("#results .result-count") == "1 conversation"
    assert _listed(page) == _ids(world, 4)
    assert [row["conversation_id"] for row in _download(page, tmp_path)] == _ids(world, 4)
    assert page.csp_errors == []


def test_it_lists_the_calls_a_person_evaluated_or_not(page, world, tmp_path):
    """The "evaluated" filter: a person finished an evaluation (submitted or disputed, as coverage counts one), the
    rules scored it, or no person has yet; a draft is not an evaluation."""
    Evaluation.objects.create(
        conversation=world.calls[2], form_version=world.version, kind=Evaluation.Kind.HUMAN,
        evaluator=world.reviewer, status=Evaluation.Status.SUBMITTED, score=80.0,
    )  # fmt: skip
    Evaluation.objects.create(
        conversation=world.calls[4], form_version=world.version, kind=Evaluation.Kind.HUMAN,
        evaluator=world.reviewer, status=Evaluation.Status.DRAFT,
    )  # fmt: skip
    log_in(page, "sam")
    page.goto("/search/")
    page.select_option("select[name=evaluated]", "automatic")
    _apply(page)
    assert page.inner_text("#results .result-count") == "6 conversations"  # the starter form scored every call

    page.select_option("select[name=evaluated]", "human")
    _apply(page)
    assert page.inner_text("#results .result-count") == "1 conversation"  # a draft is not an evaluation yet
    assert _listed(page) == _ids(world, 3)
    assert [row["conversation_id"] for row in _download(page, tmp_path)] == _ids(world, 3)

    page.select_option("select[name=evaluated]", "not_human")
    page.select_option("select[name=sentiment]", "negative")
    _apply(page)
    assert page.inner_text("#results .result-count") == "2 conversations"
    assert set(_listed(page)) == set(_ids(world, 2, 6))
