"""The conversation review page, its review workflow and transcript exports."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from reviews import access, assignments, audit
from reviews.models import AuditEvent, Conversation, OutboxMessage, RedactionFinding, ReviewNote, Transcript
from reviews.pipeline import audio_cache
from reviews.pipeline.schedule import now_of
from reviews.search.filters import asr_description
from reviews.transcript_export import export_json, export_text
from reviews.views import audio, escalations
from reviews.views.parts import (
    UTTERANCE_ORDER,
    combined_metrics,
    describe_parts,
    first_utterance_of_parts,
    ordered_parts,
    outcome_to_show,
    speech_to_text_status,
)

Status = Conversation.ReviewStatus

# new -> in review -> reviewed / escalated; a finished review can be reopened.
REVIEW_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.IN_REVIEW,),
    Status.IN_REVIEW: (Status.REVIEWED, Status.ESCALATED),
    Status.REVIEWED: (Status.IN_REVIEW,),
    Status.ESCALATED: (Status.IN_REVIEW, Status.REVIEWED),
}
FINISHED_STATUSES = (Status.REVIEWED, Status.ESCALATED)
EXPORT_FORMATS = ("txt", "json")
# The review page renders one window ("chunk") of a call's turns; the rest load on demand.
REVIEW_PAGE_UTTERANCES = 500
LOAD_DIRECTIONS = ("earlier", "later")
CONFLICT_MESSAGE = "Someone else changed this review meanwhile; the panel now shows their status."
# The one-step "Mark reviewed" button (no status select, no note): from any status but reviewed itself.
MARK_REVIEWED = "reviewed"
MOMENT_FORMAT = re.compile(r"(?:(?:(\d{1,2}):)?(\d{1,3}):)?(\d{1,5})")


def parse_moment(value: str) -> int | None:
    """A moment in the call as typed or filled in ("1:23", "1:02:03", "83" seconds) -> ms; None if blank.

    Raises ValueError for anything else (the form says so)."""
    value = value.strip()
    if not value:
        return None
    match = MOMENT_FORMAT.fullmatch(value)
    if match is None:
        raise ValueError(value)
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    if (match.group(2) is not None and seconds > 59) or (match.group(1) is not None and minutes > 59):
        raise ValueError(value)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000


class ReviewForm(forms.Form):
    status = forms.ChoiceField(label="Status")
    note = forms.CharField(required=False, max_length=5000, label="Note", widget=forms.Textarea(attrs={"rows": 3}))
    # Pins the note to a moment of the call (m:ss from its start); the page fills it from the player or a turn.
    at = forms.CharField(
        required=False,
        max_length=12,
        label="At moment",
        widget=forms.TextInput(
            attrs={"placeholder": "m:ss", "autocomplete": "off", "size": 8, "pattern": r"[0-9]+(:[0-9]{1,2}){0,2}"}
        ),
    )

    def __init__(self, *args, conversation: Conversation, **kwargs):
        super().__init__(*args, **kwargs)
        self.conversation = conversation
        current = conversation.review_status
        allowed = (current, *REVIEW_TRANSITIONS.get(current, ()))
        labels = dict(Status.choices)
        self.fields["status"].choices = [
            (value, f"{labels[value]} (current)" if value == current else labels[value]) for value in allowed
        ]
        self.fields["status"].initial = current

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        note = cleaned.get("note", "").strip()
        if status == self.conversation.review_status and not note:
            raise forms.ValidationError("Change the status or write a note.")
        if status == Status.ESCALATED and status != self.conversation.review_status and not note:
            # Compliance acts on the reason: an escalation without one arrives as an empty case.
            raise forms.ValidationError("Say why you escalate: the note is what compliance reads first.")
        return cleaned

    def clean_at(self) -> int | None:
        try:
            at_ms = parse_moment(self.cleaned_data.get("at", ""))
        except ValueError:
            raise forms.ValidationError(
                "Give the moment as minutes:seconds from the call's start, e.g. 1:23."
            ) from None
        if at_ms is not None and not self.data.get("note", "").strip():
            raise forms.ValidationError("Write the note to pin at this moment.")
        return at_ms


def _is_partial_request(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _start_offset(request: HttpRequest) -> int | None:
    try:
        return max(int(request.GET.get("t", "")), 0)
    except ValueError:
        return None


def _requested_chunk(request: HttpRequest) -> int | None:
    """?chunk=N as a number; None when absent. Junk or a negative number is a 404, not a guess."""
    raw = request.GET.get("chunk")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise Http404("No such part of this transcript.")
    return int(raw)


@dataclass(frozen=True)
class TurnWindow:
    """Which slice of a call's turns one response shows: chunk n holds turns [n*size, (n+1)*size)."""

    chunk: int
    size: int
    total: int
    utterances: list

    @property
    def offset(self) -> int:
        return self.chunk * self.size

    @property
    def first_number(self) -> int:  # 1-based, for "Turns 501–1,000 of 10,000"
        return self.offset + 1 if self.utterances else 0

    @property
    def last_number(self) -> int:
        return self.offset + len(self.utterances)

    @property
    def earlier_first(self) -> int:  # 1-based first turn of the chunk before this one
        return max(self.offset - self.size, 0) + 1

    @property
    def later_first(self) -> int:
        return self.offset + self.size + 1

    @property
    def later_last(self) -> int:
        return min(self.offset + 2 * self.size, self.total)

    @property
    def earlier_chunk(self) -> int | None:
        return self.chunk - 1 if self.chunk > 0 else None

    @property
    def later_chunk(self) -> int | None:
        return self.chunk + 1 if self.offset + self.size < self.total else None

    @property
    def is_partial(self) -> bool:
        return self.total > len(self.utterances)

    @cached_property
    def utterance_ids(self) -> frozenset[int]:
        return frozenset(u.pk for u in self.utterances)


def _turn_window(conversation: Conversation, *, chunk: int | None, start_ms: int | None) -> TurnWindow:
    """The requested chunk, or the one holding the first turn at/after start_ms, or chunk 0.

    Two queries whatever the call's length: one COUNT (with the turns before start_ms) and one OFFSET/LIMIT.
    """
    size = max(int(REVIEW_PAGE_UTTERANCES), 1)
    utterances = conversation.utterances.all()
    if chunk is None and start_ms is not None:
        counts = utterances.aggregate(total=Count("pk"), before=Count("pk", filter=Q(start_ms__lt=start_ms)))
        total = counts["total"]
        # Turns are ordered by start_ms first, so "before" is the position of the first turn at/after t.
        chunk = min(counts["before"], max(total - 1, 0)) // size
    else:
        total = utterances.count()
        chunk = chunk or 0
        if chunk and chunk * size >= total:
            raise Http404("No such part of this transcript.")
    rows = list(utterances.order_by(*UTTERANCE_ORDER)[chunk * size : (chunk + 1) * size])
    return TurnWindow(chunk=chunk, size=size, total=total, utterances=rows)


def _utterances_with_findings(window: TurnWindow, findings, part_starts: dict | None = None, parts=()) -> list:
    """The window's turns, each with .leak_findings, .opens_part (the part whose first turn it is, or None) and
    .source_label (whose transcript the turn is in, when the page must say so: _turn_source_labels).
    Every finding gets .in_window: a link to one outside the window reloads the page at its moment (?t=) so
    that its chunk is rendered."""
    by_utterance = defaultdict(list)
    for finding in findings:
        finding.in_window = finding.utterance_id in window.utterance_ids
        if finding.in_window:
            by_utterance[finding.utterance_id].append(finding)
    part_starts = part_starts or {}
    source_labels = _turn_source_labels(parts)
    for utterance in window.utterances:
        utterance.leak_findings = by_utterance.get(utterance.pk, [])
        utterance.opens_part = part_starts.get(utterance.pk)
        utterance.source_label = source_labels.get(utterance.transcript_id)
    return window.utterances


def _turn_source_labels(parts) -> dict[int, tuple[str, str]]:
    """part pk -> (source, label) for the turns that carry their source: every turn of the vault's own
    speech-to-text, and on a page that mixes it with Genesys' parts, Genesys' turns too, so no turn of a mixed
    page can be taken for the other's."""
    sources = {part.source for part in parts}
    mixed = len(sources) > 1
    return {
        part.pk: (part.source, part.get_source_display())
        for part in parts
        if mixed or part.source == Transcript.Source.VAULT_ASR
    }


@dataclass(frozen=True)
class MachineTranscript:
    """The review page's banner for parts the vault transcribed itself (one per engine and model)."""

    description: str  # asr_description: engine and model
    part_numbers: tuple[int, ...]
    whole_call: bool  # Genesys transcribed no part of the call


def machine_transcripts(parts) -> list[MachineTranscript]:
    """The vault speech-to-text parts of a call, grouped by engine and model, in part order. Each such part also
    gets .asr_description for the parts table and its metrics card."""
    by_description: dict[str, list[int]] = defaultdict(list)
    for part in parts:
        if part.source == Transcript.Source.VAULT_ASR:
            part.asr_description = asr_description(part.asr_engine, part.asr_model)
            by_description[part.asr_description].append(part.number)
    whole_call = all(part.source == Transcript.Source.VAULT_ASR for part in parts)
    return [
        MachineTranscript(description=description, part_numbers=tuple(numbers), whole_call=whole_call)
        for description, numbers in by_description.items()
    ]


def _deliveries(conversation: Conversation) -> list[dict]:
    rows = []
    messages_qs = OutboxMessage.objects.filter(transcript__conversation=conversation).select_related("transcript")
    for message in messages_qs.order_by("transcript_id", "sink", "created_at"):
        deliver_ms = None
        if message.delivered_at and message.transcript.stored_at:
            deliver_ms = int((message.delivered_at - message.transcript.stored_at).total_seconds() * 1000)
        rows.append({"message": message, "deliver_ms": deliver_ms})
    return rows


def _review_panel_context(request: HttpRequest, conversation: Conversation, form: ReviewForm | None = None) -> dict:
    return {
        "conversation": conversation,
        "can_review": access.can_review(request.user),
        "review_form": form or ReviewForm(conversation=conversation),
        "notes": conversation.notes.select_related("author").order_by("-created_at"),
        "can_mark_reviewed": conversation.review_status != Status.REVIEWED,
    }


def _window_context(window: TurnWindow, direction: str | None) -> dict:
    return {
        "window": window,
        # A fragment carries only the loader on its own side; the full page shows both.
        "show_earlier": window.earlier_chunk is not None and direction != "later",
        "show_later": window.later_chunk is not None and direction != "earlier",
    }


@login_required
@require_GET
def conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    fragment = "chunk" in request.GET and _is_partial_request(request)
    conversation = audit.conversation_or_404(
        request, conversation_id, operation="view_fragment" if fragment else "view_transcript"
    )
    requested_chunk = _requested_chunk(request)
    if requested_chunk is not None and _is_partial_request(request):
        return _turns_fragment(request, conversation, requested_chunk)
    start_ms = _start_offset(request) if requested_chunk is None else None
    window = _turn_window(conversation, chunk=requested_chunk, start_ms=start_ms)
    findings = list(
        RedactionFinding.objects.filter(transcript__conversation=conversation)
        .annotate(utterance_start_ms=F("utterance__start_ms"))
        .order_by("start_ms")
    )
    parts = describe_parts(conversation, ordered_parts(conversation))
    context = {
        **_review_panel_context(request, conversation),
        **_window_context(window, direction=None),
        "transcripts": parts,
        "redaction_statuses": _redaction_statuses(parts),
        "combined_metrics": combined_metrics(conversation, parts) if len(parts) > 1 else None,
        "outcome": outcome_to_show(conversation),
        "speech_to_text": speech_to_text_status(conversation),
        "utterances": _utterances_with_findings(
            window, findings, first_utterance_of_parts(conversation, parts), parts=parts
        ),
        "machine_transcripts": machine_transcripts(parts),
        "findings": findings,
        "can_see_finding_details": access.can_see_finding_details(request.user),
        **_player(conversation, has_transcript=bool(parts)),
        "deliveries": _deliveries(conversation),
        "start_ms": start_ms,
        "low_confidence_threshold": settings.LOW_CONFIDENCE_THRESHOLD,
    }
    return _render_turns(request, conversation, window, "reviews/conversation.html", context)


def _player(conversation: Conversation, *, has_transcript: bool) -> dict:
    """The player region: the vault's playable audio, or "preparing" while a transcribed call's recording is
    fetched in the background (reviews/pipeline/audio_cache.py; the region polls audio.prepare)."""
    status = audio_cache.audio_for_page(conversation, has_transcript=has_transcript, now=now_of(audio.CLOCK))
    return audio.player_context(conversation, status)


def _redaction_statuses(parts) -> list[tuple[str, str]]:
    """The distinct redaction statuses of the parts, worst first: one badge each, however many parts."""
    labels = dict(Transcript.RedactionStatus.choices)
    present = {part.redaction_status for part in parts}
    worst_first = (Transcript.RedactionStatus.LEAKS_FOUND, Transcript.RedactionStatus.NO_MARKERS)
    ordered = [*worst_first, *sorted(present - set(worst_first))]
    return [(status, labels.get(status, status)) for status in ordered if status in present]


def _turns_fragment(request: HttpRequest, conversation: Conversation, chunk: int) -> HttpResponse:
    """One chunk of turns plus the loader for the next one in the same direction (htmx "Earlier/Later turns")."""
    direction = request.GET.get("direction")
    if direction not in LOAD_DIRECTIONS:
        direction = "later"
    window = _turn_window(conversation, chunk=chunk, start_ms=None)
    findings = RedactionFinding.objects.filter(utterance_id__in=window.utterance_ids).order_by("start_ms")
    parts = describe_parts(conversation, ordered_parts(conversation))
    context = {
        **_window_context(window, direction=direction),
        "conversation": conversation,
        "utterances": _utterances_with_findings(
            window, findings, first_utterance_of_parts(conversation, parts), parts=parts
        ),
        "can_see_finding_details": access.can_see_finding_details(request.user),
        "can_review": access.can_review(request.user),
        "low_confidence_threshold": settings.LOW_CONFIDENCE_THRESHOLD,
    }
    return _render_turns(request, conversation, window, "reviews/conversation.html#turn-chunk", context)


def _render_turns(
    request: HttpRequest, conversation: Conversation, window: TurnWindow, template: str, context: dict
) -> HttpResponse:
    """Audit the transcript view (which chunk was shown), then render; page and fragment vary on HX-Request."""
    audit.record_event(
        request=request,
        action=AuditEvent.Action.VIEW_TRANSCRIPT,
        object_type="conversation",
        object_id=conversation.genesys_id,
        detail={"chunk": window.chunk},
    )
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _apply_review(
    request: HttpRequest,
    conversation: Conversation,
    status: str,
    note: str,
    *,
    at_ms: int | None = None,
    expected: str | None = None,
    detail: dict | None = None,
) -> bool:
    """Record the change; False if someone else changed the status since the form was rendered (`expected`:
    the status the reviewer saw, when the form says; otherwise the one just read)."""
    previous = expected or conversation.review_status
    with transaction.atomic():  # the status, the escalation case, the note and the audit event land together
        if status != previous:
            changes = {"review_status": status, "reviewer": request.user}
            if status in FINISHED_STATUSES:
                changes["reviewed_at"] = timezone.now()
            # Conditional update: two reviewers acting at once cannot both move the same status.
            if not Conversation.objects.filter(pk=conversation.pk, review_status=previous).update(**changes):
                return False
            if status == Status.ESCALATED:
                escalations.record_escalation(request=request, conversation=conversation, note=note)
            if status in FINISHED_STATUSES:  # the work queue's assignments of this call are done with it
                assignments.close_open_assignments(conversation, at=changes["reviewed_at"])
        _record_review(request, conversation, previous=previous, status=status, note=note, at_ms=at_ms, extra=detail)
    return True


def _record_review(
    request: HttpRequest,
    conversation: Conversation,
    *,
    previous: str,
    status: str,
    note: str,
    at_ms: int | None,
    extra: dict | None = None,
) -> None:
    ReviewNote.objects.create(
        conversation=conversation,
        author=request.user,
        body=note,
        status_from=previous if status != previous else "",
        status_to=status if status != previous else "",
        at_ms=at_ms,
    )
    detail = {"from": previous, "to": status, "note": bool(note), **(extra or {})}
    if at_ms is not None:
        detail["at_ms"] = at_ms  # where, never what: the note's text stays out of the audit trail
    audit.record_event(
        request=request,
        action=AuditEvent.Action.REVIEW,
        object_type="conversation",
        object_id=conversation.genesys_id,
        detail=detail,
    )


@login_required
@require_POST
def update_review(request: HttpRequest, conversation_id: str) -> HttpResponse:
    conversation = audit.conversation_or_404(request, conversation_id, operation="review")
    if not access.can_review(request.user):
        audit.deny(
            request,
            PermissionDenied("You may view this conversation but not review it."),
            object_type="conversation",
            object_id=conversation.genesys_id,
            reason="read-only role",
            operation="review",
            via="web",
        )
    form = ReviewForm(request.POST, conversation=conversation)
    if request.POST.get("action") == MARK_REVIEWED:
        # One step: no status select, no note. The button carries the status the reviewer saw, so a change
        # someone else made meanwhile (an escalation, say) is a conflict, not silently overwritten.
        valid = True
        # The walk along REVIEW_TRANSITIONS is the work queue's (assignments.path_to_reviewed), recorded the same way.
        expected = request.POST.get("seen_status") or conversation.review_status
        path = assignments.path_to_reviewed(expected) if expected in Status.values else None
        conflict = not path or not _apply_review(
            request, conversation, Status.REVIEWED, "", expected=expected, detail={"via": "one_step", "path": path}
        )
        form = None
    else:
        valid = form.is_valid()
        conflict = valid and not _apply_review(
            request,
            conversation,
            form.cleaned_data["status"],
            form.cleaned_data["note"].strip(),
            at_ms=form.cleaned_data["at"],
        )
    saved = valid and not conflict
    conversation.refresh_from_db()
    if _is_partial_request(request):
        # After a save or a conflict the form starts over from the status now stored.
        context = _review_panel_context(request, conversation, form=form if not valid else None)
        context.update(review_saved=saved, review_conflict=conflict)
        return render(request, "reviews/conversation.html#review-panel", context)
    if saved:
        messages.success(request, "Review updated.")
    elif conflict:
        messages.error(request, CONFLICT_MESSAGE)
    else:
        errors = [*form.non_field_errors(), *form.errors.get("at", [])]
        messages.error(request, " ".join(errors) or "The review could not be saved.")
    return redirect("conversation", conversation_id=conversation.genesys_id)


@login_required
@require_GET
def export(request: HttpRequest, conversation_id: str, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format")
    conversation = audit.conversation_or_404(request, conversation_id, operation="export")
    # Every part's turns, merged in time order (utterances of all parts belong to the conversation).
    utterances = conversation.utterances.order_by(*UTTERANCE_ORDER)
    parts = describe_parts(conversation, ordered_parts(conversation))
    if fmt == "txt":
        body, content_type = export_text(conversation, utterances, parts), "text/plain; charset=utf-8"
    else:
        findings = RedactionFinding.objects.filter(transcript__conversation=conversation).order_by("start_ms")
        with_details = access.can_see_finding_details(request.user)
        body = export_json(conversation, utterances, findings, parts, with_details=with_details)
        content_type = "application/json"
    audit.record_event(
        request=request,
        action=AuditEvent.Action.EXPORT,
        object_type="conversation",
        object_id=conversation.genesys_id,
        detail={"format": fmt},
    )
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{_safe_filename(conversation.genesys_id)}.{fmt}"'
    return response


def _safe_filename(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in value) or "conversation"
