"""The conversation state machine: the only code that changes Conversation.state.

Every write is one conditional UPDATE, on the lease token (a worker whose lease expired can never overwrite
the progress of the worker that claimed the row after it) and on the states the target may be entered from
(TRANSITIONS), so an illegal move is refused by the row itself rather than by a check that could race.

    discovered ─► awaiting_transcript ─► downloading ─► stored
        │               │  ▲ (not yet,         │  └──► awaiting_transcript (a multi-leg call waits for its other parts)
        │               │  │  errors)          │
        └───────────────┴──┴───────────────────┴──► awaiting_audio ─► audio_fallback | archived | audio_unavailable
    audio_fallback ─► audio_fallback (late-transcript check: not yet, next check later)
    audio_fallback ─► downloading ─► stored (Genesys' transcript came late: it replaces the vault's own)
                          └──► audio_fallback (the late document was unusable, or an error: checks go on / end)
    any active state ─► restricted (403 on this conversation) | failed (PIPELINE_MAX_ATTEMPTS errors in a row)
    failed / restricted / archived / audio_unavailable ─► awaiting_transcript (retry, reconcile)

The vault's own speech-to-text (reviews/asr) changes no state: an audio-only call stays audio_fallback, with a
vault-asr transcript, until Genesys' own arrives.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Case, DateTimeField, F, Q, Value, When

from genesys.errors import GenesysError, PermissionDeniedError
from reviews.models import BatchJob, Conversation, Division
from reviews.pipeline.schedule import audio_slot, next_availability_probe, next_late_transcript_check, next_poll_at

State = Conversation.State
ACTIVE = frozenset(Conversation.ACTIVE_STATES)

# target state -> the states it may be entered from
TRANSITIONS: dict[str, frozenset[str]] = {
    State.AWAITING_TRANSCRIPT: frozenset({State.DISCOVERED, State.AWAITING_TRANSCRIPT, State.DOWNLOADING}),
    State.DOWNLOADING: frozenset(
        {State.DISCOVERED, State.AWAITING_TRANSCRIPT, State.DOWNLOADING, State.STORED, State.AUDIO_FALLBACK}
    ),
    State.STORED: frozenset({State.AWAITING_TRANSCRIPT, State.DOWNLOADING, State.STORED}),
    State.AWAITING_AUDIO: frozenset(
        {State.DISCOVERED, State.AWAITING_TRANSCRIPT, State.DOWNLOADING, State.AWAITING_AUDIO}
    ),
    State.AUDIO_FALLBACK: frozenset({State.AWAITING_AUDIO, State.AUDIO_FALLBACK, State.DOWNLOADING}),
    State.ARCHIVED: frozenset({State.AWAITING_AUDIO}),
    State.AUDIO_UNAVAILABLE: frozenset({State.AWAITING_AUDIO}),
    State.RESTRICTED: ACTIVE,
    State.FAILED: ACTIVE,
}
# What an operator's retry (or reconcile) may put back in the queue.
REQUEUE_SOURCES = frozenset(Conversation.REQUEUE_STATES)


class IllegalTransition(ValueError):
    pass


def safe_error(exc: BaseException) -> str:
    """An error description fit for last_error: never a response body, transcript text or PII.

    genesys.errors messages are written to be safe (endpoint, status, code, the fix, contextId); for
    anything else only the exception type is kept, because its text may quote data.
    """
    if isinstance(exc, GenesysError):
        return f"{type(exc).__name__}: {exc}"[:400]
    return type(exc).__name__


def restriction_outcome(error: PermissionDeniedError) -> str:
    """What Genesys denied, for the dashboard, the API and genesys_check: the permission, the division by name."""
    divisions = list(error.division_ids or [])
    names = dict(Division.objects.filter(genesys_id__in=divisions).values_list("genesys_id", "name"))
    code = f" {error.code}" if error.code else ""
    what = ", ".join(error.missing_permissions) or "a permission Genesys did not name"
    text = f"Genesys denied access (HTTP 403{code}): missing {what}"
    if divisions:
        text += " in division " + ", ".join(names.get(d) or d for d in divisions)
    return text + "; grant it to the OAuth client's role, then retry the conversation"


def _write(conversation: Conversation, condition: Q, changes: dict, *, now: datetime) -> bool:
    changes["updated_at"] = now  # QuerySet.update() skips auto_now fields
    target = changes.get("state")
    if target is not None:
        # state_changed_at moves only when the state does: a reschedule in the same state keeps it.
        changes["state_changed_at"] = Case(
            When(state=target, then=F("state_changed_at")), default=Value(now), output_field=DateTimeField()
        )
    updated = Conversation.objects.filter(condition, pk=conversation.pk).update(**changes)
    if updated != 1:
        return False
    if target is not None and conversation.state != target:
        conversation.state_changed_at = now
    for field, value in changes.items():
        if field != "state_changed_at":
            setattr(conversation, field, value)
    return True


def _leased(token: str) -> Q:
    return Q(lease_token=token)


def move(conversation: Conversation, *, token: str, to: str, now: datetime, release: bool = True, **changes) -> bool:
    """Enter state `to` (from one of TRANSITIONS[to]) with `changes`; False when the lease or state no longer fits."""
    if to not in TRANSITIONS:
        raise IllegalTransition(f"no transition into {to!r}")
    if conversation.state not in TRANSITIONS[to]:
        raise IllegalTransition(f"{conversation.genesys_id}: {conversation.state} -> {to} is not allowed")
    changes["state"] = to
    if release:
        changes.update(lease_token="", lease_expires_at=None)
    return _write(conversation, _leased(token) & Q(state__in=TRANSITIONS[to]), changes, now=now)


def keep(conversation: Conversation, *, token: str, now: datetime, **changes) -> bool:
    """Write `changes` and keep the lease (never a state change: those go through move())."""
    if "state" in changes:
        raise IllegalTransition("keep() does not change state; use a named transition")
    return _write(conversation, _leased(token), changes, now=now)


# ---------------------------------------------------------------------------------------- transcript path
def note_direct_probe(conversation: Conversation, *, token: str, now: datetime) -> bool:
    return keep(conversation, token=token, now=now, direct_probes=conversation.direct_probes + 1, direct_probed_at=now)


def start_download(conversation: Conversation, *, token: str, now: datetime) -> bool:
    return move(conversation, token=token, to=State.DOWNLOADING, now=now, release=False)


def transcript_not_yet(conversation: Conversation, *, token: str, now: datetime, note: str = "") -> bool:
    """404 / not listed: count the probe, back off. A valid answer ends any error streak."""
    return move(
        conversation,
        token=token,
        to=State.AWAITING_TRANSCRIPT,
        now=now,
        attempts=conversation.attempts + 1,
        next_attempt_at=next_availability_probe(conversation, now=now),
        last_error=note,
        error_count=0,
    )


def transcript_stored(conversation: Conversation, *, token: str, now: datetime, available_at, note: str = "") -> bool:
    """Final: every part we could find is stored. `note` says what is missing, if anything (a part unparseable)."""
    return move(
        conversation,
        token=token,
        to=State.STORED,
        now=now,
        transcript_available_at=available_at,
        next_attempt_at=None,
        last_error="",
        error_count=0,
        outcome=note[:300],
        needs_manual_review=bool(note),
        manual_review_reason=note[:200],
    )


def awaiting_parts(conversation: Conversation, *, token: str, now: datetime, available_at, note: str) -> bool:
    """Some parts of a multi-leg call are stored; keep polling for the other legs (bounded by the part wait)."""
    return move(
        conversation,
        token=token,
        to=State.AWAITING_TRANSCRIPT,
        now=now,
        transcript_available_at=available_at,
        attempts=conversation.attempts + 1,
        next_attempt_at=next_availability_probe(conversation, now=now),
        last_error=note[:400],
        error_count=0,
    )


def require_audio(conversation: Conversation, *, token: str, now: datetime, reason: str) -> bool:
    """Give up on a transcript; the recording is fetched in the next audio slot (batched)."""
    return move(
        conversation,
        token=token,
        to=State.AWAITING_AUDIO,
        now=now,
        needs_manual_review=True,
        manual_review_reason=reason[:200],
        next_attempt_at=audio_slot(now=now),
        last_error="",
        error_count=0,
        audio_route=Conversation.AudioRoute.UNDECIDED,
        audio_batch=None,
    )


# ---------------------------------------------------------------------------------------- audio path
def audio_routed(
    conversation: Conversation,
    *,
    token: str,
    now: datetime,
    route: str,
    next_at: datetime,
    batch: BatchJob | None = None,
    note: str = "",
) -> bool:
    return move(
        conversation,
        token=token,
        to=State.AWAITING_AUDIO,
        now=now,
        audio_route=route,
        audio_batch=batch,
        next_attempt_at=next_at,
        last_error=note[:400],
    )


def audio_not_yet(conversation: Conversation, *, token: str, now: datetime, next_at: datetime, note: str) -> bool:
    """The recording is transcoding (202), uploading or restoring: come back later (bounded by AUDIO_WAIT_MAX)."""
    return move(
        conversation,
        token=token,
        to=State.AWAITING_AUDIO,
        now=now,
        attempts=conversation.attempts + 1,
        next_attempt_at=next_at,
        last_error=note[:400],
        error_count=0,
    )


def audio_kept(conversation: Conversation, *, token: str, now: datetime, note: str = "") -> bool:
    """The recording is the call's record. next_attempt_at is now its first late-transcript check (late.py)."""
    return move(
        conversation,
        token=token,
        to=State.AUDIO_FALLBACK,
        now=now,
        next_attempt_at=next_late_transcript_check(conversation, now=now),
        last_error="",
        error_count=0,
        outcome=note[:300],
        audio_batch=None,
    )


def late_transcript_not_yet(conversation: Conversation, *, token: str, now: datetime, note: str = "") -> bool:
    """A late-transcript check found nothing (or failed): stay audio-only, check again later (None: never)."""
    return move(
        conversation,
        token=token,
        to=State.AUDIO_FALLBACK,
        now=now,
        next_attempt_at=next_late_transcript_check(conversation, now=now),
        last_error=note[:400],
    )


def late_transcript_unusable(conversation: Conversation, *, token: str, now: datetime, reason: str) -> bool:
    """Genesys has a document after all, but it is empty or unparseable: the audio stays the record, checks end."""
    return move(
        conversation,
        token=token,
        to=State.AUDIO_FALLBACK,
        now=now,
        next_attempt_at=None,
        last_error=f"late transcript: {reason}"[:400],
    )


def recording_archived(conversation: Conversation, *, token: str, now: datetime, outcome: str) -> bool:
    return move(conversation, token=token, to=State.ARCHIVED, now=now, next_attempt_at=None, outcome=outcome[:300])


def audio_unavailable(conversation: Conversation, *, token: str, now: datetime, outcome: str) -> bool:
    return move(
        conversation,
        token=token,
        to=State.AUDIO_UNAVAILABLE,
        now=now,
        next_attempt_at=None,
        outcome=outcome[:300],
        audio_batch=None,
    )


# ---------------------------------------------------------------------------------------- any active state
def restrict(conversation: Conversation, *, token: str, now: datetime, error: PermissionDeniedError) -> bool:
    """Genesys denied this conversation (division-scoped role, segment-only access): its outcome, not the round's."""
    return move(
        conversation,
        token=token,
        to=State.RESTRICTED,
        now=now,
        next_attempt_at=None,
        outcome=restriction_outcome(error)[:300],
        last_error="",
        audio_batch=None,
    )


def record_error(conversation: Conversation, *, token: str, now: datetime, error: BaseException) -> bool:
    """A transient non-404 error: back off in the same state, or give up as failed after PIPELINE_MAX_ATTEMPTS
    in a row."""
    limit = settings.PIPELINE_MAX_ATTEMPTS
    streak = conversation.error_count + 1
    message = f"[error {streak}/{limit}] {safe_error(error)}"
    common = {"attempts": conversation.attempts + 1, "last_error": message, "error_count": streak}
    if streak >= limit:
        return move(
            conversation, token=token, to=State.FAILED, now=now, next_attempt_at=None, outcome=message[:300], **common
        )
    # An audio fetch in progress stays on the audio path; a transcript problem goes back to polling.
    target = State.AWAITING_AUDIO if conversation.state == State.AWAITING_AUDIO else State.AWAITING_TRANSCRIPT
    return move(
        conversation, token=token, to=target, now=now, next_attempt_at=next_poll_at(now=now, attempt=streak), **common
    )


# ---------------------------------------------------------------------------------------- without a lease
def promote_discovered(conversation: Conversation, *, now: datetime, token: str | None = None, **changes) -> bool:
    """A row made by the process endpoint (state discovered) now knows its call: it can be polled properly."""
    condition = Q(state=State.DISCOVERED)
    if token is not None:
        condition &= _leased(token)
    changes["state"] = State.AWAITING_TRANSCRIPT
    return _write(conversation, condition, changes, now=now)


def requeue(conversation: Conversation, *, now: datetime) -> bool:
    """An operator's retry (or reconcile): a failed, restricted, archived or audio-less conversation starts over."""
    lease_free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    changes = {
        "state": State.AWAITING_TRANSCRIPT,
        "attempts": 0,
        "error_count": 0,
        "next_attempt_at": now,
        "last_error": "",
        "outcome": "",
        "needs_manual_review": False,
        "manual_review_reason": "",
        "audio_route": Conversation.AudioRoute.UNDECIDED,
        "audio_batch": None,
        "lease_token": "",
        "lease_expires_at": None,
    }
    return _write(conversation, lease_free & Q(state__in=REQUEUE_SOURCES), changes, now=now)


def make_due(conversation: Conversation, *, now: datetime) -> bool:
    """An active conversation is worked at the next round, whatever its backoff said."""
    return _write(conversation, Q(state__in=ACTIVE), {"next_attempt_at": now}, now=now)
