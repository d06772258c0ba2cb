"""The supervisor's path through the dashboard in a real browser (Debian's Chromium via Playwright), and a
compliance officer's sign-in with a second factor and the lockout.

Data comes from the real pipeline: the emulator's conversations are ingested with a fake clock,
then the pages are driven as a person would. Screenshots land in var/screenshots/ (tests/browser/support.py;
`make screenshots` copies the documented ones into docs/screenshots/).
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from genesys.client import GenesysClient
from genesys.clock import FakeClock
from genesys.emulator import Emulator, generate_dataset
from genesys.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from reviews.models import AudioRecording, AuditEvent, Conversation, Utterance
from tests.browser.support import LANDING, SCREENSHOTS

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture
def ingested(transactional_db, settings):
    """Ingest 40 emulator conversations that ended in the last hours, through the real pipeline."""
    settings.TRANSCRIPT_POLL_BASE_SECONDS = 5
    settings.TRANSCRIPT_POLL_MAX_SECONDS = 60
    settings.TRANSCRIPT_DEADLINE_SECONDS = 600
    settings.COMPLIANCE_SINKS = ["filesystem"]
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(now.timestamp())
    dataset = generate_dataset(7, 40, now - timedelta(hours=6), now - timedelta(minutes=10))
    emulator = Emulator(dataset, clock=clock, faults="none", seed=7)
    from reviews.pipeline import run_backfill

    with emulator.serve() as base_url:
        client = GenesysClient(
            api_url=base_url,
            login_url=base_url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            clock=clock,
            rng=random.Random(1),
        )
        summary = run_backfill(client=client, since=now - timedelta(hours=7), until=now, clock=clock, max_wait=3600)
    emulator.close()
    assert Conversation.objects.filter(state=Conversation.State.STORED).exists(), summary
    return dataset


@pytest.fixture
def supervisor(transactional_db, ingested):
    from django.contrib.auth.models import Group, User

    from reviews.models import AccessScope, Division

    user = User.objects.create_user("sam", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
    scope = AccessScope.objects.create(user=user)
    scope.divisions.set(Division.objects.all())
    return user


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=live_server.url)
        yield context.new_page()
        context.close()
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(LANDING)


def a_phrase_said_by_an_agent() -> tuple[Utterance, str]:
    """Three consecutive content words (no stop words, which PostgreSQL does not highlight)."""
    for utterance in Utterance.objects.filter(participant_purpose="agent").order_by(
        "conversation__started_at", "index"
    ):
        words = [w.strip(",.?!") for w in utterance.text.lower().split()]
        for first in range(len(words) - 2):
            window = words[first : first + 3]
            if all(w.isalpha() and len(w) >= 4 for w in window):
                return utterance, " ".join(window)
    raise AssertionError("the ingested data has no agent utterance with three content words in a row")


def test_it_walks_the_supervisor_review_flow(page, supervisor, ingested):
    _utterance, phrase = a_phrase_said_by_an_agent()

    log_in(page, "sam")
    assert page.url.endswith("/queue/")  # a supervisor lands on "My queue"
    page.click("nav.mainnav >> text=Search")
    page.fill("input[name=q]", f'"{phrase}"')
    page.click(".querybar button[type=submit]")
    page.wait_for_selector(".hit-group mark")
    assert "q=" in page.url  # the URL reflects the query, so it can be shared and the back button works
    marked = page.inner_text(".hit-group mark").lower()
    assert any(word in marked for word in phrase.split())
    screenshot(page, "search")

    hit_link = page.locator('.hit-group a[href*="?t="]').first
    href = hit_link.get_attribute("href")
    conversation = Conversation.objects.get(genesys_id=href.split("/conversations/")[1].split("/")[0])
    utterance = Utterance.objects.get(pk=int(href.rsplit("#u-", 1)[1]))
    if not AudioRecording.objects.filter(conversation=conversation).exists():
        # Transcribed calls keep no fallback audio; attach the call's real recording so the player can seek.
        sim = next(c for c in ingested.conversations if c.conversation_id == conversation.genesys_id)
        _attach_recording(conversation, sim.wav_bytes())
    hit_link.click()
    # The page script highlights the hit's turn once it has run; wait for that rather than racing it.
    page.wait_for_selector(f"#u-{utterance.pk}.playing", timeout=10_000)
    hit_turn = page.locator(f"#u-{utterance.pk}")
    assert phrase.split()[0] in hit_turn.inner_text().lower()  # the turn that was found, not a neighbour

    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    audio_ms = page.evaluate("document.getElementById('player').duration") * 1000
    position_ms = page.evaluate("document.getElementById('player').currentTime") * 1000
    # A turn the audio covers, well away from where the player is now, so a seek is unmistakable.
    target = (
        Utterance.objects.filter(conversation=conversation, start_ms__lt=audio_ms - 1000)
        .exclude(start_ms__range=(position_ms - 5000, position_ms + 5000))
        .order_by("-start_ms")
        .first()
    )
    assert target is not None, "the recording is too short to show a seek"
    page.click(f"#u-{target.pk} button.seek")
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('player').currentTime * 1000 - {target.start_ms}) < 1500",
        timeout=10_000,
    )
    assert "playing" in (page.locator(f"#u-{target.pk}").get_attribute("class") or "")
    screenshot(page, "review")

    # The workflow goes new -> in review -> reviewed; each step swaps the panel in place.
    page.select_option("#review-panel select", "in_review")
    page.click("#review-panel button[type=submit]")
    page.wait_for_selector("#review-panel .badge.review-in_review")
    page.select_option("#review-panel select", "reviewed")
    page.fill("#review-panel textarea", "Checked the greeting and the close.")
    page.click("#review-panel button[type=submit]")
    page.wait_for_selector("#review-panel .badge.review-reviewed")

    conversation.refresh_from_db()
    assert conversation.review_status == Conversation.ReviewStatus.REVIEWED
    assert conversation.reviewer.username == "sam"
    actions = set(AuditEvent.objects.filter(username="sam").values_list("action", flat=True))
    assert {AuditEvent.Action.SEARCH, AuditEvent.Action.VIEW_TRANSCRIPT, AuditEvent.Action.REVIEW} <= actions
    assert AuditEvent.objects.filter(
        username="sam", action=AuditEvent.Action.REVIEW, object_id=conversation.genesys_id
    ).exists()


def test_it_renders_charts_and_operations(page, supervisor):
    log_in(page, "sam")

    page.goto("/charts/")
    page.wait_for_selector("svg")
    assert page.locator("table").count() >= 1  # values are reachable as text
    screenshot(page, "charts")


def test_it_enrols_a_compliance_officers_authenticator_and_asks_for_a_code_at_every_sign_in(page, transactional_db):
    import time
    from base64 import b32decode

    from django.contrib.auth.models import Group, User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.fixtures.accounts import totp_code

    officer = User.objects.create_user("cleo", password=PASSWORD)
    officer.groups.add(Group.objects.get_or_create(name="Compliance")[0])
    page.goto("/login/")
    page.fill("input[name=username]", "cleo")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/account/enrol/**")
    assert page.locator("figure.qr svg").count() == 1
    typed_key = page.inner_text("#totp-secret").replace(" ", "")
    device = TOTPDevice.objects.get(user=officer)
    assert b32decode(typed_key + "=" * (-len(typed_key) % 8)) == device.bin_key  # the key for manual entry
    page.fill("input[name=otp_token]", totp_code(device))
    page.click("main form button[type=submit]")
    page.wait_for_url(LANDING)

    page.click("text=Log out")
    page.wait_for_url("**/login/**")
    page.fill("input[name=username]", "cleo")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/account/verify/**")
    device.refresh_from_db()
    # The code of the next time step (within tolerance): the one just used is spent, and no test waits.
    page.fill("input[name=otp_token]", totp_code(device, at=time.time() + device.step))
    page.click("main form button[type=submit]")
    page.wait_for_url(LANDING)
    assert AuditEvent.objects.filter(username="cleo", action=AuditEvent.Action.MFA_CHANGE).count() == 1


def test_it_locks_out_a_guessed_password_and_says_when_to_retry(page, transactional_db, settings):
    from django.contrib.auth.models import User

    User.objects.create_user("dana", password=PASSWORD)
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        page.goto("/login/")
        page.fill("input[name=username]", "dana")
        page.fill("input[name=password]", f"guess {attempt}")
        page.click("button[type=submit]")
    page.wait_for_selector("text=Too many failed sign-ins")
    assert "Try again after" in page.inner_text("main")
    page.goto("/login/")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Too many failed sign-ins")  # the right password too, until the cool-off ends


def _attach_recording(conversation: Conversation, wav: bytes) -> None:
    import hashlib

    from reviews import blobs

    digest = hashlib.sha256(wav).hexdigest()
    with blobs.staging_file("audio") as (stream, path):
        stream.write(wav)
        stream.flush()
        raw_path = blobs.promote(path, kind="audio", sha256=digest)
    AudioRecording.objects.create(
        conversation=conversation,
        recording_id=f"rec-{conversation.pk}",
        sha256=digest,
        size_bytes=len(wav),
        content_type="audio/wav",
        raw_path=raw_path,
    )


def test_it_writes_screenshots_where_git_ignores_them():
    """`make test` must leave the tracked docs/screenshots alone: the tests write into an ignored folder."""
    import subprocess

    from tests.browser.support import DOCS_SCREENSHOTS, ROOT

    probe = SCREENSHOTS / "search.png"
    try:
        ignored = subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=ROOT, check=False, timeout=30)
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, f"{probe} is not ignored by git"
    assert DOCS_SCREENSHOTS not in (SCREENSHOTS, *SCREENSHOTS.parents)


def test_it_copies_only_the_documented_screenshots_and_refuses_when_one_is_missing(tmp_path):
    from tests.browser.support import DOCUMENTED_SCREENSHOTS, publish_screenshots

    written, docs = tmp_path / "written", tmp_path / "docs"
    written.mkdir()
    for name in (*DOCUMENTED_SCREENSHOTS, "scratch"):
        (written / f"{name}.png").write_bytes(name.encode())

    publish_screenshots(source=written, target=docs)

    assert sorted(path.stem for path in docs.iterdir()) == sorted(DOCUMENTED_SCREENSHOTS)
    assert (docs / "search.png").read_bytes() == b"search"
    (written / "review.png").unlink()
    (written / "search.png").write_bytes(b"newer")
    with pytest.raises(SystemExit, match="review.png"):
        publish_screenshots(source=written, target=docs)
    assert (docs / "search.png").read_bytes() == b"search"  # nothing copied: the docs stay one consistent set
