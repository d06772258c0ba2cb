"""The Compliance role is read-only (ASVS 8.2.1, 8.2.2): no retry, no replay; every refusal on the operations page
is audited (ASVS 16.3.3); a retry that changes nothing says so and records nothing; a scoped user sees the
state of their own conversations only."""

from __future__ import annotations

import pytest

from reviews.models import AuditEvent, BatchJob, Conversation, OutboxMessage
from tests.fixtures.accounts import sign_in

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def unchanged(conversation) -> bool:
    """Still failed, with the counters it had: the real retry (reviews.pipeline.requeue.retry_now) did not run."""
    row = Conversation.objects.get(pk=conversation.pk)
    return (row.state, row.attempts, row.last_error) == (Conversation.State.FAILED, 8, "[error 8/8] ServerError")


@pytest.fixture
def mine(make_conversation):
    conversation = make_conversation("hello", queue="queue-a", queue_division="div-a")
    Conversation.objects.filter(pk=conversation.pk).update(
        state=Conversation.State.FAILED, attempts=8, last_error="[error 8/8] ServerError"
    )
    return conversation


@pytest.fixture
def theirs(make_conversation):
    conversation = make_conversation("hello", queue="queue-b", queue_division="div-b")
    Conversation.objects.filter(pk=conversation.pk).update(
        state=Conversation.State.FAILED, attempts=8, last_error="[error 8/8] ServerError"
    )
    return conversation


def dead_letter(conversation) -> OutboxMessage:
    return OutboxMessage.objects.create(
        transcript=conversation.transcripts.get(),
        sink="filesystem",
        idempotency_key=f"key-{conversation.pk}",
        payload={},
        state=OutboxMessage.State.DEAD,
        attempts=10,
    )


@pytest.fixture
def officer(make_user):
    return sign_in(make_user(groups=["Compliance"]))


@pytest.fixture
def supervisor(make_user):
    return sign_in(make_user(groups=["Supervisor"], divisions=["div-a"]))


def denial(**detail):
    return AuditEvent.objects.get(action=Action.ACCESS_DENIED, **{f"detail__{k}": v for k, v in detail.items()})


def test_it_refuses_a_retry_to_a_compliance_officer_and_audits_it(officer, mine, task_queue):
    answer = officer.post(f"/operations/retry/{mine.genesys_id}")
    assert answer.status_code == 403 and unchanged(mine) and task_queue == []
    assert not AuditEvent.objects.filter(action=Action.RETRY).exists()
    event = denial(operation="retry")
    assert event.object_id == mine.genesys_id and event.detail["reason"] == "read-only role"


def test_it_refuses_a_replay_to_a_compliance_officer_and_audits_it(officer, mine):
    message = dead_letter(mine)
    assert officer.post(f"/operations/replay/{message.pk}").status_code == 403
    message.refresh_from_db()
    assert message.state == OutboxMessage.State.DEAD
    assert denial(operation="replay").object_id == str(message.pk)


def test_it_offers_a_compliance_officer_no_retry_or_replay_button(officer, mine):
    dead_letter(mine)
    body = officer.get("/operations/").content.decode()
    assert mine.genesys_id in body  # sees the state...
    assert "/operations/retry/" not in body and "/operations/replay/" not in body  # ...and cannot act on it


def test_it_audits_a_reviewer_turned_away_from_operations(make_user):
    reviewer = sign_in(make_user(groups=["Reviewer"], queues=["queue-a"]))
    assert reviewer.get("/operations/").status_code == 403
    assert denial(operation="view_operations").detail["reason"] == "not an operator"


def test_it_audits_a_retry_and_a_replay_outside_the_scope(supervisor, theirs, task_queue):
    message = dead_letter(theirs)
    assert supervisor.post(f"/operations/retry/{theirs.genesys_id}").status_code == 404
    assert supervisor.post(f"/operations/replay/{message.pk}").status_code == 404
    assert unchanged(theirs) and task_queue == [] and denial(operation="retry").object_id == theirs.genesys_id
    assert denial(operation="replay").object_id == str(message.pk)


def test_it_says_a_retry_changed_nothing_and_records_no_retry(supervisor, mine, task_queue):
    Conversation.objects.filter(pk=mine.pk).update(state=Conversation.State.STORED)
    answer = supervisor.post(f"/operations/retry/{mine.genesys_id}", headers={"HX-Request": "true"})
    assert b"only failed, restricted, archived or audio-less conversations can be retried" in answer.content
    assert task_queue == [] and not AuditEvent.objects.filter(action=Action.RETRY).exists()
    assert Conversation.objects.get(pk=mine.pk).state == Conversation.State.STORED


def test_it_retries_for_a_supervisor(supervisor, mine, task_queue):
    supervisor.post(f"/operations/retry/{mine.genesys_id}")
    assert not unchanged(mine) and Conversation.objects.get(pk=mine.pk).state == Conversation.State.AWAITING_TRANSCRIPT
    assert task_queue == [("reviews.tasks.advance_conversation_task", (mine.genesys_id,))]
    assert AuditEvent.objects.filter(action=Action.RETRY).exists()


def test_it_shows_a_scoped_user_only_the_state_of_their_conversations(supervisor, mine, theirs):
    dead_letter(theirs)
    theirs_job = BatchJob.objects.create(job_id="job-theirs", submitted_at=theirs.started_at)
    mine_job = BatchJob.objects.create(job_id="job-mine", submitted_at=mine.started_at)
    Conversation.objects.filter(pk=theirs.pk).update(audio_batch=theirs_job)
    Conversation.objects.filter(pk=mine.pk).update(audio_batch=mine_job)
    body = supervisor.get("/operations/").content.decode()
    assert theirs.genesys_id not in body and "job-theirs" not in body and "job-mine" in body
    outbox = body[body.index("Compliance outbox") :].split("</section>")[0]
    assert '<td class="num error-text">1</td>' not in outbox  # the other division's dead letter is not counted
    counts = body[body.index("<h2>Pipeline</h2>") :].split("</table>")[0]
    failed_row = counts[counts.index(">Failed<") :].split("</tr>")[0]
    assert '<td class="num">1</td>' in failed_row  # one failed conversation in scope, not two
