"""django-q2 entry points: thin, plain functions enqueued by dotted path; each returns a short summary.

Every task stops starting new work after TASK_BUDGET_SHARE of Q_CLUSTER["timeout"], so even a round
that ends with a 50 MB transcript finishes well inside the timeout (and far from `retry`, after
which django-q2 would hand the task to a second worker).
"""

from __future__ import annotations

from django.conf import settings

from genesys.clock import SYSTEM_CLOCK
from reviews import blobs, pipeline
from reviews.compliance.relay import relay_outbox_task  # re-exported so every schedule points into this module

TASK_BUDGET_SHARE = 0.5
MAX_ROUNDS = 1000

__all__ = [
    "advance_conversation_task",
    "advance_task",
    "audio_cache_sweep_task",
    "discover_task",
    "fetch_audio_task",
    "late_transcripts_task",
    "reconcile_task",
    "relay_outbox_task",
    "speech_to_text_task",
]


def _client():
    from reviews.genesys_factory import shared_client

    return shared_client()


def task_stop_at(clock=SYSTEM_CLOCK) -> float:
    return clock.monotonic() + settings.Q_CLUSTER["timeout"] * TASK_BUDGET_SHARE


def discover_task() -> str:
    result = pipeline.discover_incremental(client=_client(), clock=SYSTEM_CLOCK)
    return f"discovery: {result}"


def advance_task() -> str:
    """Work every due conversation, round after round, until none is due or the time budget is spent."""
    client = _client()
    calls_before = client.stats.api_calls
    stop_at = task_stop_at()
    worked = rounds = 0
    while rounds < MAX_ROUNDS and SYSTEM_CLOCK.monotonic() < stop_at:
        done = pipeline.advance_due(client=client, clock=SYSTEM_CLOCK, stop_at=stop_at)
        if not done:
            break
        worked += done
        rounds += 1
    return f"advance: {worked} conversations in {rounds} rounds, {client.stats.api_calls - calls_before} API calls"


def advance_conversation_task(genesys_id: str) -> str:
    state = pipeline.advance_conversation(client=_client(), clock=SYSTEM_CLOCK, genesys_id=genesys_id)
    return f"conversation {genesys_id}: {state}"


def reconcile_task() -> str:
    from reviews.pipeline.reconcile import scheduled_window
    from reviews.pipeline.schedule import now_of

    since, until = scheduled_window(now=now_of(SYSTEM_CLOCK))
    run = pipeline.reconcile(client=_client(), clock=SYSTEM_CLOCK, since=since, until=until)
    swept = blobs.remove_abandoned_staging(older_than_seconds=settings.Q_CLUSTER["retry"], now=SYSTEM_CLOCK.time())
    return (
        f"reconcile: detected={run.detected} recovered={run.recovered} failed={run.failed}; "
        f"removed {swept} abandoned partial downloads"
    )


def audit_verify_task() -> str:
    """Nightly: check the audit trail's hash chain; the verdict shows on the operations page and /metrics."""
    from reviews import audit_chain

    verdict = audit_chain.check_and_record()
    if verdict.ok:
        return f"audit chain OK: {verdict.checked} events, {verdict.legacy} unchained legacy events"
    return f"audit chain BROKEN at event {verdict.broken_id}: {verdict.reason}"


def retention_purge_task() -> str:
    """Daily: purge what retention says is due (holds win), then re-apply S3 legal holds to archived objects."""
    from django.utils import timezone

    from reviews.retention import conversations_to_resync, run_purge, sync_archive_legal_holds

    now = timezone.now()
    report = run_purge(now=now)
    holds = sync_archive_legal_holds(conversations_to_resync(now=now))
    return f"{report.summary()}; s3 legal holds: {holds}"


def fetch_audio_task(genesys_id: str) -> str:
    """On demand, from the review page: fetch a transcribed call's recording for the player (one API call)."""
    from reviews.pipeline.audio_cache import fetch_call_audio

    return f"audio {genesys_id}: {fetch_call_audio(client=_client(), clock=SYSTEM_CLOCK, genesys_id=genesys_id)}"


def audio_cache_sweep_task() -> str:
    """Every SWEEP_INTERVAL_MINUTES: delete expired playback copies (AUDIO_ARCHIVE=all: keep and archive them)."""
    from reviews.pipeline.audio_cache import sweep_audio_cache
    from reviews.pipeline.schedule import now_of

    return sweep_audio_cache(now=now_of(SYSTEM_CLOCK)).summary()


def speech_to_text_task(clock=SYSTEM_CLOCK) -> str:
    """Every minute: transcribe pending audio-only calls one at a time (each in a low-priority child process),
    starting another only within this task's budget. At most ASR_CONCURRENCY run cluster-wide; a task that finds
    every slot busy returns at once, leaving the worker to Genesys ingestion."""
    from reviews.asr.jobs import transcribe_next

    if not settings.ASR_ENABLED:
        return "speech-to-text: disabled (ASR_ENABLED=false)"
    stop_at = task_stop_at(clock)
    outcomes: dict[str, int] = {}
    while clock.monotonic() < stop_at:
        outcome = transcribe_next(clock=clock)
        if outcome is None:
            break
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing pending"
    return f"speech-to-text: {summary}"


def late_transcripts_task() -> str:
    """Every few minutes: ask Genesys again for the transcripts of audio-only calls whose late check is due."""
    from reviews.pipeline.late import check_late_transcripts

    checked = check_late_transcripts(client=_client(), clock=SYSTEM_CLOCK)
    return f"late transcripts: {checked} audio-only conversations checked"
