"""The top bar on a phone, and the error pages, in a real browser (Debian's Chromium via Playwright).

Screenshot: var/screenshots/phone-top-bar.png (tests/browser/support.py).
"""

from __future__ import annotations

import pytest

from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in

pytestmark = BROWSER_MARKS
PHONE = 360


@pytest.fixture
def compliance_officer(transactional_db):
    """The role with the most links in the top bar (and a second factor to get past)."""
    from django.contrib.auth.models import Group, User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = User.objects.create_user("officer-with-a-long-name", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def test_it_keeps_every_top_bar_link_on_a_phone_screen(live_server, compliance_officer):
    with chromium_page(live_server.url) as page:
        page.set_viewport_size({"width": PHONE, "height": 740})
        log_in(page, compliance_officer[0].username, compliance_officer[1])
        page.goto("/account/password/")  # a page whose own layout fits a phone, so only the bar is measured

        boxes = page.eval_on_selector_all(
            ".topbar a, .topbar button",
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return {text: e.textContent.trim(), left: r.left, right: r.right, height: r.height}; })",
        )
        assert len(boxes) >= 6  # brand, Search, Charts, Operations, Escalations, Holds, Audit log, Password, Log out
        for box in boxes:
            assert box["left"] >= 0 and box["right"] <= PHONE, box  # on screen, no sideways scrolling
            assert box["height"] >= 24, box  # a tap target (WCAG 2.5.8)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
        assert not page.csp_errors
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "phone-top-bar.png"))


def test_it_shows_the_styled_not_found_page(live_server, compliance_officer):
    with chromium_page(live_server.url) as page:
        log_in(page, compliance_officer[0].username, compliance_officer[1])
        response = page.goto("/no-such-page/")

        assert response.status == 404
        assert page.locator("h1").inner_text() == "Page not found"
        assert page.locator("link[rel=icon]").get_attribute("href").endswith("favicon.svg")
        assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor") == "rgb(20, 33, 61)"
        assert not page.csp_errors
