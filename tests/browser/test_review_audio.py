"""Audio with every call, in a real browser (Debian's Chromium via Playwright): a transcribed call opens with
"Preparing the call recording…", the page's poll queues the fetch, the worker (played here by the test, on the
emulator) stores the recording, the poll swaps the player in, and the player and the transcript stay in sync: a
click on a turn seeks there, playing highlights the turn being played, Space and the arrow keys control it.
Screenshot: review-audio.png.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from reviews.models import AudioRecording, AuditEvent
from tests.browser.support import BROWSER_MARKS, PASSWORD, SCREENSHOTS, chromium_page, log_in

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=900) as page:
        yield page


@pytest.fixture
def world(transactional_db, settings, task_queue):
    """The emulator, its clock at the real now: the copies it hands out expire by the web's clock. The test plays
    the worker for the fetches the page queues (task_queue)."""
    from tests.pipeline.support import running_world

    settings.COMPLIANCE_SINKS = ["filesystem"]
    now = datetime.now(UTC).replace(microsecond=0)
    with running_world(
        conversations=6, large=0, malformed=0, now=now, start=now - timedelta(hours=2), end=now - timedelta(minutes=5)
    ) as world:
        world.task_queue = task_queue
        yield world


@pytest.fixture
def call(world):
    """One of the emulator's transcribed calls as the vault stores it, its turns timed as Genesys timed them."""
    from django.contrib.auth.models import Group, User

    from reviews.models import AccessScope, Agent, Conversation, Division, Queue, Transcript, Utterance

    sim = max(
        (c for c in world.dataset.conversations if c.transcript is not None and c.transcript.kind == "normal"),
        key=lambda c: len(c.transcript.phrases),
    )
    division = Division.objects.create(genesys_id=sim.division_id, name="Retail")
    queue = Queue.objects.create(genesys_id=sim.queue_id, name="Card Billing", division=division)
    conversation = Conversation.objects.create(
        genesys_id=sim.conversation_id,
        state=Conversation.State.STORED,
        started_at=sim.start,
        ended_at=sim.end,
        direction=sim.direction,
        queue=queue,
        division=division,
        agent=Agent.objects.create(genesys_id=sim.user_id, name="Dana Agent"),
    )
    transcript = Transcript.objects.create(
        conversation=conversation,
        communication_id=sim.communication_ids[0],
        recording_id=sim.recording_ids[0],
        sha256="0" * 64,
        size_bytes=1,
        raw_path="transcripts/00/none",
        redaction_status=Transcript.RedactionStatus.VERIFIED,
    )
    for phrase in sim.transcript.phrases:
        purpose = "customer" if phrase.purpose == "external" else "agent"
        if purpose == "agent" and phrase.offset_ms < sim.agent_join_ms:
            purpose = "ivr"
        Utterance.objects.create(
            transcript=transcript,
            conversation=conversation,
            index=phrase.index,
            speaker=phrase.purpose,
            participant_purpose=purpose,
            start_ms=phrase.offset_ms,
            end_ms=phrase.offset_ms + phrase.duration_ms,
            text=phrase.text,
            confidence=0.9,
        )
    user = User.objects.create_user("rita", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="Reviewer")[0])
    AccessScope.objects.create(user=user).queues.add(queue)
    return conversation, sim


def _be_the_worker(world, conversation, *, seconds: float = 20.0) -> None:
    """Run the fetches the page queued, on the emulator, until the recording is in the vault (a 202 first is
    normal: the emulator transcodes for a few seconds; its clock moves on between rounds)."""
    from reviews.pipeline.audio_cache import FETCH_TASK, fetch_call_audio

    deadline = time.monotonic() + seconds
    while not AudioRecording.objects.filter(conversation=conversation).exists():
        assert time.monotonic() < deadline, "the page queued no fetch, or the recording never came"
        for queued in world.task_queue.take():
            assert queued == (FETCH_TASK, (conversation.genesys_id,))
            fetch_call_audio(client=world.client, clock=world.clock, genesys_id=conversation.genesys_id)
            world.clock.advance(10)
        if not AudioRecording.objects.filter(conversation=conversation).exists():
            # Genesys said "come back": let the page's next poll queue the retry (its own clock is the real one).
            from django.core.cache import cache

            from reviews.pipeline.audio_cache import status_key

            cache.delete(status_key(conversation.genesys_id))
            time.sleep(0.5)


def _player(page, expression: str):
    return page.evaluate(f"(() => {{ const p = document.getElementById('player'); return {expression}; }})()")


def test_it_prepares_the_audio_in_the_background_then_plays_it_in_sync_with_the_transcript(page, world, call):
    conversation, sim = call
    log_in(page, "rita")
    page.goto(f"/conversations/{conversation.genesys_id}/")

    status = page.locator("#audio-status")
    assert status.get_attribute("role") == "status"  # a polite live region announces the change
    assert "Preparing the call recording" in status.inner_text()
    assert page.locator("#player").count() == 0

    _be_the_worker(world, conversation)
    page.wait_for_selector("#player", timeout=15_000)  # the poll swapped the player in
    page.wait_for_function("() => document.getElementById('player').readyState >= 1", timeout=15_000)
    assert "ready to play" in status.text_content()  # announced; shown only until the player is there
    assert abs(_player(page, "p.duration") * 1000 - sim.duration_ms) < 200  # as long as the call
    assert page.get_attribute("#player", "aria-label") == "Call recording"
    assert page.locator("label:has(#follow-playback)").inner_text().strip() == "Follow playback"
    assert "Space" in page.inner_text("#player-keys")

    # A click on a turn's text (not its time button) plays from that turn and highlights it.
    turns = page.locator("#turns .turn")
    target = turns.nth(turns.count() - 3)
    target_start = int(target.get_attribute("data-start"))
    target.locator(".text").click()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('player').currentTime * 1000 - {target_start}) < 1000", timeout=10_000
    )
    assert "playing" in target.get_attribute("class") and target.get_attribute("aria-current") == "time"

    # Playing moves on: the highlighted turn is always the one the audio is in.
    page.click("#turns .turn:first-child .timestamp")  # its time button: play from the first turn
    page.wait_for_function("() => !document.getElementById('player').paused", timeout=10_000)
    page.wait_for_function("() => document.getElementById('player').currentTime > 1.5", timeout=15_000)
    playing = page.locator("#turns .turn.playing")
    assert playing.count() == 1
    position_ms = _player(page, "p.currentTime") * 1000
    playing_start = int(playing.get_attribute("data-start"))
    later = [int(t) for t in page.eval_on_selector_all("#turns .turn", "els => els.map(e => e.dataset.start)")]
    assert playing_start <= position_ms + 300
    assert all(start <= playing_start or start > position_ms - 300 for start in later)

    # Keys, with focus outside form fields: Space pauses, the arrows seek 5 s.
    page.locator("h1").click()
    page.keyboard.press("Space")
    page.wait_for_function("() => document.getElementById('player').paused", timeout=5_000)
    before = _player(page, "p.currentTime")
    page.keyboard.press("ArrowRight")
    assert abs(_player(page, "p.currentTime") - before - 5) < 0.3
    page.keyboard.press("ArrowLeft")
    assert abs(_player(page, "p.currentTime") - before) < 0.3
    page.fill("#find-input", "a b")  # typing a space in a field is typing, not play/pause
    assert _player(page, "p.paused") and page.input_value("#find-input") == "a b"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#find-input").fill("")
    page.screenshot(path=str(SCREENSHOTS / "review-audio.png"), full_page=False)

    assert page.csp_errors == []
    copy = AudioRecording.objects.get(conversation=conversation)
    assert not copy.kept and copy.cached_until > datetime.now(UTC)
    plays = AuditEvent.objects.filter(action=AuditEvent.Action.PLAY_AUDIO, object_id=copy.recording_id)
    assert plays.count() == 1 and plays.get().user.username == "rita"
