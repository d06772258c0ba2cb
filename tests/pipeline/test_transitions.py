from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from genesys.errors import PermissionDeniedError, ServerError
from reviews.models import Conversation, Division
from reviews.pipeline import transitions
from reviews.pipeline.leases import claim_one

pytestmark = pytest.mark.django_db
State = Conversation.State
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def leased(state: str = State.AWAITING_TRANSCRIPT, **fields) -> tuple[str, Conversation]:
    Conversation.objects.create(
        genesys_id="c0ffee00-0000-4000-8000-000000000001",
        state=state,
        started_at=NOW - timedelta(minutes=10),
        ended_at=NOW - timedelta(minutes=5),
        deadline_at=NOW + timedelta(hours=1),
        next_attempt_at=NOW,
        state_changed_at=NOW - timedelta(hours=1),
        **fields,
    )
    token, conversation = claim_one(genesys_id="c0ffee00-0000-4000-8000-000000000001", now=NOW)
    assert conversation is not None
    return token, conversation


def test_it_refuses_a_move_the_state_machine_does_not_allow():
    token, conversation = leased(State.AWAITING_TRANSCRIPT)

    with pytest.raises(transitions.IllegalTransition):
        transitions.audio_kept(conversation, token=token, now=NOW)

    assert Conversation.objects.get().state == State.AWAITING_TRANSCRIPT


def test_it_refuses_a_move_the_row_no_longer_allows_even_when_the_object_is_stale():
    token, conversation = leased(State.AWAITING_AUDIO)
    # Another worker (after our lease expired and theirs began) already finished it.
    Conversation.objects.update(state=State.AUDIO_FALLBACK)

    assert not transitions.audio_unavailable(conversation, token=token, now=NOW, outcome="recording deleted")

    assert Conversation.objects.get().state == State.AUDIO_FALLBACK


def test_it_writes_nothing_without_the_lease():
    token, conversation = leased()

    assert not transitions.transcript_not_yet(conversation, token="someone-elses", now=NOW)

    row = Conversation.objects.get()
    assert (row.attempts, row.lease_token) == (0, token)


def test_it_moves_state_changed_at_only_when_the_state_changes():
    token, conversation = leased(State.AWAITING_TRANSCRIPT)
    before = Conversation.objects.get().state_changed_at

    transitions.transcript_not_yet(conversation, token=token, now=NOW)
    assert Conversation.objects.get().state_changed_at == before

    _, conversation = claim_one(genesys_id=conversation.genesys_id, now=NOW + timedelta(hours=1))
    row = Conversation.objects.get()
    transitions.require_audio(conversation, token=row.lease_token, now=NOW + timedelta(hours=1), reason="r")
    assert Conversation.objects.get().state_changed_at == NOW + timedelta(hours=1)


def test_it_counts_consecutive_errors_in_a_field_and_fails_at_the_limit(settings):
    settings.PIPELINE_MAX_ATTEMPTS = 2
    token, conversation = leased()

    transitions.record_error(conversation, token=token, now=NOW, error=ServerError("sta.transcripturls: HTTP 503"))
    row = Conversation.objects.get()
    assert (row.state, row.error_count) == (State.AWAITING_TRANSCRIPT, 1)

    token, conversation = claim_one(genesys_id=row.genesys_id, now=row.next_attempt_at)
    transitions.record_error(conversation, token=token, now=NOW, error=ServerError("sta.transcripturls: HTTP 503"))
    row = Conversation.objects.get()
    assert (row.state, row.error_count) == (State.FAILED, 2)
    assert row.outcome.startswith("[error 2/2] ServerError")


def test_it_ends_an_error_streak_on_a_valid_answer():
    token, conversation = leased(error_count=3)

    transitions.transcript_not_yet(conversation, token=token, now=NOW)

    assert Conversation.objects.get().error_count == 0


def test_it_names_the_denied_permission_and_division_of_a_restricted_conversation():
    Division.objects.create(genesys_id="d1v-0001", name="Collections")
    token, conversation = leased()
    error = PermissionDeniedError(
        "sta.transcripturls: HTTP 403",
        code="missing.division.permissions",
        missing_permissions=["recording:recording:view"],
        division_ids=["d1v-0001"],
    )

    transitions.restrict(conversation, token=token, now=NOW, error=error)

    row = Conversation.objects.get()
    assert row.state == State.RESTRICTED
    assert "recording:recording:view" in row.outcome and "division Collections" in row.outcome
    assert row.next_attempt_at is None and row.lease_token == ""


@pytest.mark.parametrize("state", [State.FAILED, State.RESTRICTED, State.ARCHIVED, State.AUDIO_UNAVAILABLE])
def test_it_requeues_every_outcome_an_operator_can_fix(state):
    Conversation.objects.create(
        genesys_id="c0ffee00-0000-4000-8000-000000000002",
        state=state,
        started_at=NOW,
        outcome="why",
        error_count=4,
    )
    conversation = Conversation.objects.get()

    assert transitions.requeue(conversation, now=NOW)

    row = Conversation.objects.get()
    assert (row.state, row.outcome, row.error_count, row.next_attempt_at) == (State.AWAITING_TRANSCRIPT, "", 0, NOW)


@pytest.mark.parametrize("state", [State.STORED, State.AUDIO_FALLBACK, State.AWAITING_TRANSCRIPT])
def test_it_does_not_requeue_a_stored_or_active_conversation(state):
    Conversation.objects.create(genesys_id="c0ffee00-0000-4000-8000-000000000003", state=state, started_at=NOW)

    assert not transitions.requeue(Conversation.objects.get(), now=NOW)
    assert Conversation.objects.get().state == state


def test_it_refuses_a_state_change_outside_a_named_transition():
    token, conversation = leased()

    with pytest.raises(transitions.IllegalTransition):
        transitions.keep(conversation, token=token, now=NOW, state=State.STORED)
