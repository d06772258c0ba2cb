"""On-demand call audio (reviews/pipeline/audio_cache.py) against the fake-clock emulator: the page only queues, the
background fetch comes back after a 202, copies expire and are swept, AUDIO_ARCHIVE=all keeps and archives, and
retention bounds what is fetched and for how long."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache

from reviews import blobs
from reviews.compliance import relay_due
from reviews.models import AudioRecording, Conversation, OutboxMessage, Transcript
from reviews.pipeline import audio_cache
from reviews.pipeline.audio_cache import State, fetch_call_audio, request_audio, sweep_audio_cache
from reviews.pipeline.schedule import now_of
from tests.pipeline.support import running_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def quick_world(db):
    with running_world(conversations=6, large=0, malformed=0) as world:
        yield world


@pytest.fixture
def transcoding_world(db):
    with running_world(conversations=6, large=0, malformed=0, faults="transcoding") as world:
        yield world


def stored_call(world, *, genesys_id: str | None = None, started_at=None) -> tuple[Conversation, object]:
    """The vault's row of one of the emulator's transcribed calls, as the pipeline leaves it: stored."""
    sim = next(c for c in world.dataset.conversations if c.transcript is not None and c.transcript.kind == "normal")
    conversation = Conversation.objects.create(
        genesys_id=genesys_id or sim.conversation_id,
        state=Conversation.State.STORED,
        started_at=started_at or sim.start,
        ended_at=(started_at or sim.start) + (sim.end - sim.start),
    )
    Transcript.objects.create(
        conversation=conversation,
        communication_id=sim.communication_ids[0],
        sha256="0" * 64,
        size_bytes=1,
        raw_path="transcripts/00/none",
        redaction_status=Transcript.RedactionStatus.VERIFIED,
    )
    return conversation, sim


def now(world):
    return now_of(world.clock)


@pytest.fixture(autouse=True)
def _queue(task_queue):
    global QUEUE
    QUEUE = task_queue
    yield
    QUEUE = None


QUEUE = None  # this test's queued tasks (tests/conftest.py task_queue)


def run_queued(world) -> list[str]:
    """Be the django-q worker: run every queued task (they must all be audio fetches) on the world's client."""
    outcomes = []
    for func, args in QUEUE.take():
        assert func == audio_cache.FETCH_TASK
        outcomes.append(fetch_call_audio(client=world.client, clock=world.clock, genesys_id=args[0]))
    return outcomes


def fetch_until_stored(world, conversation) -> int:
    """Poll as the page does until the audio is there; the number of fetches it took."""
    fetches = 0
    for _ in range(50):
        if conversation.recordings.exists():
            return fetches
        request_audio(conversation, now=now(world), since=None)
        fetches += len(run_queued(world))
        world.clock.advance(audio_cache.FETCH_RETRY_SECONDS)
    raise AssertionError("the recording never became ready")


def test_it_fetches_in_the_background_and_comes_back_after_a_202(transcoding_world):
    world = transcoding_world
    conversation, sim = stored_call(world)
    calls = world.client.stats.api_calls

    status = request_audio(conversation, now=now(world), since=None)

    assert status.state == State.PREPARING
    assert world.client.stats.api_calls == calls  # the request only queued a task
    assert run_queued(world) == ["waiting: transcoding"]  # Genesys answered 202
    assert not conversation.recordings.exists()
    waiting = request_audio(conversation, now=now(world), since=None)
    assert "still preparing the recording (transcoding)" in waiting.message
    world.clock.advance(audio_cache.FETCH_RETRY_SECONDS - 1)
    request_audio(conversation, now=now(world), since=None)
    assert not QUEUE  # not before Genesys' "come back later"

    world.clock.advance(1)
    assert fetch_until_stored(world, conversation) > 1  # transcoding takes 60-180 s: a few rounds of 202 first

    row = conversation.recordings.get()
    assert (row.kept, row.recording_id, row.source) == (False, sim.recording_ids[0], "recordings")
    assert (row.duration_ms, row.start_offset_ms, row.content_type) == (sim.duration_ms, 0, "audio/wav")
    assert row.cached_until - now(world) <= timedelta(hours=24) < row.cached_until - now(world) + timedelta(minutes=1)
    with blobs.open_blob(row.raw_path) as blob:
        assert blob.read() == sim.wav_bytes()  # encrypted at rest, the bytes Genesys served
    assert not OutboxMessage.objects.exists()  # a playback copy is never archived
    assert request_audio(conversation, now=now(world), since=None).state == State.READY


def test_it_deletes_expired_copies_row_and_blob(quick_world):
    world = quick_world
    conversation, _sim = stored_call(world)
    fetch_until_stored(world, conversation)
    row = conversation.recordings.get()
    blob = blobs.absolute_path(row.raw_path)

    almost = sweep_audio_cache(now=row.cached_until - timedelta(seconds=1))
    assert (almost.deleted, blob.is_file()) == (0, True)
    assert not row.is_playable(now=row.cached_until)

    swept = sweep_audio_cache(now=row.cached_until)

    assert (swept.deleted, swept.blobs_deleted) == (1, 1)
    assert not AudioRecording.objects.exists() and not blob.exists()


def test_it_keeps_a_blob_another_row_still_uses(quick_world):
    world = quick_world
    conversation, _sim = stored_call(world)
    fetch_until_stored(world, conversation)
    row = conversation.recordings.get()
    other, _ = stored_call(world, genesys_id="other-call-same-audio")
    AudioRecording.objects.create(  # the same bytes, kept: content addressing gives it the same blob
        conversation=other, recording_id=row.recording_id, sha256=row.sha256, size_bytes=row.size_bytes,
        content_type=row.content_type, raw_path=row.raw_path,
    )  # fmt: skip

    swept = sweep_audio_cache(now=row.cached_until + timedelta(hours=1))

    assert (swept.deleted, swept.blobs_deleted) == (1, 0)
    assert blobs.absolute_path(row.raw_path).is_file()
    assert list(AudioRecording.objects.values_list("conversation__genesys_id", flat=True)) == ["other-call-same-audio"]


def test_it_renews_an_expired_copy_the_sweep_has_not_reached_instead_of_downloading_again(quick_world):
    world = quick_world
    conversation, _sim = stored_call(world)
    fetch_until_stored(world, conversation)
    row = conversation.recordings.get()
    world.clock.advance(25 * 3600)  # expired, not swept yet
    downloaded = world.client.stats.bytes_downloaded

    fetch_until_stored_again = request_audio(conversation, now=now(world), since=None)
    assert fetch_until_stored_again.state == State.PREPARING
    run_queued(world)

    renewed = conversation.recordings.get()
    assert renewed.pk == row.pk and renewed.is_playable(now=now(world))
    assert world.client.stats.bytes_downloaded == downloaded


def test_it_keeps_and_archives_every_fetched_recording_with_audio_archive_all(settings, quick_world):
    settings.AUDIO_ARCHIVE = "all"
    world = quick_world
    conversation, _sim = stored_call(world)

    fetch_until_stored(world, conversation)

    row = conversation.recordings.get()
    assert (row.kept, row.cached_until) == (True, None)
    message = OutboxMessage.objects.get(recording=row)
    assert (message.kind, message.sink, message.conversation_id) == ("audio", "filesystem", conversation.pk)
    relay_due(clock=world.clock)
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.DELIVERED
    archived = list(Path(settings.COMPLIANCE_ARCHIVE_DIR).rglob(f"{row.sha256[:16]}.audio.tvb"))
    assert len(archived) == 1  # in the archive like fallback audio, encrypted
    assert sweep_audio_cache(now=now(world) + timedelta(days=30)).deleted == 0
    assert AudioRecording.objects.filter(pk=row.pk).exists()


def test_it_keeps_the_copies_cached_before_audio_archive_all_was_set(settings, quick_world):
    world = quick_world
    conversation, _sim = stored_call(world)
    fetch_until_stored(world, conversation)  # AUDIO_ARCHIVE=fallback: a playback copy
    settings.AUDIO_ARCHIVE = "all"

    report = sweep_audio_cache(now=now(world) + timedelta(days=2))  # long expired

    row = conversation.recordings.get()
    assert (report.kept, row.kept, row.cached_until) == (1, True, None)
    assert OutboxMessage.objects.filter(recording=row, kind="audio").count() == 1


def test_it_never_caches_past_the_calls_audio_retention(settings, quick_world):
    settings.RETENTION_AUDIO_DAYS = 1
    world = quick_world
    started = now(world) - timedelta(hours=23)
    conversation, _sim = stored_call(world, started_at=started)

    fetch_until_stored(world, conversation)

    assert conversation.recordings.get().cached_until == started + timedelta(days=1)  # not 24 h from the fetch


def test_it_never_holds_up_a_retention_purge(settings, quick_world):
    from reviews.retention import plan_purge

    settings.RETENTION_AUDIO_DAYS = 1
    world = quick_world
    started = now(world) - timedelta(hours=23)
    conversation, _sim = stored_call(world, started_at=started)
    fetch_until_stored(world, conversation)
    due = started + timedelta(days=1)

    plan = plan_purge(now=due)
    assert plan.awaiting_archive == []  # no compliance delivery to wait for: a copy never blocks the purge
    sweep_audio_cache(now=due)  # the copy expires exactly when retention ends: the sweep takes it first
    assert not AudioRecording.objects.exists()
    assert plan_purge(now=due).due == []


def test_it_does_not_fetch_audio_whose_retention_has_passed(settings, quick_world):
    settings.RETENTION_AUDIO_DAYS = 1
    world = quick_world
    conversation, _sim = stored_call(world, started_at=now(world) - timedelta(hours=25))

    status = request_audio(conversation, now=now(world), since=None)

    assert status.state == State.NONE and "retention period for this call's audio has passed" in status.message
    assert not QUEUE
    assert fetch_call_audio(client=world.client, clock=world.clock, genesys_id=conversation.genesys_id).startswith(
        "not fetched"
    )
    assert not AudioRecording.objects.exists()


def test_it_leaves_calls_without_a_stored_transcript_to_the_audio_fallback(quick_world):
    world = quick_world
    conversation, _sim = stored_call(world)
    Conversation.objects.filter(pk=conversation.pk).update(state=Conversation.State.AWAITING_AUDIO)
    conversation.refresh_from_db()

    assert request_audio(conversation, now=now(world), since=None).state == State.NONE
    assert not QUEUE


def test_it_says_when_genesys_has_no_recording_and_asks_again_an_hour_later(quick_world):
    world = quick_world
    conversation, _sim = stored_call(world, genesys_id="00000000-0000-4000-8000-000000000000")  # unknown to Genesys

    request_audio(conversation, now=now(world), since=None)
    assert run_queued(world) == ["unavailable: Genesys has no recording of this call."]

    status = request_audio(conversation, now=now(world), since=None)
    assert (status.state, status.message, status.polling) == (
        State.UNAVAILABLE,
        "Genesys has no recording of this call.",
        False,
    )
    assert not QUEUE
    world.clock.advance(audio_cache.UNAVAILABLE_RECHECK_SECONDS)
    assert request_audio(conversation, now=now(world), since=None).state == State.PREPARING
    assert len(QUEUE) == 1


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AUDIO_ARCHIVE", "everything", "AUDIO_ARCHIVE must be one of fallback, all, got 'everything'"),
        ("AUDIO_CACHE_HOURS", "0", "AUDIO_CACHE_HOURS must be at least 1"),
        ("AUDIO_CACHE_HOURS", "a day", "AUDIO_CACHE_HOURS must be an integer"),
    ],
)
def test_it_refuses_bad_audio_settings_at_start_up(tmp_path, variable, value, expected):
    from tests.security.manage_command import run_manage

    result = run_manage("check", env={"DATA_DIR": str(tmp_path), variable: value})

    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and expected in result.stderr


def test_it_runs_as_the_django_q_task_on_the_workers_shared_client(settings, quick_world):
    from genesys.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from reviews import tasks

    world = quick_world
    settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = world.base_url
    settings.GENESYS_CLIENT_ID, settings.GENESYS_CLIENT_SECRET = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    conversation, sim = stored_call(world)

    outcomes = []
    for _round in range(5):  # the emulator transcodes for a few seconds first (202)
        outcomes.append(tasks.fetch_audio_task(sim.conversation_id))
        world.clock.advance(audio_cache.FETCH_RETRY_SECONDS)
        if conversation.recordings.exists():
            break
        # The worker's clock is the real one: rather than wait FETCH_RETRY_SECONDS, forget "come back later".
        cache.delete(audio_cache.status_key(sim.conversation_id))

    assert outcomes[-1] == f"audio {sim.conversation_id}: stored 1 recording(s)", outcomes
    assert tasks.audio_cache_sweep_task() == "audio cache: 0 expired copies deleted, 0 blobs removed"


def test_it_skips_a_second_fetch_of_the_same_call_while_one_runs_or_genesys_said_later(transcoding_world):
    world = transcoding_world
    conversation, _sim = stored_call(world)
    request_audio(conversation, now=now(world), since=None)
    assert run_queued(world) == ["waiting: transcoding"]
    calls = world.client.stats.api_calls

    # A duplicate task (queued by another web process that could not see the answer) before the retry time.
    assert fetch_call_audio(client=world.client, clock=world.clock, genesys_id=conversation.genesys_id) == (
        "not due: waiting"
    )
    assert world.client.stats.api_calls == calls
