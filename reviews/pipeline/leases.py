"""Claiming due conversations with one conditional UPDATE, so two workers never work the same row.

A claim writes a fresh random token and an expiry on rows whose lease is free or expired; only the rows
that now carry our token are ours. A worker killed mid-task simply lets its lease expire and the next
round reclaims the row.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from reviews.models import Conversation

ACTIVE_STATES = Conversation.ACTIVE_STATES


def new_token() -> str:
    return secrets.token_hex(16)


def lease_free(now: datetime) -> Q:
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)


def due_filter(now: datetime) -> Q:
    return Q(state__in=ACTIVE_STATES, next_attempt_at__lte=now) & lease_free(now)


def claim(*, now: datetime, limit: int, extra: Q | None = None, due: bool = True) -> tuple[str, list[Conversation]]:
    """Lease up to `limit` due conversations (oldest due first); returns the token and the claimed rows.

    `due=False` claims active rows matching `extra` whatever their next attempt time (a batch job's members
    when its results arrive)."""
    condition = (due_filter(now) if due else Q(state__in=ACTIVE_STATES) & lease_free(now)) & (extra or Q())
    return lease_where(condition, now=now, limit=limit)


def claim_late_transcript_checks(*, now: datetime, limit: int) -> tuple[str, list[Conversation]]:
    """Lease up to `limit` audio-fallback conversations whose next late-transcript check is due
    (reviews/pipeline/late.py); an audio-only call is not an active state, so claim() never takes it."""
    condition = Q(state=Conversation.State.AUDIO_FALLBACK, next_attempt_at__lte=now) & lease_free(now)
    return lease_where(condition, now=now, limit=limit)


def lease_where(condition: Q, *, now: datetime, limit: int) -> tuple[str, list[Conversation]]:
    token = new_token()
    candidate_ids = list(
        Conversation.objects.filter(condition).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]
    )
    if not candidate_ids:
        return token, []
    expires = now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
    # Re-checking the condition in the UPDATE makes the claim atomic: a row another worker leased
    # between our SELECT and this UPDATE no longer matches and is skipped.
    Conversation.objects.filter(condition, pk__in=candidate_ids).update(lease_token=token, lease_expires_at=expires)
    # The queue comes along: whether it transcribes at all is asked of every claimed conversation.
    claimed = list(
        Conversation.objects.filter(lease_token=token).select_related("queue").order_by("next_attempt_at", "pk")
    )
    return token, claimed


def claim_one(*, genesys_id: str, now: datetime) -> tuple[str, Conversation | None]:
    """Lease one active conversation now, due or not (used by the process endpoint's task)."""
    token = new_token()
    expires = now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
    updated = Conversation.objects.filter(lease_free(now), genesys_id=genesys_id, state__in=ACTIVE_STATES).update(
        lease_token=token, lease_expires_at=expires
    )
    if not updated:
        return token, None
    return token, Conversation.objects.get(genesys_id=genesys_id)


def release_all(conversations: list[Conversation], *, token: str) -> None:
    """Give back leases we hold without other changes (e.g. when a round is aborted)."""
    Conversation.objects.filter(pk__in=[c.pk for c in conversations], lease_token=token).update(
        lease_token="", lease_expires_at=None
    )


def defer_all(conversations: list[Conversation], *, token: str, until: datetime) -> None:
    """Give back leases we still hold and make those rows due at `until` (the rate limit's reset): a round cut
    short by a 429 counts against no conversation."""
    Conversation.objects.filter(pk__in=[c.pk for c in conversations], lease_token=token).update(
        lease_token="", lease_expires_at=None, next_attempt_at=until
    )
