"""The operations page: what it shows (scoped), failures apart from outcomes, and Retry / Replay doing what they
say. Retry runs the real reviews.pipeline.requeue.retry_now: the row starts over and the advance task is queued
(caught by the task_queue fixture, which plays the worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reviews.models import (
    AuditEvent,
    Conversation,
    OutboxMessage,
    RateLimitState,
    ReconciliationRun,
    SyncCursor,
)
from reviews.pipeline.requeue import ADVANCE_CONVERSATION_TASK

pytestmark = pytest.mark.django_db
State = Conversation.State


def section(body: str, title_id: str) -> str:
    return body[body.index(f'id="{title_id}"') :].split("</section>")[0]


@pytest.fixture
def failed(conversation):
    Conversation.objects.filter(pk=conversation.pk).update(
        state=Conversation.State.FAILED, last_error="transcript JSON invalid <b>UTF-8</b>", attempts=8
    )
    conversation.refresh_from_db()
    return conversation


@pytest.fixture
def dead_letter(conversation):
    message = OutboxMessage.objects.get(transcript__conversation=conversation)
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=OutboxMessage.State.DEAD, delivered_at=None, attempts=10, last_status=503, last_error="webhook down"
    )
    message.refresh_from_db()
    return message


def test_it_is_closed_to_reviewers(alice_client):
    assert alice_client.get("/operations/").status_code == 403


def test_it_shows_pipeline_outbox_rate_limit_and_watermarks(bob_client, failed, dead_letter):
    now = timezone.now()
    RateLimitState.objects.create(
        key="genesys:demo",
        allowed=300,
        count=150,
        paused_until=(now + timedelta(minutes=1)).timestamp(),
        throttled_total=7,
    )
    SyncCursor.objects.create(name="discovery", watermark=now.replace(year=2025, month=3, day=4, hour=5, minute=6))
    ReconciliationRun.objects.create(since=now, until=now, detected=4, recovered=3, failed=1)
    body = bob_client.get("/operations/").content.decode()
    assert "transcript JSON invalid &lt;b&gt;UTF-8&lt;/b&gt;" in body
    assert "150 / 300 (50%)" in body and "<dd>7</dd>" in body and "not paused" not in body
    assert "4 Mar 2025 05:06" in body
    assert "4 missing" not in body  # reconciliation counts span every division: not for a scoped supervisor
    assert "HTTP 503 · webhook down" in body
    # A trigger filter would need eval, which the CSP forbids: static/js/poll.js slows hidden tabs instead.
    assert "visibilityState" not in body
    assert 'hx-trigger="every 5s" data-background-poll data-hidden-interval-ms="60000"' in body


def test_it_returns_the_live_partial_when_polled(bob_client, failed):
    response = bob_client.get("/operations/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body and body.strip().startswith('<div id="ops-live"')


def test_it_scopes_failures_to_the_supervisors_division(bob_client, other_conversation):
    Conversation.objects.filter(pk=other_conversation.pk).update(state=Conversation.State.FAILED)
    assert b"conv-q2" not in bob_client.get("/operations/").content


def test_it_retries_a_failed_conversation_for_real_and_queues_it(bob_client, bob, failed, task_queue):
    response = bob_client.post("/operations/retry/conv-q1", headers={"HX-Request": "true"})
    assert response.status_code == 200
    row = Conversation.objects.get(pk=failed.pk)
    assert (row.state, row.attempts, row.error_count, row.last_error) == (State.AWAITING_TRANSCRIPT, 0, 0, "")
    assert row.next_attempt_at is not None and row.lease_token == ""
    assert task_queue == [(ADVANCE_CONVERSATION_TASK, ("conv-q1",))]  # the worker takes it up now
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETRY)
    assert (event.user, event.object_id) == (bob, "conv-q1")
    assert b"Retry queued for conv-q1" in response.content


def test_it_does_not_retry_a_healthy_conversation(bob_client, conversation, task_queue):
    response = bob_client.post("/operations/retry/conv-q1")
    assert response.status_code == 302
    assert task_queue == [] and Conversation.objects.get(pk=conversation.pk).state == State.STORED
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RETRY).exists()


def test_it_cannot_retry_outside_the_users_scope(bob_client, other_conversation, task_queue):
    Conversation.objects.filter(pk=other_conversation.pk).update(state=State.FAILED)
    assert bob_client.post("/operations/retry/conv-q2").status_code == 404
    assert task_queue == [] and Conversation.objects.get(pk=other_conversation.pk).state == State.FAILED


def test_it_shows_reconciliation_counts_to_those_who_see_everything(carol_client, conversation):
    now = timezone.now()
    ReconciliationRun.objects.create(since=now, until=now, detected=4, recovered=3, failed=1)
    assert "4 missing, 3 recovered, 1 failed" in carol_client.get("/operations/").content.decode()


def test_it_replays_a_dead_letter(bob_client, bob, dead_letter):
    response = bob_client.post(f"/operations/replay/{dead_letter.pk}")
    assert response.status_code == 302
    dead_letter.refresh_from_db()
    assert (dead_letter.state, dead_letter.attempts) == (OutboxMessage.State.PENDING, 0)
    event = AuditEvent.objects.get(action=AuditEvent.Action.REPLAY)
    assert (event.user, event.object_id) == (bob, str(dead_letter.pk))


def test_it_does_not_replay_a_delivered_message(bob_client, conversation):
    message = OutboxMessage.objects.get(transcript__conversation=conversation)
    bob_client.post(f"/operations/replay/{message.pk}")
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.DELIVERED
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REPLAY).exists()


# Final states, search health, findings and batch jobs


@pytest.mark.parametrize("state", ["restricted", "archived", "audio_unavailable"])
def test_it_retries_a_restricted_archived_or_audioless_conversation_and_audits_it(
    bob_client, bob, conversation, task_queue, state
):
    Conversation.objects.filter(pk=conversation.pk).update(state=state, outcome="missing recording:view")
    response = bob_client.post("/operations/retry/conv-q1", headers={"HX-Request": "true"})
    assert response.status_code == 200 and b"Retry queued for conv-q1" in response.content
    row = Conversation.objects.get(pk=conversation.pk)
    assert (row.state, row.outcome) == (State.AWAITING_TRANSCRIPT, "")
    assert task_queue == [(ADVANCE_CONVERSATION_TASK, ("conv-q1",))]
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETRY)
    assert (event.user, event.object_id) == (bob, "conv-q1")
    assert event.detail == {"previous_state": state, "queued": True}


def test_it_says_so_when_a_worker_holds_the_conversation(bob_client, failed, task_queue):
    held_until = timezone.now() + timedelta(minutes=10)
    Conversation.objects.filter(pk=failed.pk).update(lease_token="worker-1", lease_expires_at=held_until)
    response = bob_client.post("/operations/retry/conv-q1", headers={"HX-Request": "true"})
    assert b"was not retried" in response.content and b"nothing changed" in response.content
    assert b"Retry queued" not in response.content
    row = Conversation.objects.get(pk=failed.pk)
    assert (row.state, row.attempts, row.lease_token) == (State.FAILED, 8, "worker-1")
    assert task_queue == []  # nothing queued
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RETRY).exists()  # nothing was retried


def test_it_says_so_when_the_task_queue_refuses_the_retrys_task(bob_client, failed, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr("django_q.tasks.async_task", broker_down)
    response = bob_client.post("/operations/retry/conv-q1", headers={"HX-Request": "true"})
    assert b"Retry queued" not in response.content and b"could not be queued" in response.content
    row = Conversation.objects.get(pk=failed.pk)
    assert (row.state, row.attempts) == (State.AWAITING_TRANSCRIPT, 0)  # due now: the schedule takes it up
    assert AuditEvent.objects.get(action=AuditEvent.Action.RETRY).detail == {
        "previous_state": "failed",
        "queued": False,
    }


def test_it_retries_a_failed_conversation_that_the_worker_then_stores(bob_client, bob, settings, task_queue):
    """End to end on the emulator: the pipeline gives up on a conversation (its real error rule), the supervisor
    presses Retry, and the task the page queued, run against the emulator, stores the transcript."""
    from genesys.errors import ServerError
    from reviews.models import AccessScope, Division
    from reviews.pipeline import advance_conversation, discover, transitions
    from reviews.pipeline.leases import claim_one
    from reviews.pipeline.schedule import now_of
    from tests.pipeline.support import WINDOW_END, WINDOW_START, running_world

    settings.COMPLIANCE_SINKS = ["filesystem"]
    settings.PIPELINE_MAX_ATTEMPTS = 1
    with running_world(conversations=6, large=0, malformed=0) as world:
        discover(client=world.client, start=WINDOW_START, end=WINDOW_END, now=now_of(world.clock))
        AccessScope.objects.get(user=bob).divisions.add(*Division.objects.all())
        sim = next(c for c in world.conversations() if c.transcript and c.transcript.kind == "normal")
        token, row = claim_one(genesys_id=sim.conversation_id, now=now_of(world.clock))
        transitions.record_error(row, token=token, now=now_of(world.clock), error=ServerError("HTTP 503"))
        assert Conversation.objects.get(pk=row.pk).state == State.FAILED

        response = bob_client.post(f"/operations/retry/{sim.conversation_id}", headers={"HX-Request": "true"})
        assert f"Retry queued for {sim.conversation_id}".encode() in response.content

        [(func, args)] = task_queue.take()
        assert (func, args) == (ADVANCE_CONVERSATION_TASK, (sim.conversation_id,))
        # reviews.tasks.advance_conversation_task, with the emulator's client and clock instead of the shared ones
        state = advance_conversation(client=world.client, clock=world.clock, genesys_id=args[0])
    assert state == State.STORED
    row = Conversation.objects.get(pk=row.pk)
    assert row.transcripts.get().utterance_count == sim.transcript.phrase_count
    assert (row.attempts, row.outcome) == (0, "")


def test_it_lists_failures_apart_from_audio_only_and_other_outcomes(bob_client, conversation, q1, d1, build):
    now = timezone.now()
    rows = {
        "conv-audio": ("audio_fallback", {"needs_manual_review": True, "manual_review_reason": "transcript empty"}),
        "conv-403": ("restricted", {"outcome": "missing conversation:view in division D1 <b>x</b>"}),
        "conv-arch": ("archived", {"outcome": "needs recording:recording:restore"}),
        "conv-none": ("audio_unavailable", {"outcome": "recording deleted"}),
        "conv-fail": ("failed", {"outcome": "[error 8/8] ServerError: HTTP 503", "attempts": 8}),
        "conv-stuck": ("awaiting_transcript", {"next_attempt_at": now - timedelta(hours=1)}),
        "conv-due": ("awaiting_transcript", {"next_attempt_at": now - timedelta(minutes=1)}),
    }
    for genesys_id, (state, extra) in rows.items():
        build.conversation(genesys_id, queue=q1, division=d1, state=state, **extra)
    Conversation.objects.filter(pk=conversation.pk).update(
        needs_manual_review=True, manual_review_reason="part comm-2 could not be read"
    )
    body = bob_client.get("/operations/").content.decode()

    failures = section(body, "ops-failures-title")
    assert "conv-fail" in failures and "[error 8/8] ServerError: HTTP 503" in failures
    stuck_row = failures[failures.index("conv-stuck") :].split("</tr>")[0]
    assert ">stuck<" in stuck_row and "due since" in stuck_row  # due an hour ago, no worker took it
    for outcome in ("conv-audio", "conv-403", "conv-arch", "conv-none", "conv-q1", "conv-due"):
        assert outcome not in failures, outcome
    assert failures.count("/operations/retry/") == 2  # action and hx-post of the failed row; stuck has none
    assert 'Failures <span class="count">2</span>' in failures

    outcomes = section(body, "ops-outcomes-title")
    audio_row = outcomes[outcomes.index("conv-audio") :].split("</tr>")[0]
    assert "Audio only" in audio_row and "transcript empty" in audio_row and "/operations/retry/" not in audio_row
    assert "missing conversation:view in division D1 &lt;b&gt;x&lt;/b&gt;" in outcomes
    assert "needs recording:recording:restore" in outcomes and "recording deleted" in outcomes
    stored_row = outcomes[outcomes.index("conv-q1") :].split("</tr>")[0]
    assert "part comm-2 could not be read" in stored_row and "/operations/retry/" not in stored_row
    assert "conv-fail" not in outcomes and "conv-stuck" not in outcomes
    assert outcomes.count("/operations/retry/") == 2 * 3  # restricted, archived, audio-less: a role may change

    counts = body[body.index("<h2>Pipeline</h2>") :].split("</table>")[0]
    groups = {name: counts[counts.index(f">{name}</th>") :].split("</tbody>")[0] for name in ("Outcomes", "Failures")}
    assert "Audio fallback" in groups["Outcomes"] and "Audio fallback" not in groups["Failures"]
    assert '<th class="num">5</th>' in groups["Outcomes"]  # stored, audio only, restricted, archived, no audio
    assert '<th class="num">1</th>' in groups["Failures"]


def test_it_says_why_a_stored_call_cannot_be_retried(bob_client, conversation, task_queue):
    Conversation.objects.filter(pk=conversation.pk).update(
        needs_manual_review=True, outcome="part comm-2 could not be read"
    )
    response = bob_client.post("/operations/retry/conv-q1", headers={"HX-Request": "true"})
    assert b"only failed, restricted, archived or audio-less" in response.content and task_queue == []


def test_it_gives_every_control_in_the_live_region_a_stable_id(bob_client, failed, dead_letter):
    """static/js/poll.js and htmx give focus back by id after each refresh: a control without one loses it."""
    import re

    body = bob_client.get("/operations/", headers={"HX-Request": "true"}).content.decode()
    assert f'id="retry-{failed.pk}"' in body and f'id="replay-{dead_letter.pk}"' in body
    for tag in re.findall(r"<(?:a|button)\b[^>]*>", body):
        assert re.search(r'\bid="[^"]+"', tag), tag
    ids = re.findall(r'\bid="([^"]+)"', body)
    assert len(ids) == len(set(ids))


def test_it_shows_search_health_findings_and_open_batch_jobs(carol_client, conversation):
    from reviews.models import BatchJob, GenesysFinding, OAuthToken

    now = timezone.now()
    GenesysFinding.objects.create(
        key="search.health",
        source="pipeline",
        value={
            "ok_at": (now - timedelta(hours=2)).isoformat(),
            "listed_at": (now - timedelta(hours=3)).isoformat(),
            "failed_at": now.isoformat(),
            "failures": 4,
            "cooldown_until": (now + timedelta(minutes=10)).isoformat(),
            "last_error": "HTTP 503 <i>upstream</i>",
        },
    )
    GenesysFinding.objects.create(
        key="transcription.settings", source="genesys_check", value={"transcription": "EnabledQueueFlow"}
    )
    OAuthToken.objects.create(key="k", token="secret-access-token-value")
    BatchJob.objects.create(job_id="job-pending", submitted_at=now, member_ids=["a", "b", "c"])
    BatchJob.objects.create(job_id="job-lost", state="lost", submitted_at=now, last_error="404 job not found")
    BatchJob.objects.create(job_id="job-done", state="completed", submitted_at=now)
    Conversation.objects.filter(pk=conversation.pk).update(direct_probed_at=now)

    body = carol_client.get("/operations/").content.decode()
    panel = body[body.index('id="genesys-title"') :].split("</section>")[0]
    assert ">failing<" in panel and "probed directly" in panel
    assert "<dt>Consecutive failures</dt><dd>4</dd>" in panel
    assert "HTTP 503 &lt;i&gt;upstream&lt;/i&gt;" in panel
    assert "<dd>1</dd>" in panel.split("Direct probes, last hour")[1][:40]
    assert "transcription.settings" in panel and "transcription: EnabledQueueFlow" in panel
    assert "genesys_check" in panel
    assert "job-pending" in panel and "job-lost" in panel and "404 job not found" in panel
    assert "job-done" not in panel and "Completed: 1" in panel
    assert "secret-access-token-value" not in body


def test_it_shows_a_healthy_search_that_has_never_run(bob_client, conversation):
    body = bob_client.get("/operations/").content.decode()
    panel = body[body.index('id="genesys-title"') :].split("</section>")[0]
    assert "not used yet" in panel and "Nothing learnt yet." in panel and "No pending or lost batch jobs." in panel


def test_it_shows_the_last_audit_chain_check(bob_client):
    from reviews import audit_chain
    from reviews.models import AuditEvent

    assert b"has not been checked yet" in bob_client.get("/operations/").content
    audit_chain.check_and_record()
    assert b'<span class="state state-stored">Intact</span>' in bob_client.get("/operations/").content
    first = AuditEvent.objects.order_by("pk").first()
    AuditEvent.objects.filter(pk=first.pk).update(username="someone")
    audit_chain.check_and_record()
    body = bob_client.get("/operations/").content.decode()
    assert f"Broken at event {first.pk}" in body and "does not match its hash" in body
