"""Data-subject requests (GDPR Art. 15 access, Art. 17 erasure, CCPA): find, export and erase one person's calls.

A request names the subject by a phone number or an e-mail address; the vault keeps only its keyed digest and a
hint (reviews/identifiers.py). It finds:
- calls where the subject was the caller: analytics `ani`, noted by discovery as `aniDigest`;
- calls that mention the subject: phone numbers and addresses the leak detector found in transcripts
  (IdentifierMention). Values Genesys masked itself never reached the vault, so they cannot be matched.

Access (Art. 15): a ZIP package of what the vault holds on each call (metadata, the transcript as the vault
serves it, with its masked values still masked; only the mentioning phrases for a call the subject did not make;
the call recordings of their own calls) and the audit trail of who accessed those calls.

Erasure (Art. 17): the subject's own calls lose their transcripts, search index entries and recordings (each
leaves a PurgeTombstone, as a retention purge does); a call that only mentions them loses the sealed originals
of those phrases (their stored text was masked at ingest). Kept, and said why: anything under legal hold, what
the law makes the firm keep (RetentionRule.minimum_days / RETENTION_MINIMUM_DAYS; Art. 17(3)(b)), what the
compliance archive has not received yet (the regulatory record comes first; run the erasure again after the
relay), and the compliance archive's own WORM copies, which the vault cannot delete.

Every step is audited (AuditEvent.Action.SUBJECT_REQUEST); exporting also records an EXPORT per call, so the
access trail of a call shows that its data left in a package.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch

from reviews import blobs, identifiers, retention
from reviews.audit import record_event
from reviews.models import (
    AudioRecording,
    AuditEvent,
    Conversation,
    IdentifierMention,
    PurgeTombstone,
    RedactionFinding,
    SubjectRequest,
    Transcript,
    Utterance,
)
from reviews.redaction import mask_text
from reviews.spreadsheets import neutralise
from reviews.transcript_export import export_json, export_text
from reviews.views.parts import UTTERANCE_ORDER, describe_parts, ordered_parts

MIN_REFERENCE_CHARS = retention.MIN_REASON_CHARS
ACCESS_LOG_COLUMNS = ("at", "username", "action", "object_type", "object_id", "ip", "count", "detail")
AUDIO_EXTENSIONS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/ogg": "ogg"}


class SubjectRequestError(ValueError):
    """Bad input for a data-subject request: the message says what to fix; nothing was written."""


# ---------------------------------------------------------------------------------------------- opening
def open_request(*, phone: str = "", email: str = "", reference: str, by=None, request=None, now) -> SubjectRequest:
    """Validate and record a request (and audit it). Exactly one of phone or email."""
    phone, email = (phone or "").strip(), (email or "").strip()
    if bool(phone) == bool(email):
        raise SubjectRequestError("give either a phone number or an e-mail address (one of them)")
    reference = (reference or "").strip()
    if len(reference) < MIN_REFERENCE_CHARS:
        raise SubjectRequestError(
            f"give a reference of at least {MIN_REFERENCE_CHARS} characters (the ticket or case the request came in)"
        )
    kind, value = (identifiers.PHONE, phone) if phone else (identifiers.EMAIL, email)
    try:
        digest, hint = identifiers.digest_of(kind, value), identifiers.hint_of(kind, value)
    except identifiers.IdentifierError as exc:
        raise SubjectRequestError(str(exc)) from None
    with transaction.atomic():
        subject_request = SubjectRequest.objects.create(
            identifier_kind=kind,
            identifier_digest=digest,
            identifier_hint=hint,
            reference=mask_text(reference)[:200],
            created_by=by,
            created_at=now,
        )
        _audit(subject_request, "open", request=request, user=by, hint=hint, reference=subject_request.reference)
    return subject_request


def _audit(subject_request: SubjectRequest, step: str, *, request=None, user=None, **detail) -> None:
    record_event(
        request=request,
        user=user,
        action=AuditEvent.Action.SUBJECT_REQUEST,
        object_type="subject_request",
        object_id=str(subject_request.pk),
        detail={"step": step, **detail},
    )


# ---------------------------------------------------------------------------------------------- finding
@dataclass
class Match:
    """One call of the data subject and what the vault holds of it now."""

    conversation: Conversation
    as_caller: bool
    mentions: list[IdentifierMention] = field(default_factory=list)
    holds: list[int] = field(default_factory=list)
    kept_by_law_until: datetime | None = None
    tombstones: list[PurgeTombstone] = field(default_factory=list)

    @property
    def transcripts(self) -> list[Transcript]:
        return list(self.conversation.transcripts.all())

    @property
    def recordings(self) -> list[AudioRecording]:
        return list(self.conversation.recordings.all())

    @property
    def match_label(self) -> str:
        if self.as_caller and self.mentions:
            return "caller, and mentioned"
        return "caller" if self.as_caller else "mentioned"

    def as_dict(self) -> dict:
        conversation = self.conversation
        return {
            "conversation": conversation.genesys_id,
            "started_at": conversation.started_at.isoformat(),
            "ended_at": conversation.ended_at.isoformat() if conversation.ended_at else None,
            "queue": str(conversation.queue) if conversation.queue else None,
            "agent": str(conversation.agent) if conversation.agent else None,
            "match": self.match_label,
            "mentions": len(self.mentions),
            "held": {
                "transcripts": [t.transcript_id or t.communication_id for t in self.transcripts],
                "recordings": [r.recording_id for r in self.recordings],
                "utterances": sum(t.utterance_count for t in self.transcripts),
            },
            "legal_holds": self.holds,
            "kept_by_law_until": self.kept_by_law_until.isoformat() if self.kept_by_law_until else None,
            "already_deleted": [
                {"item": t.item, "item_id": t.item_id, "rule": t.rule, "at": t.purged_at.isoformat()}
                for t in self.tombstones
            ],
        }


def find_matches(subject_request: SubjectRequest, *, now: datetime) -> list[Match]:
    """Every call of the subject, oldest first, with what is held, what holds it and what was deleted already."""
    digest = subject_request.identifier_digest
    caller_pks = (
        retention.callers_with_digest(digest) if subject_request.identifier_kind == identifiers.PHONE else set()
    )
    mentions: dict[int, list[IdentifierMention]] = {}
    for mention in IdentifierMention.objects.filter(digest=digest).order_by("pk"):
        mentions.setdefault(mention.conversation_id, []).append(mention)
    conversations = (
        Conversation.objects.filter(pk__in=caller_pks | set(mentions))
        .select_related("queue", "agent", "division")
        .prefetch_related(
            Prefetch("transcripts", queryset=Transcript.objects.order_by("pk")),
            Prefetch("recordings", queryset=AudioRecording.objects.order_by("pk")),
            Prefetch("tombstones", queryset=PurgeTombstone.objects.order_by("purged_at", "pk")),
        )
        .order_by("started_at", "pk")
    )
    holds, rules = retention.HoldSet.active(), retention.rules_by_target()
    matches = []
    for conversation in conversations:
        kept_until = retention.retention_for(conversation, rules).kept_by_law_until(conversation)
        matches.append(
            Match(
                conversation=conversation,
                as_caller=conversation.pk in caller_pks,
                mentions=mentions.get(conversation.pk, []),
                holds=holds.holding(conversation),
                kept_by_law_until=kept_until if kept_until and kept_until > now else None,
                tombstones=list(conversation.tombstones.all()),
            )
        )
    return matches


def lookup(subject_request: SubjectRequest, *, now: datetime, request=None, user=None) -> dict:
    """What the vault holds on the subject (audited as a lookup), as the page and `--json` show it."""
    matches = find_matches(subject_request, now=now)
    _audit(
        subject_request,
        "lookup",
        request=request,
        user=user,
        conversations=[m.conversation.genesys_id for m in matches],
    )
    return report_of(subject_request, matches)


def report_of(subject_request: SubjectRequest, matches: list[Match]) -> dict:
    return {
        "request": subject_request.pk,
        "identifier": {"kind": subject_request.identifier_kind, "hint": subject_request.identifier_hint},
        "reference": subject_request.reference,
        "created_at": subject_request.created_at.isoformat(),
        "conversations": [match.as_dict() for match in matches],
        "exported_at": subject_request.exported_at.isoformat() if subject_request.exported_at else None,
        "erased_at": subject_request.erased_at.isoformat() if subject_request.erased_at else None,
        "erasure": subject_request.erasure or None,
    }


# ---------------------------------------------------------------------------------------------- access package
def write_package(subject_request: SubjectRequest, out: BinaryIO, *, now: datetime, request=None, user=None) -> str:
    """Write the access package (a ZIP) to `out`; returns its sha256. Audited: the request and each call."""
    matches = find_matches(subject_request, now=now)
    digest = hashlib.sha256()
    hashing = _HashingWriter(out, digest)
    with zipfile.ZipFile(hashing, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("README.txt", _readme(subject_request, now))
        package.writestr("request.json", json.dumps(report_of(subject_request, matches), indent=2, ensure_ascii=False))
        for match in matches:
            _write_conversation(package, match)
        package.writestr("access_log.csv", _access_log(match.conversation.genesys_id for match in matches))
    sha256 = digest.hexdigest()
    with transaction.atomic():
        SubjectRequest.objects.filter(pk=subject_request.pk).update(exported_at=now, export_sha256=sha256)
        subject_request.exported_at, subject_request.export_sha256 = now, sha256
        ids = [match.conversation.genesys_id for match in matches]
        _audit(subject_request, "export", request=request, user=user, conversations=ids, sha256=sha256)
        for genesys_id in ids:
            record_event(
                request=request,
                user=user,
                action=AuditEvent.Action.EXPORT,
                object_type="conversation",
                object_id=genesys_id,
                detail={"format": "subject-access-package", "subject_request": subject_request.pk},
            )
    return sha256


class _HashingWriter(io.RawIOBase):
    """A write-only stream that hashes what passes through (ZipFile only appends when the target can't seek)."""

    def __init__(self, out: BinaryIO, digest) -> None:
        self._out, self._digest, self._written = out, digest, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._digest.update(data)
        self._out.write(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        self._out.flush()


def _readme(subject_request: SubjectRequest, now: datetime) -> str:
    return (
        f"Transcript Vault: data-subject access package for request {subject_request.pk}\n"
        f"Subject: {subject_request.get_identifier_kind_display()} {subject_request.identifier_hint}\n"
        f"Reference: {subject_request.reference}\n"
        f"Generated: {now.astimezone(UTC).isoformat()}\n\n"
        "request.json        the calls found and what the vault holds of each\n"
        "conversations/<id>/ metadata.json and transcript.txt of each call; for a call the subject made, also its\n"
        "                    recordings; for a call that only mentions the subject, only the phrases that do\n"
        "access_log.csv      who accessed these calls in the vault (the audit trail)\n\n"
        "Values the vault masked (card numbers, national ids, ...) stay masked in this package.\n"
    )


def _write_conversation(package: zipfile.ZipFile, match: Match) -> None:
    conversation = match.conversation
    folder = f"conversations/{_safe_name(conversation.genesys_id)}"
    parts = describe_parts(conversation, ordered_parts(conversation))
    utterances = conversation.utterances.order_by(*UTTERANCE_ORDER)
    if not match.as_caller:
        utterances = utterances.filter(pk__in=[m.utterance_id for m in match.mentions if m.utterance_id])
    findings = RedactionFinding.objects.filter(transcript__conversation=conversation).order_by("start_ms")
    metadata = json.loads(export_json(conversation, utterances, findings, parts, with_details=False))
    metadata["subject_match"] = match.match_label
    metadata["recordings"] = [
        {"recording_id": r.recording_id, "content_type": r.content_type, "duration_ms": r.duration_ms}
        for r in match.recordings
    ]
    package.writestr(f"{folder}/metadata.json", json.dumps(metadata, indent=2, ensure_ascii=False))
    package.writestr(f"{folder}/transcript.txt", export_text(conversation, utterances, parts))
    if match.as_caller:
        for recording in match.recordings:
            extension = AUDIO_EXTENSIONS.get(recording.content_type.split(";")[0].strip(), "bin")
            name = f"{folder}/audio/{_safe_name(recording.recording_id)}.{extension}"
            with blobs.open_blob(recording.raw_path) as source, package.open(name, "w") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)


def _access_log(genesys_ids: Iterable[str]) -> str:
    ids = list(genesys_ids)
    events = AuditEvent.objects.filter(object_id__in=ids).exclude(action=AuditEvent.Action.SUBJECT_REQUEST)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ACCESS_LOG_COLUMNS)
    for event in events.order_by("at", "pk").iterator(chunk_size=2000):
        writer.writerow(
            neutralise(value)
            for value in (
                event.at.astimezone(UTC).isoformat(),
                event.username,
                event.get_action_display(),
                event.object_type,
                event.object_id,
                event.ip or "",
                event.count,
                json.dumps(event.detail, sort_keys=True, ensure_ascii=False),
            )
        )
    return buffer.getvalue()


def _safe_name(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in value) or "item"


# ---------------------------------------------------------------------------------------------- erasure
def erase(subject_request: SubjectRequest, *, now: datetime, request=None, user=None) -> dict:
    """Erase what may be erased; record what was erased and why anything was kept (SubjectRequest.erasure)."""
    matches = find_matches(subject_request, now=now)
    run_id = f"sr-{subject_request.pk}"
    erased: list[dict] = []
    kept: list[dict] = []
    for match in matches:
        genesys_id = match.conversation.genesys_id
        if match.holds:
            kept.append({"conversation": genesys_id, "why": f"under legal hold {', '.join(map(str, match.holds))}"})
            continue
        if match.kept_by_law_until:
            why = f"kept by law until {match.kept_by_law_until:%Y-%m-%d} (statutory minimum retention)"
            kept.append({"conversation": genesys_id, "why": why})
            continue
        if match.as_caller:
            _erase_own_call(match, run_id=run_id, now=now, subject_request=subject_request, erased=erased, kept=kept)
        else:
            _erase_mentions(match, erased=erased, subject_request=subject_request)
    result = {"erased": erased, "kept": kept, "notes": _erasure_notes()}
    with transaction.atomic():
        SubjectRequest.objects.filter(pk=subject_request.pk).update(erased_at=now, erased_by=user, erasure=result)
        subject_request.erased_at, subject_request.erased_by, subject_request.erasure = now, user, result
        _audit(
            subject_request,
            "erase",
            request=request,
            user=user,
            erased=len(erased),
            kept=[{"conversation": k["conversation"], "why": k["why"]} for k in kept],
        )
    return result


def _erase_own_call(
    match: Match, *, run_id: str, now: datetime, subject_request: SubjectRequest, erased: list, kept: list
) -> None:
    conversation = match.conversation
    rule = f"erasure: subject request {subject_request.pk}"
    items = []
    for item, rows in (
        (PurgeTombstone.Item.TRANSCRIPT, match.transcripts),
        (PurgeTombstone.Item.AUDIO, match.recordings),
    ):
        for row in rows:
            if retention.undelivered(row):
                why = "not yet in the compliance archive (the regulatory record); erase again after the relay"
                kept.append({"conversation": conversation.genesys_id, "item": retention.item_id_of(row), "why": why})
                continue
            items.append(retention.DueItem(conversation, item, row, now, rule))
    if not items:
        return
    deletion = retention.delete_items(
        items,
        run_id=run_id,
        now=now,
        action=AuditEvent.Action.SUBJECT_REQUEST,
        detail={"step": "erase-call", "subject_request": subject_request.pk},
    )
    if deletion.held:
        kept.append({"conversation": conversation.genesys_id, "why": "a legal hold was placed during the erasure"})
        return
    erased += [
        {"conversation": conversation.genesys_id, "item": item.item, "item_id": item.item_id, "sha256": item.row.sha256}
        for item in items
    ]


def _erase_mentions(match: Match, *, erased: list, subject_request: SubjectRequest) -> None:
    """A call that only mentions the subject: its stored text is masked already; drop the sealed originals."""
    utterance_ids = [m.utterance_id for m in match.mentions if m.utterance_id]
    with transaction.atomic():
        shredded = Utterance.objects.filter(pk__in=utterance_ids).exclude(sealed_original="").update(sealed_original="")
        IdentifierMention.objects.filter(pk__in=[m.pk for m in match.mentions]).delete()
        _audit(
            subject_request,
            "erase-mentions",
            conversation=match.conversation.genesys_id,
            phrases=len(utterance_ids),
            originals_destroyed=shredded,
        )
    erased.append({"conversation": match.conversation.genesys_id, "item": "mentions", "phrases": len(utterance_ids)})


def _erasure_notes() -> list[str]:
    notes = [
        "The compliance archive keeps its own copies under WORM retention "
        f"({settings.COMPLIANCE_S3_RETENTION_DAYS} days where the S3 sink is used); the vault cannot delete them. "
        "Ask the archive's owner to apply the request there when its retention allows.",
        "Each call's record (ids, times, queue, agent, the caller's keyed digest) and a tombstone per erased item "
        "stay in the vault as the record of this erasure; they hold no transcript text or audio.",
    ]
    return notes
