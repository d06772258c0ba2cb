"""Retention and legal hold (issue 12 §3): what the vault may delete, when, and what stops it.

One rule per question:
- retention_for(): which RetentionRule (or the settings default) a conversation falls under;
- HoldSet.covers(): whether any active legal hold covers a conversation (held items are never purged);
- plan_purge() / run_purge(): what is due, and deleting it (rows, search index, blobs) with a tombstone.

Days count from the call's start. The search index follows the rows: SQLite's FTS5 table is kept by triggers on
reviews_utterance and PostgreSQL's tsvector is a generated column of the row, so deleting the utterances removes
them from both. The compliance archive is never touched here: it keeps its own retention (WORM / S3 Object Lock);
holds only add an S3 legal hold on archived objects (reviews/compliance/sinks/s3.py set_legal_hold).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from reviews import blobs
from reviews.audit import record_event
from reviews.identifiers import IdentifierError, normalise_phone, phone_digest
from reviews.models import (
    Agent,
    AudioRecording,
    AuditEvent,
    Conversation,
    LegalHold,
    OutboxMessage,
    PurgeTombstone,
    RetentionRule,
    Transcript,
)

logger = logging.getLogger(__name__)

MIN_REASON_CHARS = 10
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class HoldError(ValueError):
    """Bad input for a legal hold: the message says what to fix; nothing was written."""


# ---------------------------------------------------------------------------------------------- phone numbers
def conversation_phone_digests(conversation: Conversation) -> set[str]:
    """The callers' number digests that discovery noted in the participant summary (`aniDigest`)."""
    return {p["aniDigest"] for p in conversation.participants or [] if isinstance(p, dict) and p.get("aniDigest")}


# ---------------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class Retention:
    transcript_days: int | None  # None: keep forever
    audio_days: int | None
    label: str  # stored in the tombstone: which rule decided
    minimum_days: int | None = None  # kept at least this long by law, whatever an erasure request asks

    def kept_by_law_until(self, conversation: Conversation) -> datetime | None:
        """Until when the law makes the vault keep this call (None: no minimum)."""
        return conversation.started_at + timedelta(days=self.minimum_days) if self.minimum_days else None


def default_retention() -> Retention:
    transcript, audio = settings.RETENTION_TRANSCRIPT_DAYS or None, settings.RETENTION_AUDIO_DAYS or None
    return Retention(
        transcript,
        audio,
        f"default (RETENTION_TRANSCRIPT_DAYS={settings.RETENTION_TRANSCRIPT_DAYS}, "
        f"RETENTION_AUDIO_DAYS={settings.RETENTION_AUDIO_DAYS})",
        settings.RETENTION_MINIMUM_DAYS or None,
    )


def rules_by_target() -> dict[tuple[int | None, int | None], RetentionRule]:
    return {
        (rule.division_id, rule.queue_id): rule for rule in RetentionRule.objects.select_related("division", "queue")
    }


def retention_for(conversation: Conversation, rules: dict | None = None) -> Retention:
    """Most specific first: queue and division, queue alone, division alone, then the default.

    A rule with empty days keeps forever, whatever the default says."""
    rules = rules_by_target() if rules is None else rules
    division, queue = conversation.division_id, conversation.queue_id
    for key in ((division, queue), (None, queue), (division, None)):
        rule = rules.get(key) if key != (None, None) else None
        if rule is not None:
            minimum = rule.minimum_days if rule.minimum_days is not None else settings.RETENTION_MINIMUM_DAYS
            return Retention(rule.transcript_days or None, rule.audio_days or None, rule.label, minimum or None)
    return default_retention()


def retention_periods(retention: Retention) -> list[int]:
    return [days for days in (retention.transcript_days, retention.audio_days) if days]


# ---------------------------------------------------------------------------------------------- holds
@dataclass(frozen=True)
class HoldSet:
    """Every active hold, as plain values a conversation is tested against (one query, then no more)."""

    by_conversation: dict[str, list[int]] = field(default_factory=dict)
    by_agent: dict[int, list[int]] = field(default_factory=dict)
    by_phone: dict[str, list[int]] = field(default_factory=dict)
    ranges: tuple[tuple[datetime, datetime, int], ...] = ()

    @classmethod
    def active(cls) -> HoldSet:
        by_conversation: dict[str, list[int]] = {}
        by_agent: dict[int, list[int]] = {}
        by_phone: dict[str, list[int]] = {}
        ranges = []
        for hold in LegalHold.objects.filter(released_at__isnull=True):
            if hold.kind == LegalHold.Kind.CONVERSATION:
                by_conversation.setdefault(hold.conversation_genesys_id, []).append(hold.pk)
            elif hold.kind == LegalHold.Kind.AGENT:
                by_agent.setdefault(hold.agent_id, []).append(hold.pk)
            elif hold.kind == LegalHold.Kind.PHONE:
                by_phone.setdefault(hold.phone_digest, []).append(hold.pk)
            else:
                ranges.append((hold.starts_at, hold.ends_at, hold.pk))
        return cls(by_conversation, by_agent, by_phone, tuple(ranges))

    def holding(self, conversation: Conversation) -> list[int]:
        """The ids of the active holds covering `conversation` (empty: not held)."""
        found = list(self.by_conversation.get(conversation.genesys_id, []))
        found += self.by_agent.get(conversation.agent_id, []) if conversation.agent_id else []
        for digest in conversation_phone_digests(conversation):
            found += self.by_phone.get(digest, [])
        found += [pk for start, end, pk in self.ranges if start <= conversation.started_at < end]
        return sorted(set(found))

    def covers(self, conversation: Conversation) -> bool:
        return bool(self.holding(conversation))


def conversations_covered_by(hold: LegalHold):
    """The conversations one hold covers (a queryset; a phone hold narrowed in SQL by its digest, then checked)."""
    if hold.kind == LegalHold.Kind.CONVERSATION:
        return Conversation.objects.filter(genesys_id=hold.conversation_genesys_id)
    if hold.kind == LegalHold.Kind.AGENT:
        return Conversation.objects.filter(agent_id=hold.agent_id)
    if hold.kind == LegalHold.Kind.DATE_RANGE:
        return Conversation.objects.filter(started_at__gte=hold.starts_at, started_at__lt=hold.ends_at)
    return Conversation.objects.filter(pk__in=callers_with_digest(hold.phone_digest))


def callers_with_digest(digest: str) -> set[int]:
    """The pks of the conversations whose caller's number has this digest (`aniDigest`)."""
    # The digest is 64 hex characters: a text match on the JSON narrows it down, the parsed summary decides.
    candidates = Conversation.objects.filter(participants__icontains=digest).only("pk", "participants")
    return {c.pk for c in candidates if digest in conversation_phone_digests(c)}


def place_hold(
    *,
    kind: str,
    reason: str,
    owner,
    created_by,
    request=None,
    conversation_id: str = "",
    agent_id: str = "",
    phone: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    now: datetime,
) -> LegalHold:
    """Validate, create and audit a hold, then lock the archived objects it covers. HoldError on bad input."""
    from reviews.redaction import mask_text

    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_CHARS:
        raise HoldError(f"give a reason of at least {MIN_REASON_CHARS} characters (the matter, case or request)")
    if owner is None or not owner.is_active:
        raise HoldError("a hold needs an active owner")
    hold = LegalHold(kind=kind, reason=mask_text(reason)[:500], owner=owner, created_at=now)
    if kind == LegalHold.Kind.CONVERSATION:
        conversation_id = (conversation_id or "").strip()
        if not _SAFE_ID.fullmatch(conversation_id):
            raise HoldError("give the Genesys conversation id (letters, digits, - . _ :, at most 64 characters)")
        hold.conversation_genesys_id = conversation_id
    elif kind == LegalHold.Kind.AGENT:
        agent = Agent.objects.filter(genesys_id=(agent_id or "").strip()).first()
        if agent is None:
            raise HoldError("no such agent: give the Genesys user id of an agent the vault knows")
        hold.agent = agent
    elif kind == LegalHold.Kind.PHONE:
        try:
            digits = normalise_phone(phone)
        except IdentifierError as exc:
            raise HoldError(str(exc)) from None
        hold.phone_digest, hold.phone_hint = phone_digest(digits), f"…{digits[-4:]}"
    elif kind == LegalHold.Kind.DATE_RANGE:
        if starts_at is None or ends_at is None:
            raise HoldError("a date-range hold needs a start and an end")
        if starts_at >= ends_at:
            raise HoldError("the end of a date-range hold must be after its start")
        hold.starts_at, hold.ends_at = starts_at, ends_at
    else:
        raise HoldError(f"unknown hold kind {kind!r}; use one of {', '.join(LegalHold.Kind.values)}")
    with transaction.atomic():
        hold.save()
        record_event(
            request=request,
            user=created_by,
            action=AuditEvent.Action.LEGAL_HOLD,
            object_type="legal_hold",
            object_id=str(hold.pk),
            detail={"kind": hold.kind, "target": hold.target_label, "reason": hold.reason, "owner": owner.username},
        )
    sync_archive_legal_holds(conversations_covered_by(hold))
    return hold


def release_hold(*, hold: LegalHold, reason: str, by, request=None, now: datetime) -> LegalHold:
    """Release and audit; archived objects no other active hold covers lose their S3 legal hold."""
    from reviews.redaction import mask_text

    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_CHARS:
        raise HoldError(f"give a reason of at least {MIN_REASON_CHARS} characters for releasing the hold")
    with transaction.atomic():
        locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
        try:
            locked.release(by=by, reason=mask_text(reason)[:500], now=now)
        except ValueError as exc:
            raise HoldError(str(exc)) from None
        record_event(
            request=request,
            user=by,
            action=AuditEvent.Action.LEGAL_HOLD_RELEASE,
            object_type="legal_hold",
            object_id=str(locked.pk),
            detail={"kind": locked.kind, "target": locked.target_label, "reason": locked.release_reason},
        )
    sync_archive_legal_holds(conversations_covered_by(locked))
    return locked


def sync_archive_legal_holds(conversations=None) -> dict:
    """S3 legal hold ON for the archived objects of held conversations, OFF for the others (of `conversations`,
    or of every conversation with an S3 delivery). Never fails the caller: the daily purge task repeats it for
    conversations_to_resync()."""
    if "s3" not in settings.COMPLIANCE_SINKS or not settings.COMPLIANCE_S3_BUCKET:
        return {"skipped": "no S3 sink"}
    from reviews.compliance.sinks import s3

    delivered = OutboxMessage.objects.filter(sink="s3", state=OutboxMessage.State.DELIVERED)
    if conversations is None:
        conversations = Conversation.objects.filter(pk__in=delivered.values("conversation_id"))
    else:
        conversations = conversations.filter(pk__in=delivered.values("conversation_id"))
    holds = HoldSet.active()
    summary = {"locked": 0, "unlocked": 0, "errors": []}
    for conversation in conversations:
        days = {conversation.started_at}
        days |= {
            datetime.fromisoformat(start.replace("Z", "+00:00"))
            for start in delivered.filter(conversation=conversation).values_list(
                "payload__conversationStart", flat=True
            )
            if isinstance(start, str)
        }
        on = holds.covers(conversation)
        try:
            changed = s3.set_legal_hold(conversation_id=conversation.genesys_id, days=days, on=on)
        except s3.LegalHoldError as exc:
            logger.warning("S3 legal hold of %s not set: %s", conversation.genesys_id, exc)
            summary["errors"].append(f"{conversation.genesys_id}: {exc}")
            continue
        summary["locked" if on else "unlocked"] += changed
    return summary


def conversations_to_resync(*, now: datetime, released_within: timedelta = timedelta(days=7)):
    """What the daily task re-applies the S3 legal hold to: conversations under an active hold, and those of holds
    released lately (in case the OFF failed then). Bounded by the holds, not by the size of the archive."""
    holds = LegalHold.objects.filter(Q(released_at__isnull=True) | Q(released_at__gte=now - released_within))
    pks: set[int] = set()
    for hold in holds:
        pks |= set(conversations_covered_by(hold).values_list("pk", flat=True))
    return Conversation.objects.filter(pk__in=pks)


# ---------------------------------------------------------------------------------------------- purge
@dataclass(frozen=True)
class DueItem:
    conversation: Conversation
    item: str  # PurgeTombstone.Item
    row: Transcript | AudioRecording
    due_at: datetime
    rule: str

    @property
    def item_id(self) -> str:
        return item_id_of(self.row)

    def as_dict(self) -> dict:
        return {
            "conversation": self.conversation.genesys_id,
            "item": self.item,
            "item_id": self.item_id,
            "sha256": self.row.sha256,
            "due_at": self.due_at.isoformat(),
            "rule": self.rule,
        }


def item_id_of(row: Transcript | AudioRecording) -> str:
    """Genesys' id of the item (kept in the tombstone after the row is gone)."""
    if isinstance(row, Transcript):
        return row.transcript_id or f"{row.communication_id}/{row.recording_id or '-'}"
    return row.recording_id


@dataclass
class PurgePlan:
    due: list[DueItem] = field(default_factory=list)
    held: dict[str, list[int]] = field(default_factory=dict)  # conversation -> hold ids (items kept)
    awaiting_archive: list[str] = field(default_factory=list)  # item ids not yet delivered to every sink


def undelivered(row) -> bool:
    """An item whose compliance delivery is still pending or dead: purging it would lose it from the archive too."""
    kwargs = {"transcript": row} if isinstance(row, Transcript) else {"recording": row}
    return OutboxMessage.objects.filter(**kwargs).exclude(state=OutboxMessage.State.DELIVERED).exists()


def plan_purge(*, now: datetime, limit: int | None = None) -> PurgePlan:
    """What is due at `now`, without changing anything; held and not-yet-archived items are listed, not due."""
    limit = limit or settings.RETENTION_PURGE_MAX_ITEMS
    rules = rules_by_target()
    periods = retention_periods(default_retention()) + [
        days for rule in rules.values() for days in (rule.transcript_days, rule.audio_days) if days
    ]
    if not periods:
        return PurgePlan()
    oldest_due_start = now - timedelta(days=min(periods))
    holds = HoldSet.active()
    plan = PurgePlan()
    candidates = (
        Conversation.objects.filter(started_at__lte=oldest_due_start)
        .filter(
            Exists(Transcript.objects.filter(conversation=OuterRef("pk")))
            | Exists(AudioRecording.objects.filter(conversation=OuterRef("pk"), kept=True))
        )
        .order_by("started_at", "pk")
    )
    for conversation in candidates.iterator(chunk_size=500):
        retention = retention_for(conversation, rules)
        items = []
        for days, kind, rows in (
            (retention.transcript_days, PurgeTombstone.Item.TRANSCRIPT, conversation.transcripts.all),
            # Only kept audio is the vault's record; a cached copy expires on its own (reviews/pipeline/audio_cache.py).
            (retention.audio_days, PurgeTombstone.Item.AUDIO, conversation.recordings.filter(kept=True).all),
        ):
            if days and conversation.started_at + timedelta(days=days) <= now:
                items += [(kind, row, conversation.started_at + timedelta(days=days)) for row in rows()]
        if not items:
            continue
        held_by = holds.holding(conversation)
        if held_by:
            plan.held[conversation.genesys_id] = held_by
            continue
        for kind, row, due_at in items:
            if undelivered(row):
                plan.awaiting_archive.append(item_id_of(row))
                continue
            plan.due.append(DueItem(conversation, kind, row, due_at, retention.label))
            if len(plan.due) >= limit:
                return plan
    return plan


@dataclass
class PurgeReport:
    run_id: str
    dry_run: bool
    now: datetime
    plan: PurgePlan
    purged: list[DueItem] = field(default_factory=list)
    blobs_deleted: int = 0
    utterances_deleted: int = 0

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "now": self.now.isoformat(),
            "due": [item.as_dict() for item in self.plan.due],
            "purged": [item.as_dict() for item in self.purged],
            "held": self.plan.held,
            "awaiting_archive": self.plan.awaiting_archive,
            "blobs_deleted": self.blobs_deleted,
            "utterances_deleted": self.utterances_deleted,
        }

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        count = len(self.plan.due) if self.dry_run else len(self.purged)
        return (
            f"retention: {verb} {count} items; {len(self.plan.held)} held conversations kept; "
            f"{len(self.plan.awaiting_archive)} items not yet archived kept"
        )


def run_purge(*, now: datetime, dry_run: bool = False, limit: int | None = None, user=None) -> PurgeReport:
    """Delete what is due (one transaction per conversation, holds re-checked inside it), tombstone and audit."""
    report = PurgeReport(run_id=secrets.token_hex(8), dry_run=dry_run, now=now, plan=plan_purge(now=now, limit=limit))
    if dry_run:
        return report
    by_conversation: dict[int, list[DueItem]] = {}
    for item in report.plan.due:
        by_conversation.setdefault(item.conversation.pk, []).append(item)
    for items in by_conversation.values():
        report.purged += _purge_conversation(items, report=report)
    if report.purged:
        record_event(
            request=None,
            user=user,
            action=AuditEvent.Action.RETENTION_PURGE,
            object_type="retention_run",
            object_id=report.run_id,
            detail={
                "purged": len(report.purged),
                "conversations": len({item.conversation.pk for item in report.purged}),
                "held": len(report.plan.held),
                "awaiting_archive": len(report.plan.awaiting_archive),
            },
        )
    return report


def _purge_conversation(items: list[DueItem], *, report: PurgeReport) -> list[DueItem]:
    deletion = delete_items(
        items,
        run_id=report.run_id,
        now=report.now,
        action=AuditEvent.Action.RETENTION_PURGE,
        detail={"run_id": report.run_id, "rule": items[0].rule},
    )
    if deletion.held:
        report.plan.held.setdefault(items[0].conversation.genesys_id, [])
        return []
    report.blobs_deleted += deletion.blobs_deleted
    report.utterances_deleted += deletion.utterances_deleted
    return items


@dataclass
class Deletion:
    held: bool = False  # a hold placed meanwhile stopped it: nothing was deleted
    blobs_deleted: int = 0
    utterances_deleted: int = 0


def delete_items(items: list[DueItem], *, run_id: str, now: datetime, action: str, detail: dict) -> Deletion:
    """Delete one conversation's items from the vault (rows, search index, blobs), each with its tombstone, in one
    transaction, audited as `action`; re-checks the holds inside it. Retention purges and erasures both end here.
    """
    conversation = items[0].conversation
    deletion = Deletion()
    paths = []
    with transaction.atomic():
        # A hold placed since the plan was made still wins: re-read the holds inside the transaction.
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if HoldSet.active().covers(conversation):
            deletion.held = True
            return deletion
        for item in items:
            row = item.row
            utterances = row.utterance_count if isinstance(row, Transcript) else 0
            PurgeTombstone.objects.create(
                conversation=conversation,
                item=item.item,
                item_id=item.item_id,
                communication_id=getattr(row, "communication_id", ""),
                sha256=row.sha256,
                size_bytes=row.size_bytes,
                utterance_count=utterances,
                conversation_started_at=conversation.started_at,
                stored_at=row.stored_at,
                due_at=item.due_at,
                rule=item.rule[:200],
                purged_at=now,
                run_id=run_id[:32],
            )
            if isinstance(row, Transcript):
                # Explicit, so the count is real; the FTS5 triggers / generated tsvector drop the index entries.
                deletion.utterances_deleted += row.utterances.all().delete()[1].get("reviews.Utterance", 0)
            paths.append(row.raw_path)
            row.delete()  # cascades: findings, mentions, outbox rows (the archive itself keeps its copy)
        record_event(
            request=None,
            action=action,
            object_type="conversation",
            object_id=conversation.genesys_id,
            detail=detail | {"items": [{"item": i.item, "item_id": i.item_id, "sha256": i.row.sha256} for i in items]},
        )
    # After the commit: a rolled-back deletion must never have lost its files.
    deletion.blobs_deleted = sum(remove_unreferenced_blob(raw_path) for raw_path in paths)
    return deletion


def remove_unreferenced_blob(raw_path: str) -> int:
    """Delete a blob no transcript or recording points at any more (1), else keep it (0): blobs are
    content-addressed, so two rows may share one."""
    if Transcript.objects.filter(raw_path=raw_path).exists():
        return 0
    if AudioRecording.objects.filter(raw_path=raw_path).exists():
        return 0
    path = blobs.absolute_path(raw_path)
    if not path.is_file():
        return 0
    path.unlink()
    return 1
