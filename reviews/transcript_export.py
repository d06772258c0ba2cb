"""A conversation's transcript as a reader takes it away: plain text and JSON, as the review page shows it.

Used by the review page's export (reviews/views/review.py) and the data-subject access package
(reviews/subject_requests.py): one rendering, so both say the same thing. Text is what the vault stores, so
values the vault masked stay masked. A part the vault transcribed itself (local speech-to-text) says so, with its
engine and model, in both formats: it is never passed off as Genesys' transcript.
"""

from __future__ import annotations

import json

from reviews.models import Conversation, Transcript
from reviews.search.filters import asr_description
from reviews.templatetags.transcript_tags import mmss, speaker_label
from reviews.views.parts import outcome_to_show


def _part_title(part) -> str:
    return f"Part {part.number}: {part.leg_label or 'leg'} (communication {part.communication_id})"


def _is_vault_transcript(part) -> bool:
    return part.source == Transcript.Source.VAULT_ASR


def _vault_source_text(part) -> str:
    return f"machine transcript by the vault ({asr_description(part.asr_engine, part.asr_model)}), not Genesys'"


def _part_line(part) -> str:
    """One part of the call, for the text export's header; Genesys' is the default source, the vault's is named."""
    facts = [_part_title(part)]
    if _is_vault_transcript(part):
        facts.append(_vault_source_text(part))
    if part.recording_id:
        facts.append(f"recording {part.recording_id}")
    facts.append(part.media_type or "media unknown")
    facts.append(f"starts {mmss(part.part_start_ms)}" if part.part_start_ms is not None else "start unknown")
    facts.append(f"sha256 {part.sha256}")
    if part.content_encoding:
        facts.append(f"served {part.content_encoding}")
    facts.append(part.language or "language unknown")
    facts.append(part.get_redaction_status_display())
    return ", ".join(facts)


def export_text(conversation: Conversation, utterances, parts) -> str:
    header = [
        f"Conversation: {conversation.genesys_id}",
        f"Started: {conversation.started_at.isoformat()}",
        f"Ended: {conversation.ended_at.isoformat() if conversation.ended_at else ''}",
        f"Queue: {conversation.queue or ''}",
        f"Agent: {conversation.agent or ''}",
        f"Direction: {conversation.direction}",
        f"State: {conversation.get_state_display()}",
    ]
    outcome = outcome_to_show(conversation)
    if outcome:
        header.append(f"Outcome: {outcome}")
    header.append(f"Parts: {len(parts)}")
    header += [f"  {_part_line(part)}" for part in parts]
    header.append("")
    by_pk = {part.pk: part for part in parts}
    opened: set[int] = set()
    lines = []
    for u in utterances:
        # With several parts, say where each one starts in the merged, time-ordered turns.
        if len(parts) > 1 and u.transcript_id not in opened:
            opened.add(u.transcript_id)
            part = by_pk.get(u.transcript_id)
            if part is not None:
                source = f" ({_vault_source_text(part)})" if _is_vault_transcript(part) else ""
                lines.append(f"--- {_part_title(part)} begins{source} ---")
        lines.append(f"[{mmss(u.start_ms)}] {speaker_label(u)}: {u.text}")
    return "\n".join(header + lines) + "\n"


def _export_part(part) -> dict:
    return {
        "part": part.number,
        "communication_id": part.communication_id,
        "leg": part.leg_label or None,
        "recording_id": part.recording_id or None,
        "media_type": part.media_type or None,
        "source": part.source,
        "asr_engine": part.asr_engine if _is_vault_transcript(part) else None,
        "asr_model": part.asr_model if _is_vault_transcript(part) else None,
        "part_start_ms": part.part_start_ms,
        "transcript_id": part.transcript_id,
        "language": part.language,
        "sha256": part.sha256,
        "content_encoding": part.content_encoding or None,
        "redaction_status": part.redaction_status,
        "utterance_count": part.utterance_count,
        "word_count": part.word_count,
        "confidence_mean": part.confidence_mean,
    }


def export_json(conversation: Conversation, utterances, findings, parts, *, with_details: bool) -> str:
    part_numbers = {part.pk: part.number for part in parts}
    document = {
        "conversation_id": conversation.genesys_id,
        "started_at": conversation.started_at.isoformat(),
        "ended_at": conversation.ended_at.isoformat() if conversation.ended_at else None,
        "direction": conversation.direction,
        "queue": str(conversation.queue) if conversation.queue else None,
        "agent": str(conversation.agent) if conversation.agent else None,
        "division": str(conversation.division) if conversation.division else None,
        "review_status": conversation.review_status,
        "state": conversation.state,
        "state_label": conversation.get_state_display(),
        "outcome": outcome_to_show(conversation) or None,
        "parts": [_export_part(part) for part in parts],
        "utterances": [
            {
                "id": u.pk,
                "part": part_numbers.get(u.transcript_id),
                "speaker": u.speaker,
                "label": speaker_label(u),
                "start_ms": u.start_ms,
                "end_ms": u.end_ms,
                "confidence": u.confidence,
                "text": u.text,
            }
            for u in utterances
        ],
        "findings": [
            {
                "kind": f.kind,
                "start_ms": f.start_ms,
                "utterance_id": f.utterance_id,
                "part": part_numbers.get(f.transcript_id),
            }
            | ({"rule": f.rule, "confidence": f.confidence, "masked_excerpt": f.masked_excerpt} if with_details else {})
            for f in findings
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)
