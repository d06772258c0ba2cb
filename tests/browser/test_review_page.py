"""The review page in a real browser (Debian's Chromium via Playwright), issue 13 §6: a note pinned to a moment
and its link back there, a copyable link to a moment (clipboard, and the read-only field when the clipboard is
refused) that opens the page at that turn with the player cued, the keyboard (`?` help, j/k, n, r; nothing while
typing), the one-step "Mark reviewed", times in the viewer's zone, and reduced motion honoured.
Screenshot: review-notes.png.
"""

from __future__ import annotations

import hashlib
import io
import wave
from datetime import UTC, datetime, timedelta

import pytest

from reviews.models import AuditEvent, Conversation, ReviewNote
from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in

pytestmark = BROWSER_MARKS

TURNS = 40  # one every 6 s: enough that a moment far down the call is off screen at first
STARTED = datetime(2026, 11, 30, 13, 3, 5, tzinfo=UTC)  # 14:03:05 in Berlin (CET)


def _silent_wav(seconds: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 8000 * seconds)
    return buffer.getvalue()


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=800) as page:
        session = page.context.new_cdp_session(page)
        session.send("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})
        session.send("Emulation.setLocaleOverride", {"locale": "en-GB"})
        page.base_url = live_server.url
        yield page


@pytest.fixture
def call(transactional_db):
    from django.contrib.auth.models import Group, User

    from reviews import blobs
    from reviews.models import AccessScope, Agent, AudioRecording, Division, Queue, Transcript, Utterance

    division = Division.objects.create(genesys_id="div-1", name="Retail")
    queue = Queue.objects.create(genesys_id="queue-1", name="Card Billing", division=division)
    conversation = Conversation.objects.create(
        genesys_id="conv-moments",
        state=Conversation.State.STORED,
        started_at=STARTED,
        ended_at=STARTED + timedelta(seconds=TURNS * 6),
        direction="inbound",
        queue=queue,
        division=division,
        agent=Agent.objects.create(genesys_id="agent-1", name="Dana Agent"),
    )
    transcript = Transcript.objects.create(
        conversation=conversation,
        communication_id="comm-1",
        sha256="0" * 64,
        size_bytes=1,
        raw_path="transcripts/00/none",
        redaction_status=Transcript.RedactionStatus.VERIFIED,
    )
    for i in range(TURNS):
        customer = i % 2 == 1
        Utterance.objects.create(
            transcript=transcript,
            conversation=conversation,
            index=i,
            speaker="external" if customer else "internal",
            participant_purpose="customer" if customer else "agent",
            start_ms=i * 6_000,
            end_ms=i * 6_000 + 5_000,
            text=f"Turn {i}: my card is [Card Number], right?" if customer else f"Turn {i}, how can I help?",
            words=[["turn", 0.9], [str(i), 0.9], ["how", 0.9], ["can", 0.3], ["i", 0.9], ["help", 0.9]],
        )
    data = _silent_wav(TURNS * 6)
    digest = hashlib.sha256(data).hexdigest()
    with blobs.staging_file("audio") as (stream, staged):
        stream.write(data)
        raw_path = blobs.promote(staged, kind="audio", sha256=digest)
    AudioRecording.objects.create(
        conversation=conversation, recording_id="rec-1", sha256=digest, size_bytes=len(data),
        content_type="audio/wav", raw_path=raw_path,
    )  # fmt: skip
    user = User.objects.create_user("rita", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="Reviewer")[0])
    AccessScope.objects.create(user=user).queues.add(queue)
    return conversation


def _turn(page, start_ms: int):
    return page.locator(f'#turns .turn[data-start="{start_ms}"]')


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def _player_seconds(page) -> float:
    return page.evaluate("() => document.getElementById('player').currentTime")


def _open(page, path: str) -> None:
    page.goto(path)
    page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=15_000)


def test_it_pins_a_note_to_a_moment_and_goes_back_there(page, call):
    log_in(page, "rita")
    _open(page, "/conversations/conv-moments/")

    # Times in the viewer's zone, named; the text as Genesys wrote it, its masks and low-confidence words marked.
    assert page.inner_text(".conv-meta time[data-local=datetime]") == "Mon, 30 Nov 2026, 14:03:05 CET"
    assert "UTC" in page.get_attribute(".conv-meta time[data-local=datetime]", "title")
    first_customer = _turn(page, 6_000)
    assert first_customer.locator(".text").inner_text() == "Turn 1: my card is [Card Number], right?"
    assert first_customer.locator("mark.mask").get_attribute("title") == "Redacted by Genesys: card number"
    assert _turn(page, 0).locator(".low-confidence").inner_text() == "can"

    # "Note" on a turn far down: the form's moment is that turn's, the note field has focus.
    target = _turn(page, 150_000)
    target.locator("button.note-at").click()
    assert page.input_value("#id_at") == "02:30"
    assert page.evaluate("() => document.activeElement.id") == "id_note"
    page.keyboard.type("Refund promised <b>here</b>")  # typing: "n", "r", "?" are letters here
    assert page.locator("#keys-help[open]").count() == 0
    page.click("#review-form button[type=submit]")
    page.wait_for_selector("#review-panel .note-moment")
    moment_link = page.locator("#review-panel .note-moment")
    assert moment_link.inner_text() == "at 02:30"
    assert page.inner_text("#review-panel .note-body") == "Refund promised <b>here</b>"  # escaped, shown as typed
    note = ReviewNote.objects.get()
    assert (note.at_ms, note.body) == (150_000, "Refund promised <b>here</b>")
    event = AuditEvent.objects.filter(action=AuditEvent.Action.REVIEW).get()
    assert event.detail["at_ms"] == 150_000
    assert "time" in page.inner_html("#review-panel .note-meta") and "CET" in page.inner_text(
        "#review-panel .note-meta"
    )

    # The moment link scrolls to the turn, marks it and cues the player there (without starting it).
    page.evaluate("() => window.scrollTo(0, 0)")
    page.locator("h1").click()
    moment_link.click()
    page.wait_for_function("() => document.querySelector('#turns .turn.moment') !== null")
    assert _turn(page, 150_000).get_attribute("class").count("moment") == 1
    page.wait_for_function("() => Math.abs(document.getElementById('player').currentTime - 150) < 0.5")
    page.wait_for_timeout(600)  # the smooth scroll has ended
    assert _in_view(page, _turn(page, 150_000))
    assert page.evaluate("() => document.getElementById('player').paused")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "review-notes.png"), full_page=False)

    # n: a new note at the player's moment.
    page.locator("h1").click()
    page.keyboard.press("n")
    assert page.input_value("#id_at") == "02:30"
    assert page.evaluate("() => document.activeElement.id") == "id_note"
    assert page.input_value("#id_note") == ""  # the key was not typed into the note
    assert page.csp_errors == []


def test_it_copies_a_link_to_a_moment_that_opens_the_page_there(page, call):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page.base_url)
    log_in(page, "rita")
    _open(page, "/conversations/conv-moments/")

    _turn(page, 180_000).locator("[data-copy-link]").click()
    page.wait_for_function("() => document.getElementById('copy-status').textContent.includes('copied')")
    assert page.inner_text("#copy-status") == "Link to 03:00 copied."
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == f"{page.base_url}/conversations/conv-moments/?t=180000"

    # The clipboard refused: the link shows in a read-only field, selected, to copy by hand.
    page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')); }")
    _turn(page, 6_000).locator("[data-copy-link]").click()
    field = _turn(page, 6_000).locator("input.copy-fallback")
    field.wait_for()
    assert field.get_attribute("readonly") is not None and field.get_attribute("aria-label") == "Link to this moment"
    assert field.input_value() == f"{page.base_url}/conversations/conv-moments/?t=6000"
    assert page.evaluate("() => document.activeElement.classList.contains('copy-fallback')")

    # Opening the copied link: that turn, marked, on screen, the player cued there.
    _open(page, copied)
    turn = _turn(page, 180_000)
    assert "moment" in turn.get_attribute("class") and turn.get_attribute("aria-current") == "time"
    assert _in_view(page, turn)
    page.wait_for_function("() => Math.abs(document.getElementById('player').currentTime - 180) < 0.5")

    # The media-fragment form too: #t=<seconds>.
    _open(page, "/conversations/conv-moments/#t=66")
    assert "moment" in _turn(page, 66_000).get_attribute("class")
    assert _in_view(page, _turn(page, 66_000))
    page.wait_for_function("() => Math.abs(document.getElementById('player').currentTime - 66) < 0.5")
    assert page.csp_errors == []


def test_it_answers_the_keyboard_and_marks_reviewed_in_one_step(page, call):
    log_in(page, "rita")
    _open(page, "/conversations/conv-moments/")

    # ? opens the labelled help, Esc closes it; nothing fires while typing in a field.
    page.locator("h1").click()
    page.keyboard.press("?")
    dialog = page.locator("#keys-help")
    assert dialog.get_attribute("open") is not None
    assert page.get_attribute("#keys-help", "aria-labelledby") == "keys-help-title"
    assert dialog.get_by_role("heading").inner_text() == "Keyboard shortcuts"
    assert "Mark the call reviewed" in dialog.inner_text()
    page.keyboard.press("Escape")
    assert page.locator("#keys-help[open]").count() == 0
    page.click("#keys-help-open")  # the button opens it too
    assert page.locator("#keys-help[open]").count() == 1
    page.keyboard.press("Escape")

    page.fill("#find-input", "")
    page.locator("#find-input").press_sequentially("r?jn")
    assert page.locator("#keys-help[open]").count() == 0
    assert page.input_value("#find-input") == "r?jn"
    assert Conversation.objects.get(pk=call.pk).review_status == "new"
    assert page.locator("#turns .turn.playing").count() == 0

    # j/k: next and previous turn, the player following.
    page.locator("#find-input").fill("")
    page.locator("h1").click()
    page.keyboard.press("j")
    assert _turn(page, 0).get_attribute("aria-current") == "time"
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert _turn(page, 6_000).get_attribute("aria-current") == "time"
    assert abs(_player_seconds(page) - 6) < 0.5

    # r: reviewed in one step, the panel says so and the button is gone.
    page.keyboard.press("r")
    page.wait_for_selector("#review-panel .badge.review-reviewed")
    assert "Review saved." in page.inner_text("#review-panel")
    assert page.locator("#mark-reviewed").count() == 0
    conversation = Conversation.objects.get(pk=call.pk)
    assert conversation.review_status == "reviewed" and conversation.reviewer.username == "rita"
    assert "CET" in page.inner_text("#review-panel")  # the swapped panel's times are localised too
    assert page.csp_errors == []


def test_it_never_smooth_scrolls_under_reduced_motion(page, call):
    from django.contrib.auth.models import User

    ReviewNote.objects.create(conversation=call, author=User.objects.get(username="rita"), body="n", at_ms=200_000)
    log_in(page, "rita")
    # Each is read in the same task as what scrolls: only an instant scroll has moved the page yet.
    note_link = (
        "() => { window.scrollTo(0, 0); const before = window.scrollY;"
        " document.querySelector('#review-panel .note-moment').click();"
        " return window.scrollY - before; }"
    )
    follow_playback = (
        "() => { window.scrollTo(0, 0); const before = window.scrollY; const player = document.getElementById('player');"
        " player.currentTime = 220; player.dispatchEvent(new Event('timeupdate'));"
        " return window.scrollY - before; }"
    )
    for motion, instant in (("reduce", True), ("no-preference", False)):
        page.emulate_media(reduced_motion=motion)
        _open(page, "/conversations/conv-moments/")
        assert page.is_checked("#follow-playback")
        for name, jump in (("note link", note_link), ("follow playback", follow_playback)):
            moved = page.evaluate(jump)
            assert (moved > 0) is instant, (motion, name, moved)
            page.wait_for_timeout(700)  # a smooth scroll ends before the next measure
    assert page.csp_errors == []


def test_it_opens_a_moment_outside_the_loaded_turns_at_its_part_of_the_call(page, call, monkeypatch):
    from django.contrib.auth.models import User

    from reviews.views import review

    monkeypatch.setattr(review, "REVIEW_PAGE_UTTERANCES", 10)  # the live server runs in this process
    ReviewNote.objects.create(conversation=call, author=User.objects.get(username="rita"), body="late", at_ms=222_000)
    log_in(page, "rita")

    # #t= names a moment the server never saw: the page asks for the part of the call holding it (?t=).
    _open(page, "/conversations/conv-moments/#t=200")
    page.wait_for_url("**/conversations/conv-moments/?t=200000")
    turn = _turn(page, 198_000)  # the turn playing at 3:20
    assert "moment" in turn.get_attribute("class") and _in_view(page, turn)

    # A note's moment in a part not loaded: its link loads that part, at that turn.
    _open(page, "/conversations/conv-moments/")
    assert _turn(page, 222_000).count() == 0
    page.click("#review-panel .note-moment")
    page.wait_for_url("**/conversations/conv-moments/?t=222000")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    assert "moment" in _turn(page, 222_000).get_attribute("class")
    page.wait_for_function("() => Math.abs(document.getElementById('player').currentTime - 222) < 0.5")
    assert page.csp_errors == []


def test_it_keeps_the_new_controls_accessible(page, call):
    # axe-core (tests/browser/support.py): the page with its per-turn controls, the open help dialog, the copy field.
    from tests.browser.support import assert_no_serious_axe_violations

    log_in(page, "rita")
    _open(page, "/conversations/conv-moments/")
    page.wait_for_load_state("networkidle")
    assert_no_serious_axe_violations(page, "review page")
    page.click("#keys-help-open")
    assert_no_serious_axe_violations(page, "review page, keyboard help open")
    page.keyboard.press("Escape")
    page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')); }")
    _turn(page, 6_000).locator("[data-copy-link]").click()
    _turn(page, 6_000).locator("input.copy-fallback").wait_for()
    assert_no_serious_axe_violations(page, "review page, link to copy by hand")
