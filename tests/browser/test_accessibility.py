"""Accessibility in a real browser (Debian's Chromium via Playwright): axe-core on every page, signed in as the
role that works there, finds no serious or critical violation; every page has its landmarks; and a person who asked
their system for reduced motion gets no smooth scrolling, animation or transition.

axe runs through tests/browser/support.py (assert_no_serious_axe_violations): moderate and minor findings are
printed, not failed. One test per role walks that role's pages and reports every page that fails, not only the
first one.
"""

from __future__ import annotations

import pytest

from reviews.models import AuditEvent, Escalation
from tests.browser.support import (
    BROWSER_MARKS,
    assert_no_serious_axe_violations,
    chromium_page,
    landmarks,
    log_in,
    motion_of,
    qa_world,
)

pytestmark = BROWSER_MARKS


@pytest.fixture
def world(transactional_db, settings):
    settings.COMPLIANCE_SINKS = []
    world = qa_world()
    Escalation.open_for(
        conversation=world.calls[3], by=world.supervisor, reason="Customer read out a card number", at=world.now
    )
    return world


def _check_pages(page, pages, *, signed_in: bool = True) -> None:
    """Open each (name, path, ready selector) in turn; every failing page is listed in one assertion."""
    failures = []
    for name, path, ready in pages:
        response = page.goto(path)
        try:
            if ready:
                page.wait_for_selector(ready, timeout=10_000)
            page.wait_for_load_state("networkidle")
            found = landmarks(page)
            missing = [kind for kind in ("header", "main") if found[kind] != 1]
            if signed_in and not found["nav"]:
                missing.append("nav")
            assert_no_serious_axe_violations(page, name)
            assert not missing, f"missing landmarks: {', '.join(missing)} ({found})"
            assert page.locator("h1").count() == 1, f"{page.locator('h1').count()} h1 headings"
        except Exception as error:  # collected, then reported together
            status = response.status if response is not None else "?"
            failures.append(f"--- {name} ({path}, HTTP {status}):\n{error}")
    assert not failures, "\n".join(failures)
    assert page.csp_errors == []


def test_it_finds_no_serious_violations_on_the_pages_of_a_supervisor(live_server, world):
    call, other = world.calls[0], world.calls[1]
    with chromium_page(live_server.url) as page:
        log_in(page, "sam")
        _check_pages(
            page,
            [
                ("my queue", "/queue/", "h1"),
                ("search with hits", "/search/?q=identity", ".hit-group"),
                ("search as a work list", "/search/?sentiment=negative&sort=duration_desc", "table.data"),
                ("review page with audio", f"/conversations/{call.genesys_id}/", "#evaluation-panel"),
                ("review page preparing audio", f"/conversations/{other.genesys_id}/", "#evaluation-panel"),
                ("evaluate page", f"/conversations/{call.genesys_id}/evaluate/", "#evaluation-panel"),
                ("charts", "/charts/", "svg"),
                ("quality dashboard", "/quality/", "h1"),
                ("operations", "/operations/", "h1"),
                ("password change", "/account/password/", "form"),
            ],
        )


def test_it_finds_no_serious_violations_on_an_evaluators_panel_while_editing(live_server, world):
    call = world.calls[0]
    with chromium_page(live_server.url) as page:
        log_in(page, "rita")
        page.goto(f"/conversations/{call.genesys_id}/evaluate/")
        page.click("#evaluation-panel form[action$='/evaluations/start'] button[type=submit]")
        page.wait_for_selector("#evaluation-panel form.evaluation-edit")
        assert_no_serious_axe_violations(page, "evaluation panel, editing")
        assert page.csp_errors == []


def test_it_finds_no_serious_violations_on_the_pages_of_a_compliance_officer(live_server, world):
    escalation = Escalation.objects.get()
    with chromium_page(live_server.url) as page:
        log_in(page, "casey", world.device)
        event = AuditEvent.objects.order_by("-pk").first()
        _check_pages(
            page,
            [
                ("audit log", "/audit/", "table"),
                ("audit event", f"/audit/{event.pk}/", "h1"),
                ("holds", "/compliance/holds/", "form.hold-form"),
                ("escalations", "/escalations/", "table.escalations"),
                ("escalation", f"/escalations/{escalation.pk}/", "form.escalation-comment"),
                ("subject requests", "/compliance/subject-requests/", "form"),
                ("my queue, read-only", "/queue/", "h1"),
            ],
        )


def test_it_finds_no_serious_violations_on_the_sign_in_and_error_pages(live_server, world):
    with chromium_page(live_server.url) as page:
        _check_pages(page, [("sign in", "/login/", "form")], signed_in=False)
        page.fill("input[name=username]", "rita")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        page.wait_for_selector("main .error")
        assert_no_serious_axe_violations(page, "sign in, wrong password")

        log_in(page, "rita")
        _check_pages(page, [("403 (a reviewer on the audit log)", "/audit/", "h1")])
        assert "Error 403" in page.inner_text("main")
        # 404.html is the frame without request state (500.html): a banner and main, no navigation.
        _check_pages(page, [("404", "/conversations/no-such-call/", "h1")], signed_in=False)
        assert "Error 404" in page.inner_text("main")


def _chart_names(page) -> list[dict]:
    """Each chart's role and accessible name (aria-label, or the text of what aria-labelledby points at)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("main svg.chart")].map((svg) => {
            const ids = (svg.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
            const named = ids.map((id) => document.getElementById(id)).filter(Boolean);
            const name = svg.getAttribute("aria-label") || named.map((el) => el.textContent.trim()).join(" ");
            return {role: svg.getAttribute("role"), name: name.replace(/\\s+/g, " ").trim()};
        })"""
    )


def test_it_gives_every_chart_a_distinct_accessible_name(live_server, world):
    with chromium_page(live_server.url) as page:
        log_in(page, "sam")
        for path in ("/charts/", "/quality/"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            charts = _chart_names(page)
            assert charts, f"no chart on {path}"
            assert all(chart["role"] == "img" and chart["name"] for chart in charts), (path, charts)
            names = [chart["name"] for chart in charts]
            assert len(set(names)) == len(names), (path, sorted(names))


def test_it_honours_reduced_motion(live_server, world):
    """With prefers-reduced-motion the page neither scrolls smoothly nor animates nor transitions; without it the
    same states do move (so the check would notice the rule going away)."""
    other = world.calls[1]  # no recording yet: the player region shows the "preparing" spinner

    def moving_states(page) -> dict:
        page.goto(f"/conversations/{other.genesys_id}/")
        page.wait_for_selector(".audio-spinner")
        page.goto("/search/?q=identity")
        page.wait_for_selector(".hit-group")
        # The state htmx gives the results while a search runs (it fades them).
        page.evaluate("() => document.getElementById('results').classList.add('htmx-request')")
        searching = motion_of(page)
        page.goto(f"/conversations/{other.genesys_id}/")
        page.wait_for_selector(".audio-spinner")
        return {"searching": searching, "preparing": motion_of(page)}

    with chromium_page(live_server.url) as page:
        log_in(page, "sam")
        normal = moving_states(page)
    assert normal["searching"]["transition"] > 0 and normal["preparing"]["animation"] > 0

    with chromium_page(live_server.url, reduced_motion="reduce") as page:
        log_in(page, "sam")
        assert page.evaluate("() => matchMedia('(prefers-reduced-motion: reduce)').matches")
        reduced = moving_states(page)
    for state, motion in reduced.items():
        assert motion == {"scroll": "auto", "animation": 0, "transition": 0}, (state, motion)
