"""A conversation's transcript parts, shared by the review page, its exports and the JSON API.

Genesys serves one transcript document per recording segment (holds and pauses split a call) and a consult,
transfer or callback leg can have documents of its own: each is one Transcript row, a "part". Parts are shown in
time order; the conversation-level numbers combine every part (combined_metrics explains how).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import OuterRef, Subquery

from genesys.participants import AGENT_PURPOSES, EXTERNAL_PURPOSES
from reviews.models import AsrJob, Conversation, Transcript, Utterance
from reviews.transcript_metrics import METRIC_KEYS

# The order of the turns on the review page and in the exports: all parts merged by time.
UTTERANCE_ORDER = ("start_ms", "transcript_id", "index")
# Transcript fields that make up a part's (and, combined, the conversation's) metrics.
METRIC_FIELDS = (*METRIC_KEYS, "availability_latency_ms", "store_latency_ms", "download_seconds")

_SYSTEM_PURPOSES = ("ivr", "acd", "workflow", "bot", "voicemail")


def outcome_to_show(conversation: Conversation) -> str:
    """Why the conversation ended where it did (restricted, archived, no audio, failed, or stored with a note).

    An active conversation's outcome is left over from before a retry and would mislead, so it is not shown.
    """
    return conversation.outcome if conversation.is_final and conversation.outcome else ""


def speech_to_text_status(conversation: Conversation) -> str:
    """Where the vault's own speech-to-text of an audio-only call stands, when it has no transcript to show (a
    transcribed call shows its machine transcript instead, under its own banner)."""
    if conversation.state != Conversation.State.AUDIO_FALLBACK:
        return ""
    job = AsrJob.objects.filter(conversation=conversation).first()
    if job is None:
        return "queued: the vault will transcribe the recording" if settings.ASR_ENABLED else ""
    if job.outcome == AsrJob.Outcome.TRANSCRIBED:
        return ""
    reason = f" ({job.detail})" if job.detail else ""
    if job.outcome == AsrJob.Outcome.FAILED:
        return f"{job.get_outcome_display()} after {job.attempts} attempt{'s' if job.attempts != 1 else ''}{reason}"
    return f"{job.get_outcome_display()}{reason}"


def ordered_parts(conversation: Conversation) -> list[Transcript]:
    return list(conversation.transcripts.all())  # Transcript's default ordering: time order


def leg_labels(conversation: Conversation) -> dict[str, str]:
    """communication id -> who that leg is ("Customer", "Agent · Dana", "IVR"), from the analytics participants.

    Only names the pipeline kept are used (it never keeps the customer's name). A leg not in the summary gets
    no label; the template then shows the communication id alone.
    """
    labels: dict[str, str] = {}
    for participant in conversation.participants or []:
        if not isinstance(participant, dict):
            continue
        purpose = str(participant.get("purpose") or "").lower()
        if purpose in EXTERNAL_PURPOSES:
            label = "Customer"
        elif purpose in AGENT_PURPOSES:
            label = "Agent"
        elif purpose in _SYSTEM_PURPOSES:
            label = "IVR"
        else:
            label = purpose.title() or "Participant"
        name = str(participant.get("name") or "") if purpose not in EXTERNAL_PURPOSES else ""
        if name:
            label = f"{label} · {name}"
        for session_id in participant.get("sessionIds") or []:
            labels.setdefault(str(session_id), label)
    return labels


def describe_parts(conversation: Conversation, parts: list[Transcript]) -> list[Transcript]:
    """Give every part .number (1-based, time order) and .leg_label for the templates and exports."""
    labels = leg_labels(conversation)
    for number, part in enumerate(parts, start=1):
        part.number = number
        part.leg_label = labels.get(part.communication_id, "")
    return parts


def first_utterance_of_parts(conversation: Conversation, parts: list[Transcript]) -> dict[int, Transcript]:
    """utterance pk -> the part it opens (its first turn in the merged order); empty for a one-part call.

    One query whatever the number of parts: each part's first turn is a correlated subquery on the
    (transcript, index) index.
    """
    if len(parts) < 2:
        return {}
    first = Utterance.objects.filter(transcript=OuterRef("pk")).order_by(*UTTERANCE_ORDER).values("pk")[:1]
    by_pk = {part.pk: part for part in parts}
    rows = conversation.transcripts.annotate(first_utterance=Subquery(first)).values_list("pk", "first_utterance")
    return {utterance_pk: by_pk[pk] for pk, utterance_pk in rows if utterance_pk is not None and pk in by_pk}


def combined_metrics(conversation: Conversation, parts: list[Transcript]) -> dict | None:
    """The conversation's metrics over every part (Transcript field names), None when no part is stored.

    - counts and talk time (utterances, words, talk_ms_*) and download_seconds are sums;
    - speaker_count counts the distinct speaker sides over all parts' turns (a side speaking in two parts is one);
    - confidence_mean and low_confidence_share are the parts' values weighted by their word counts (a long part
      weighs more than a short one); phrase_stability_mean is weighted by the parts' utterance counts;
    - confidence_median cannot be combined from per-part medians: it is the part's own for a one-part call and
      None otherwise (each part's median stays in its own metrics);
    - availability_latency_ms and store_latency_ms are the maximum over the parts: the call's record is complete
      when its last part is available and stored.
    """
    if not parts:
        return None
    if len(parts) == 1:
        only = parts[0]
        return {name: getattr(only, name) for name in METRIC_FIELDS}
    return {
        "utterance_count": sum(part.utterance_count for part in parts),
        "word_count": sum(part.word_count for part in parts),
        "speaker_count": conversation.utterances.order_by().values("speaker").distinct().count(),
        "confidence_mean": _weighted_mean(parts, "confidence_mean", "word_count"),
        "confidence_median": None,
        "low_confidence_share": _weighted_mean(parts, "low_confidence_share", "word_count"),
        "phrase_stability_mean": _weighted_mean(parts, "phrase_stability_mean", "utterance_count"),
        "talk_ms_internal": sum(part.talk_ms_internal for part in parts),
        "talk_ms_external": sum(part.talk_ms_external for part in parts),
        "availability_latency_ms": _maximum(parts, "availability_latency_ms"),
        "store_latency_ms": _maximum(parts, "store_latency_ms"),
        "download_seconds": _total(parts, "download_seconds"),
    }


def _weighted_mean(parts: list[Transcript], name: str, weight_name: str) -> float | None:
    """Mean of the parts' values weighted by weight_name; parts without a value or weight do not count."""
    total = weights = 0
    for part in parts:
        value, weight = getattr(part, name), getattr(part, weight_name) or 0
        if value is not None and weight > 0:
            total += value * weight
            weights += weight
    return round(total / weights, 6) if weights else None


def _maximum(parts: list[Transcript], name: str):
    values = [getattr(part, name) for part in parts if getattr(part, name) is not None]
    return max(values) if values else None


def _total(parts: list[Transcript], name: str):
    values = [getattr(part, name) for part in parts if getattr(part, name) is not None]
    return sum(values) if values else None
