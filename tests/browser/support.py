"""What every browser test shares: Debian's Chromium through Playwright, the screenshot folder, and a page that
collects Content-Security-Policy violations (a page that needs inline script or eval shows up there).

Screenshots go to var/screenshots (ignored), so `make test` never modifies a tracked file. `make screenshots`
runs the browser tests and then this file (`python tests/browser/support.py`), which copies the documented
screenshots, DOCUMENTED_SCREENSHOTS, over docs/screenshots on purpose.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
# The screenshots the README and docs/ show (docs/screenshots/<name>.png); the browser tests write others freely.
DOCUMENTED_SCREENSHOTS = (
    "search", "review", "charts", "operations", "audit-log", "holds", "escalations", "subject-requests",
    "review-audio",
)  # fmt: skip
PASSWORD = "correct horse battery staple"
# Where sign-in lands: "My queue" for reviewers and supervisors, search for everyone else (work_queue.landing_url_name).
LANDING = re.compile(r".*/(queue|search)/.*")

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


def log_in(page, username: str, device=None) -> None:
    """Sign in through the login page (and the TOTP step when `device` is given), ending on the landing page."""
    from tests.fixtures.accounts import totp_code

    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if device is not None:
        page.wait_for_url("**/account/verify/**")
        page.fill("input[name=otp_token]", totp_code(device))
        page.click("main form button[type=submit]")
    page.wait_for_url(LANDING)


@contextmanager
def chromium_page(base_url: str, *, height: int = 900) -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
            )
            context = browser.new_context(viewport={"width": 1366, "height": height}, base_url=base_url)
            page = context.new_page()
            page.csp_errors = []
            page.on(
                "console",
                lambda message: "Content Security Policy" in message.text and page.csp_errors.append(message.text),
            )
            yield page
            context.close()
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def publish_screenshots(*, source: Path = SCREENSHOTS, target: Path = DOCS_SCREENSHOTS) -> list[Path]:
    """Copy the documented screenshots from `source` over `target`; refuse (nothing copied) if one is missing,
    so a renamed or skipped test never leaves an old picture in the docs looking current."""
    missing = [name for name in DOCUMENTED_SCREENSHOTS if not (source / f"{name}.png").is_file()]
    if missing:
        raise SystemExit(
            f"no browser test wrote {', '.join(f'{name}.png' for name in missing)} into {source} "
            f"(is {CHROMIUM} installed? did the browser tests pass?); docs/screenshots left as it was"
        )
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in DOCUMENTED_SCREENSHOTS:
        shutil.copyfile(source / f"{name}.png", target / f"{name}.png")
        copied.append(target / f"{name}.png")
    return copied


def undocumented_in(target: Path = DOCS_SCREENSHOTS) -> list[Path]:
    """Pictures in the docs folder that no longer belong to DOCUMENTED_SCREENSHOTS (left for a person to remove)."""
    return sorted(path for path in target.glob("*.png") if path.stem not in DOCUMENTED_SCREENSHOTS)


if __name__ == "__main__":
    copied = publish_screenshots()
    print(
        f"copied {len(copied)} screenshots into {DOCS_SCREENSHOTS.relative_to(ROOT)}: "
        + ", ".join(p.name for p in copied)
    )
    for stale in undocumented_in():
        print(f"  {stale.relative_to(ROOT)} is not documented any more: remove it (git rm) if nothing links to it")
