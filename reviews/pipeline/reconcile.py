"""Reconciliation: compare what Genesys lists for a past window with what we hold, and re-queue the gaps.

detected  = conversations Genesys lists that we miss, plus our rows in that window that ended `failed`,
            `restricted`, `archived` or `audio_unavailable` (a role or a recording may have changed since)
recovered = how many of those were re-queued (created, or reset to awaiting_transcript)
failed    = how many could not be re-queued (their error is logged; the run's error field says why)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from genesys.clock import Clock
from reviews.models import Conversation, ReconciliationRun
from reviews.pipeline.discovery import Lookups, upsert_conversation
from reviews.pipeline.names import NameResolver
from reviews.pipeline.requeue import retry_conversation
from reviews.pipeline.schedule import now_of
from reviews.pipeline.transitions import REQUEUE_SOURCES, safe_error

logger = logging.getLogger(__name__)

# The newest hour is still being discovered and polled normally; reconciling it would only add noise.
SETTLING_TIME = timedelta(hours=1)
RECHECK_OUTCOMES_AFTER = timedelta(hours=24)


def reconcile(*, client, clock: Clock, since: datetime, until: datetime) -> ReconciliationRun:
    now = now_of(clock)
    run = ReconciliationRun.objects.create(since=since, until=until, started_at=now)
    detected = recovered = failed = 0
    errors: list[str] = []
    try:
        listed: set[str] = set()
        names = NameResolver(client)
        lookups = Lookups(names)
        for conversation in client.query_conversation_details(start=since, end=until):
            genesys_id = conversation.get("conversationId")
            if not genesys_id or not conversation.get("conversationEnd"):
                continue
            listed.add(genesys_id)
            if Conversation.objects.filter(genesys_id=genesys_id).exists():
                continue
            detected += 1
            try:
                upsert_conversation(conversation, now=now, lookups=lookups)
                recovered += 1
            except Exception as exc:  # one malformed conversation must not stop the run
                failed += 1
                errors.append(f"{genesys_id}: {type(exc).__name__}")
                logger.exception("reconcile could not create conversation=%s", genesys_id)
        names.flush()  # queues/agents first met by a recovered conversation
        window = Conversation.objects.filter(started_at__gte=since, started_at__lt=until)
        # Failed rows are retried at once; the other outcomes once a day, in case a role or recording changed.
        stuck = window.filter(state=Conversation.State.FAILED) | window.filter(
            state__in=REQUEUE_SOURCES, state_changed_at__lt=now - RECHECK_OUTCOMES_AFTER
        )
        for conversation in stuck:
            detected += 1
            if retry_conversation(conversation, clock=clock):
                recovered += 1
            else:
                failed += 1
    except Exception as exc:
        errors.append(safe_error(exc))
        raise
    finally:
        ReconciliationRun.objects.filter(pk=run.pk).update(
            finished_at=now_of(clock),
            detected=detected,
            recovered=recovered,
            failed=failed,
            error="; ".join(errors)[:2000],
        )
        run.refresh_from_db()
    logger.info("reconcile %s..%s detected=%d recovered=%d failed=%d", since, until, detected, recovered, failed)
    return run


def scheduled_window(*, now: datetime) -> tuple[datetime, datetime]:
    """The last RECONCILE_WINDOW_HOURS, leaving out the most recent hour."""
    until = now - SETTLING_TIME
    return until - timedelta(hours=settings.RECONCILE_WINDOW_HOURS), until
