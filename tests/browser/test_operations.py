"""The operations page in a real browser (Debian's Chromium via Playwright): the live refresh keeps keyboard focus
on the control that had it, and Retry really starts a failed conversation over: the page queues its task, the
worker (played here by the test, on the emulator) stores the transcript, and the next refresh shows it.
Screenshot: operations.png (one of DOCUMENTED_SCREENSHOTS).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reviews.models import Conversation
from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in

pytestmark = BROWSER_MARKS
State = Conversation.State
REFRESH_TIMEOUT_MS = 15_000  # the region refreshes every 5 s


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=900) as page:
        yield page


@pytest.fixture
def world(transactional_db, settings, task_queue):
    """The emulator with its clock at the real now; the pipeline has given up on one transcribed call (its real
    error rule, PIPELINE_MAX_ATTEMPTS errors in a row) and brought the others to their outcomes."""
    from genesys.errors import ServerError
    from reviews.pipeline import discover, run_backfill, transitions
    from reviews.pipeline.leases import claim_one
    from reviews.pipeline.schedule import now_of
    from tests.pipeline.support import running_world

    settings.COMPLIANCE_SINKS = ["filesystem"]
    settings.TRANSCRIPT_POLL_BASE_SECONDS = 5
    settings.TRANSCRIPT_POLL_MAX_SECONDS = 60
    settings.TRANSCRIPT_DEADLINE_SECONDS = 600
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(hours=2), now - timedelta(minutes=15)
    with running_world(conversations=12, large=0, malformed=1, now=now, start=start, end=end) as world:
        discover(client=world.client, start=start, end=end, now=now_of(world.clock))
        sim = next(c for c in world.conversations() if c.transcript and c.transcript.kind == "normal")
        settings.PIPELINE_MAX_ATTEMPTS = 1
        token, row = claim_one(genesys_id=sim.conversation_id, now=now_of(world.clock))
        transitions.record_error(row, token=token, now=now_of(world.clock), error=ServerError("HTTP 503"))
        settings.PIPELINE_MAX_ATTEMPTS = 8
        run_backfill(client=world.client, since=start, until=now, clock=world.clock, max_wait=3600)
        world.failed = Conversation.objects.get(genesys_id=sim.conversation_id)
        world.sim = sim
        world.task_queue = task_queue
        yield world


@pytest.fixture
def supervisor(world):
    from django.contrib.auth.models import Group, User

    from reviews.models import AccessScope, Division

    user = User.objects.create_user("sam", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
    AccessScope.objects.create(user=user).divisions.set(Division.objects.all())
    return user


def _count_swaps(page) -> None:
    """Count refreshes once settled: htmx wires up the new content's hx-post then, and a key pressed on a form it has
    not processed yet submits the ordinary way (a full page load, which works, but is not what is tested here)."""
    page.evaluate(
        "() => { window.opsSwaps = 0; document.addEventListener('htmx:afterSettle', () => { window.opsSwaps += 1; }); }"
    )


def _wait_for_swaps(page, count: int) -> None:
    page.wait_for_function(f"() => window.opsSwaps >= {count}", timeout=REFRESH_TIMEOUT_MS)


def _active_id(page) -> str:
    return page.evaluate("() => document.activeElement ? document.activeElement.id : ''")


def test_it_keeps_focus_across_refreshes_and_retries_for_real(page, world, supervisor):
    assert world.failed.state == State.FAILED
    assert Conversation.objects.filter(state=State.AUDIO_FALLBACK).exists()  # an outcome, not a failure
    log_in(page, "sam")
    page.goto("/operations/")
    retry = f"#retry-{world.failed.pk}"
    page.wait_for_selector(retry)
    failures = page.locator("#ops-failures")
    assert world.failed.genesys_id[:15] in failures.inner_text()
    outcomes = page.locator("#ops-outcomes")
    assert "Audio only" in outcomes.inner_text() and "Audio only" not in failures.inner_text()
    page.screenshot(path=str(_screenshot_path("operations")), full_page=True)

    # Keyboard focus on the Retry button survives a refresh: the button is a new element, focused again.
    page.focus(retry)
    page.evaluate(f"() => {{ document.querySelector('{retry}').dataset.before = 'refresh'; }}")
    _count_swaps(page)
    _wait_for_swaps(page, 1)
    assert _active_id(page) == f"retry-{world.failed.pk}"
    assert page.evaluate("() => document.activeElement.dataset.before === undefined")  # swapped, not kept

    # Enter presses Retry: the row starts over and its advance task is queued; focus goes to the section.
    page.keyboard.press("Enter")
    page.wait_for_selector(f"text=Retry queued for {world.failed.genesys_id}", timeout=REFRESH_TIMEOUT_MS)
    row = Conversation.objects.get(pk=world.failed.pk)
    assert (row.state, row.attempts, row.last_error) == (State.AWAITING_TRANSCRIPT, 0, "")
    assert _active_id(page) == "ops-failures"  # the row left the list; focus did not fall to the body

    # The worker runs the queued task on the emulator: the transcript is stored, the next refresh shows it.
    from reviews.pipeline import advance_conversation
    from reviews.pipeline.requeue import ADVANCE_CONVERSATION_TASK

    [(func, args)] = world.task_queue.take()
    assert (func, args) == (ADVANCE_CONVERSATION_TASK, (world.failed.genesys_id,))
    assert advance_conversation(client=world.client, clock=world.clock, genesys_id=args[0]) == State.STORED
    swaps = page.evaluate("() => window.opsSwaps")
    _wait_for_swaps(page, swaps + 1)
    assert world.failed.genesys_id[:15] not in page.locator("#ops-failures").inner_text()
    assert page.csp_errors == []


def _screenshot_path(name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
