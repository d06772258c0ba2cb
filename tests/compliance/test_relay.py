from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from email.utils import formatdate
from io import StringIO

import pytest
from django.core.management import call_command

from reviews.compliance import outbox_summary, record_transcript_version, relay_due, replay
from reviews.compliance.outbox import clock_now
from reviews.compliance.relay import claim_due, relay_outbox_task, wake_sink
from reviews.compliance.sinks import DeliveryOutcome
from reviews.compliance.sinks.webhook import verify_signature
from reviews.models import OutboxMessage

pytestmark = pytest.mark.django_db


def relay_until_settled(clock, *, rounds=30):
    """Run relay rounds, jumping the clock past every retry delay, until nothing is pending."""
    results = []
    for _ in range(rounds):
        results.append(relay_due(clock=clock, rng=random.Random(7)))
        if not OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING).exists():
            break
        clock.advance(3601)
    return results


def test_it_delivers_everything_after_the_receiver_recovers(make_transcript, clock, webhook_receiver, settings):
    settings.COMPLIANCE_MAX_ATTEMPTS = 10
    transcripts = [make_transcript() for _ in range(3)]
    for transcript in transcripts:
        record_transcript_version(transcript, clock=clock)
    webhook_receiver.status = 500

    relay_until_settled(clock, rounds=3)  # three rounds of 500s
    webhook_receiver.status = 200
    relay_until_settled(clock)

    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {"delivered"}
    assert OutboxMessage.objects.filter(attempts=4).count() == 3
    by_conversation = defaultdict(list)
    for request in webhook_receiver.requests:
        assert verify_signature(webhook_receiver.secret, request["headers"], request["body"], now=request["at"])
        by_conversation[request["headers"]["webhook-id"]].append(request)
    expected_keys = {transcript.version_key for transcript in transcripts}
    assert set(by_conversation) == expected_keys
    for requests in by_conversation.values():
        assert [r["status"] for r in requests] == [500, 500, 500, 200]
        assert len({r["body"] for r in requests}) == 1  # every retry sends byte-identical content


def test_it_dead_letters_a_400_at_once_and_replay_delivers_it(make_transcript, clock, webhook_receiver):
    transcript = make_transcript()
    (message,) = record_transcript_version(transcript, clock=clock)
    webhook_receiver.status = 400

    assert relay_due(clock=clock).dead == 1

    message.refresh_from_db()
    assert (message.state, message.attempts, message.last_status) == ("dead", 1, 400)
    assert "HTTP 400" in message.last_error
    assert outbox_summary(clock=clock)["dead"] == 1

    webhook_receiver.status = 200
    replay(message, clock=clock)
    assert (message.state, message.attempts) == ("pending", 0)
    assert relay_due(clock=clock).delivered == 1

    message.refresh_from_db()
    assert message.state == "delivered"
    assert [r["headers"]["webhook-id"] for r in webhook_receiver.requests] == [transcript.version_key] * 2


def test_it_gives_up_after_max_attempts_and_says_why(make_transcript, clock, webhook_receiver, settings):
    settings.COMPLIANCE_MAX_ATTEMPTS = 3
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    webhook_receiver.status = 503

    results = relay_until_settled(clock)

    message.refresh_from_db()
    assert [(r.retried, r.dead) for r in results] == [(1, 0), (1, 0), (0, 1)]
    assert (message.state, message.attempts, message.last_status) == ("dead", 3, 503)
    assert message.last_error.startswith("gave up after 3 attempts: webhook answered HTTP 503")


def test_it_retries_with_capped_full_jitter(make_transcript, clock, webhook_receiver, settings):
    settings.COMPLIANCE_RETRY_BASE_SECONDS = 10
    settings.COMPLIANCE_RETRY_MAX_SECONDS = 25
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    webhook_receiver.status = 429
    delays = []
    for _ in range(4):
        clock.advance(30)
        before = clock_now(clock)
        relay_due(clock=clock)
        message.refresh_from_db()
        delays.append((message.next_attempt_at - before).total_seconds())

    assert [0 <= delay <= ceiling for delay, ceiling in zip(delays, [10, 20, 25, 25], strict=True)] == [True] * 4


@pytest.mark.parametrize(
    ("seconds", "as_date", "earliest"),
    [(600, False, 600), (1800, True, 1800), (86400, False, 3600)],  # capped at COMPLIANCE_RETRY_MAX_SECONDS
)
def test_it_waits_for_the_receivers_retry_after(
    make_transcript, clock, webhook_receiver, settings, seconds, as_date, earliest
):
    settings.COMPLIANCE_RETRY_BASE_SECONDS = 10
    settings.COMPLIANCE_RETRY_MAX_SECONDS = 3600
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    webhook_receiver.status = 429
    header = formatdate(clock.time() + seconds, usegmt=True) if as_date else str(seconds)
    webhook_receiver.headers = {"Retry-After": header}

    relay_due(clock=clock, rng=random.Random(1))

    message.refresh_from_db()
    wait = (message.next_attempt_at - clock_now(clock)).total_seconds()
    assert message.state == "pending"
    assert earliest <= wait <= max(earliest, 10)


def test_it_retries_when_the_receiver_is_unreachable(make_transcript, clock, webhook_receiver, settings):
    settings.COMPLIANCE_WEBHOOK_URL = "http://127.0.0.1:9/closed"
    (message,) = record_transcript_version(make_transcript(), clock=clock)

    assert relay_due(clock=clock).retried == 1

    message.refresh_from_db()
    assert message.state == "pending"
    assert message.last_status is None
    assert "webhook request failed" in message.last_error


def test_it_never_lets_two_relays_claim_the_same_row(make_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    record_transcript_version(make_transcript(), clock=clock)

    first = claim_due(clock=clock, limit=10)
    second = claim_due(clock=clock, limit=10)
    clock.advance(settings.COMPLIANCE_LEASE_SECONDS + 1)  # the first relay died holding the lease
    third = claim_due(clock=clock, limit=10)

    assert len(first) == 1
    assert second == []
    assert [m.pk for m in third] == [first[0].pk]
    assert third[0].attempts == 2


def test_it_leases_a_claimed_row_for_the_configured_time(make_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    settings.COMPLIANCE_LEASE_SECONDS = 45
    record_transcript_version(make_transcript(), clock=clock)

    (claimed,) = claim_due(clock=clock, limit=10)

    assert claimed.lease_expires_at == clock_now(clock) + timedelta(seconds=45)


def test_it_retries_when_a_sink_raises(make_transcript, clock, settings, monkeypatch):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    (message,) = record_transcript_version(make_transcript(), clock=clock)

    def broken(message, *, clock):
        raise KeyError("bug")

    monkeypatch.setattr("reviews.compliance.sinks.deliver", broken)
    assert relay_due(clock=clock).retried == 1

    message.refresh_from_db()
    assert message.state == "pending"
    assert "sink raised KeyError" in message.last_error


def test_it_summarises_depth_per_sink_and_oldest_pending_age(make_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem", "webhook"]
    first = record_transcript_version(make_transcript(), clock=clock)
    clock.advance(100)
    record_transcript_version(make_transcript(), clock=clock)
    OutboxMessage.objects.filter(pk=first[0].pk).update(state="delivered", delivered_at=clock_now(clock))
    OutboxMessage.objects.filter(pk=first[1].pk).update(state="dead")
    clock.advance(20)

    summary = outbox_summary(clock=clock)

    assert summary["sinks"] == {
        "filesystem": {"pending": 1, "delivered": 1, "dead": 0, "oldest_pending_age_seconds": 20.0},
        "webhook": {"pending": 1, "delivered": 0, "dead": 1, "oldest_pending_age_seconds": 20.0},
    }
    assert (summary["pending"], summary["delivered"], summary["dead"]) == (2, 1, 1)
    assert summary["oldest_pending_age_seconds"] == 20.0


def test_it_refuses_to_replay_a_delivered_row(make_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    relay_due(clock=clock)
    message.refresh_from_db()

    with pytest.raises(ValueError, match="already delivered"):
        replay(message)


def test_it_runs_as_a_django_q_task(make_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    for _ in range(2):
        record_transcript_version(make_transcript(), clock=clock)

    assert relay_outbox_task() == "compliance relay: delivered=2 retried=0 dead=0"


def test_it_logs_outcomes_without_transcript_text(make_transcript, clock, settings, caplog):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    transcript = make_transcript(document=b'{"text": "secret words"}')
    record_transcript_version(transcript, clock=clock)

    with caplog.at_level("INFO", logger="reviews.compliance.relay"):
        relay_due(clock=clock)

    (record,) = caplog.records
    assert (record.conversation_id, record.sink, record.state) == (
        transcript.conversation.genesys_id,
        "filesystem",
        "delivered",
    )
    assert "secret words" not in caplog.text


def test_it_records_a_permanent_outcome_as_a_dead_letter_with_its_status(make_transcript, clock, settings, monkeypatch):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    (message,) = record_transcript_version(make_transcript(), clock=clock)
    monkeypatch.setattr(
        "reviews.compliance.sinks.deliver", lambda message, *, clock: DeliveryOutcome.permanent("no", status=403)
    )

    assert relay_due(clock=clock).dead == 1
    message.refresh_from_db()
    assert (message.state, message.last_status, message.last_error) == ("dead", 403, "no")


def test_it_runs_one_round_from_the_command_line(make_transcript, clock, settings):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    record_transcript_version(make_transcript(), clock=clock)
    out = StringIO()

    call_command("compliance_relay", "--once", stdout=out)

    assert out.getvalue().strip() == "compliance relay: delivered=1 retried=0 dead=0"


def test_it_strands_only_the_row_in_flight_when_the_relay_is_killed(make_transcript, clock, settings, monkeypatch):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    for _ in range(4):
        record_transcript_version(make_transcript(), clock=clock)
    delivered = []

    def deliver_then_die(message, *, clock):
        if delivered:
            raise KeyboardInterrupt  # stands in for SIGKILL: nothing after this line runs
        delivered.append(message.pk)
        return DeliveryOutcome.delivered(200)

    monkeypatch.setattr("reviews.compliance.relay.sinks.deliver", deliver_then_die)
    with pytest.raises(KeyboardInterrupt):
        relay_due(clock=clock)

    leased = OutboxMessage.objects.filter(lease_expires_at__isnull=False)
    assert leased.count() == 1  # the one being delivered when the relay died
    assert OutboxMessage.objects.filter(state="pending", lease_expires_at__isnull=True).count() == 2


def test_it_never_overwrites_a_delivery_with_a_late_failure(make_transcript, clock, settings, monkeypatch):
    settings.COMPLIANCE_SINKS = ["filesystem"]
    (message,) = record_transcript_version(make_transcript(), clock=clock)

    def slow_failure(stale, *, clock):
        # While this relay waited, its lease expired and another relay delivered the row.
        OutboxMessage.objects.filter(pk=stale.pk).update(state="delivered", lease_expires_at=None)
        return DeliveryOutcome.permanent("late answer from a receiver", status=400)

    monkeypatch.setattr("reviews.compliance.relay.sinks.deliver", slow_failure)
    relay_due(clock=clock)

    message.refresh_from_db()
    assert message.state == "delivered"


def test_a_successful_delivery_makes_the_sinks_waiting_rows_due_now(make_transcript, clock, webhook_receiver, settings):
    settings.COMPLIANCE_SINKS = ["webhook"]
    settings.COMPLIANCE_MAX_ATTEMPTS = 10
    settings.COMPLIANCE_RETRY_BASE_SECONDS = 600
    settings.COMPLIANCE_RETRY_MAX_SECONDS = 3600
    for _ in range(5):
        record_transcript_version(make_transcript(), clock=clock)
    webhook_receiver.status = 503
    for _ in range(3):  # the outage: every row fails three times and waits up to an hour each
        relay_due(clock=clock, rng=random.Random(3))
        clock.advance(3601)
    assert OutboxMessage.objects.filter(state="pending", attempts=3).count() == 5
    waits = sorted(OutboxMessage.objects.values_list("next_attempt_at", flat=True))
    assert waits[0] < waits[-1]  # jittered apart

    webhook_receiver.status = 200  # the receiver is back: the first row whose backoff ends is delivered
    clock.advance((waits[0] - clock_now(clock)).total_seconds())
    first = relay_due(clock=clock, rng=random.Random(3))
    assert first.delivered == 1 and first.retried == 0
    now = clock_now(clock)
    pending = OutboxMessage.objects.filter(state="pending")
    assert pending.count() == 4
    assert all(at <= now for at in pending.values_list("next_attempt_at", flat=True))  # due now, not in an hour
    assert set(pending.values_list("attempts", flat=True)) == {3}  # attempts kept: dead-letter budget unchanged

    second = relay_due(clock=clock, rng=random.Random(3))  # no clock jump needed
    assert second.delivered == 4
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {"delivered"}


def test_waking_a_recovered_sink_is_bounded_and_leaves_other_sinks_and_leased_rows_alone(
    make_transcript, clock, settings
):
    settings.COMPLIANCE_SINKS = ["filesystem", "webhook"]
    for _ in range(4):
        record_transcript_version(make_transcript(), clock=clock)
    now = clock_now(clock)
    later = now + timedelta(hours=1)
    OutboxMessage.objects.update(next_attempt_at=later, attempts=2)
    leased = OutboxMessage.objects.filter(sink="webhook").order_by("id").first()
    OutboxMessage.objects.filter(pk=leased.pk).update(
        lease_expires_at=now + timedelta(seconds=settings.COMPLIANCE_LEASE_SECONDS)
    )

    assert wake_sink("webhook", clock=clock, limit=2) == 2  # one round's worth, not the whole backlog
    assert wake_sink("webhook", clock=clock, limit=100) == 1  # the leased row stays with its relay

    webhook = OutboxMessage.objects.filter(sink="webhook")
    assert webhook.filter(next_attempt_at=now).count() == 3
    assert webhook.get(pk=leased.pk).next_attempt_at == later
    assert set(OutboxMessage.objects.filter(sink="filesystem").values_list("next_attempt_at", flat=True)) == {later}
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {2}
