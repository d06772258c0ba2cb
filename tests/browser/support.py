"""What every browser test shares: Debian's Chromium through Playwright, the screenshot folder, a page that
collects Content-Security-Policy violations (a page that needs inline script or eval shows up there), the axe-core
check (assert_no_serious_axe_violations) and a small QA world (qa_world) for the QA flows.

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
    "review-audio", "evaluation", "work-queue", "search-worklist", "quality", "review-notes",
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


def log_out(page) -> None:
    """Sign out through the top bar, ending on the login page."""
    page.click("text=Log out")
    page.wait_for_url("**/login/**")


@contextmanager
def chromium_page(base_url: str, *, height: int = 900, reduced_motion: str | None = None) -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
            )
            context = browser.new_context(
                viewport={"width": 1366, "height": height}, base_url=base_url, reduced_motion=reduced_motion
            )
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


# axe-core (the copy axe-playwright-python ships, requirements-dev.txt): these impacts fail a test; the others are
# printed. The rule sets are WCAG 2.0/2.1/2.2 A and AA plus axe's best practices (landmarks, headings, regions).
AXE_FAILING_IMPACTS = ("serious", "critical")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@contextmanager
def htmx_settled(page, *, timeout_ms: int = 10_000) -> Iterator[None]:
    """Wait, after the body runs, until htmx has swapped and settled the response it triggered. Waiting for the
    response alone races the swap: the old content is still in the DOM when the response arrives."""
    page.evaluate(
        "() => { window.htmxSettled = false;"
        " document.addEventListener('htmx:afterSettle', () => { window.htmxSettled = true; }, {once: true}); }"
    )
    yield
    page.wait_for_function("() => window.htmxSettled === true", timeout=timeout_ms)


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is now. The script goes in through Playwright's evaluate (the
    DevTools protocol, which the page's Content-Security-Policy does not govern), so the page keeps its strict
    CSP and nothing is added to it for the other tests."""
    import json

    from axe_playwright_python.base import AXE_SCRIPT

    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    return page.evaluate(f"axe.run(document, {json.dumps(options)}).then(results => results.violations)")


def describe_violation(violation: dict, *, nodes: int = 5) -> str:
    """Rule id, impact, help and help URL; then each element (its target and axe's reason), the first `nodes`."""
    lines = [f"{violation['id']} [{violation['impact']}]: {violation['help']} — {violation['helpUrl']}"]
    for node in violation["nodes"][:nodes]:
        target = " ".join(str(part) for part in node["target"])
        checks = node.get("any", []) + node.get("all", []) + node.get("none", [])
        lines.append(f"    {target}: {checks[0]['message'] if checks else ''}")
    if len(violation["nodes"]) > nodes:
        lines.append(f"    … and {len(violation['nodes']) - nodes} more")
    return "\n".join(lines)


def assert_no_serious_axe_violations(page, name: str) -> list[dict]:
    """Run axe-core on the page: a serious or critical violation fails (rule id, targets, help URL listed), moderate
    and minor ones are printed (pytest shows them with -s or on failure). Returns every violation."""
    violations = axe_violations(page)
    failing = [v for v in violations if v["impact"] in AXE_FAILING_IMPACTS]
    for violation in violations:
        if violation not in failing:
            print(f"axe on {name}: {describe_violation(violation)}")
    assert not failing, f"axe-core on {name} ({page.url}):\n" + "\n".join(describe_violation(v) for v in failing)
    return violations


def landmarks(page) -> dict[str, int]:
    """How many banner, navigation and main landmarks the page has (elements or their ARIA roles)."""
    return page.evaluate(
        """() => ({
            header: document.querySelectorAll("body > header, [role=banner]").length,
            nav: document.querySelectorAll("nav, [role=navigation]").length,
            main: document.querySelectorAll("main, [role=main]").length,
        })"""
    )


def motion_of(page) -> dict:
    """The page's scroll behaviour and the longest animation and transition any element has, in seconds."""
    return page.evaluate(
        """() => {
            const seconds = (value) => Math.max(0, ...value.split(",").map((part) => {
                const n = parseFloat(part);
                return isNaN(n) ? 0 : (part.trim().endsWith("ms") ? n / 1000 : n);
            }));
            let animation = 0, transition = 0;
            for (const element of document.querySelectorAll("*")) {
                const style = getComputedStyle(element);
                if (style.animationName !== "none") animation = Math.max(animation, seconds(style.animationDuration));
                transition = Math.max(transition, seconds(style.transitionDuration));
            }
            return {scroll: getComputedStyle(document.documentElement).scrollBehavior, animation, transition};
        }"""
    )


def silent_wav(seconds: float = 4.0, *, rate: int = 8000) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


# A small QA world for the QA flows (evaluations, My queue, search as a work list, accessibility): one division with
# two queues, agents, calls of different lengths, sentiment and leaks, the starter scorecard scored automatically,
# a reviewer with assignments (one overdue), a supervisor, and a compliance officer with a TOTP device.

GREETING = "thank you for calling card billing, this call may be recorded"
CALLS = (
    # (minutes, mean sentiment, leak kind, queue index, agent index)
    (2, 0.6, None, 0, 0),
    (5, -0.7, "card_number", 0, 0),
    (12, -0.6, None, 0, 1),
    (7, 0.0, "email", 1, 1),
    (15, 0.5, None, 1, 0),
    (3, -0.8, "card_number", 1, 1),
)


def qa_world(*, now=None):
    """Build the world (call inside a test with transactional_db) and return it as a SimpleNamespace."""
    import hashlib
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from django.contrib.auth.models import Group, User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from reviews import blobs
    from reviews.evaluations.auto import score_conversation_automatically
    from reviews.evaluations.starter import install_starter_form
    from reviews.models import (
        AccessScope,
        Agent,
        AudioRecording,
        Conversation,
        Division,
        Queue,
        RedactionFinding,
        ReviewAssignment,
        Transcript,
        Utterance,
    )

    now = now or datetime.now(UTC).replace(microsecond=0)
    division = Division.objects.create(genesys_id="div-retail", name="Retail")
    queues = [
        Queue.objects.create(genesys_id="queue-billing", name="Card Billing", division=division),
        Queue.objects.create(genesys_id="queue-claims", name="Claims", division=division),
    ]
    agents = [
        Agent.objects.create(genesys_id="agent-dana", name="Dana Agent"),
        Agent.objects.create(genesys_id="agent-lee", name="Lee Agent"),
    ]
    calls = []
    for number, (minutes, sentiment, leak, queue_index, agent_index) in enumerate(CALLS, start=1):
        started = now - timedelta(hours=2 * number)
        conversation = Conversation.objects.create(
            genesys_id=f"9a0c0000-0000-4000-8000-{number:012d}",
            state=Conversation.State.STORED,
            started_at=started,
            ended_at=started + timedelta(minutes=minutes),
            direction="inbound",
            queue=queues[queue_index],
            division=division,
            agent=agents[agent_index],
        )
        transcript = Transcript.objects.create(
            conversation=conversation,
            communication_id=f"5e550000-0000-4000-8000-{number:012d}",
            recording_id=f"rec-{number}",
            sha256=f"{number:x}" * 64,
            size_bytes=100,
            raw_path="transcripts/00/none",
            redaction_status=(Transcript.RedactionStatus.LEAKS_FOUND if leak else Transcript.RedactionStatus.VERIFIED),
            confidence_mean=0.9,
            word_count=40,
            leak_count=1 if leak else 0,
            utterance_count=5,
        )
        span = minutes * 60_000
        lines = [
            ("internal", "agent", GREETING, None),
            ("external", "customer", f"hello, I am calling about my card statement number {number}", sentiment),
            ("internal", "agent", "can you confirm your identity with your date of birth please", None),
            ("external", "customer", "my card number is [card number] thanks", sentiment),
            ("internal", "agent", "is there anything else I can help you with today", None),
        ]
        for index, (speaker, purpose, text, mood) in enumerate(lines):
            start = index * span // len(lines)
            utterance = Utterance.objects.create(
                transcript=transcript,
                conversation=conversation,
                index=index,
                speaker=speaker,
                participant_purpose=purpose,
                start_ms=start,
                end_ms=start + span // len(lines) - 500,
                text=text,
                confidence=0.9,
                sentiment=mood,
            )
            if leak and index == 3:
                RedactionFinding.objects.create(
                    transcript=transcript,
                    utterance=utterance,
                    kind=leak,
                    rule="test",
                    confidence=0.95,
                    start_ms=start,
                    masked_excerpt="4111 **** **** 1111" if leak == "card_number" else "m***@example.com",
                )
        calls.append(conversation)

    wav = silent_wav()
    digest = hashlib.sha256(wav).hexdigest()
    with blobs.staging_file("audio") as (stream, staged):
        stream.write(wav)
        stream.flush()
        raw_path = blobs.promote(staged, kind="audio", sha256=digest)
    AudioRecording.objects.create(
        conversation=calls[0], recording_id="rec-audio-1", sha256=digest, size_bytes=len(wav),
        content_type="audio/wav", raw_path=raw_path,
    )  # fmt: skip

    version, _ = install_starter_form(now=now)
    for conversation in calls:
        score_conversation_automatically(conversation, now=now)

    def user(username: str, group: str):
        person = User.objects.create_user(username, password=PASSWORD)
        person.groups.add(Group.objects.get_or_create(name=group)[0])
        return person

    reviewer, other_reviewer = user("rita", "Reviewer"), user("ravi", "Reviewer")
    for person in (reviewer, other_reviewer):
        AccessScope.objects.create(user=person).queues.set(queues)
    supervisor = user("sam", "Supervisor")
    AccessScope.objects.create(user=supervisor).divisions.add(division)
    officer = user("casey", "Compliance")
    device = TOTPDevice.objects.create(user=officer, name="phone", confirmed=True)
    assignments = [
        ReviewAssignment.objects.create(
            conversation=calls[1], assignee=reviewer, assigned_by=supervisor, created_at=now - timedelta(days=3),
            due_at=now - timedelta(days=1),
        ),
        ReviewAssignment.objects.create(
            conversation=calls[2], assignee=reviewer, assigned_by=supervisor, created_at=now - timedelta(days=1),
            due_at=now + timedelta(days=6),
        ),
    ]  # fmt: skip
    return SimpleNamespace(
        now=now, division=division, queues=queues, agents=agents, calls=calls, version=version,
        reviewer=reviewer, other_reviewer=other_reviewer, supervisor=supervisor, officer=officer, device=device,
        assignments=assignments,
    )  # fmt: skip


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
