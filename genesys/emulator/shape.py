"""Dataset shapes: what a real org's calls can look like beyond "one recorded leg, one transcript".

`generate_dataset(..., shape=DatasetShape(...))` first builds the plain dataset exactly as without a shape,
then reshapes chosen conversations. Every choice here draws from its own string-seeded `random.Random`
("shape:<seed>:<feature>" for picking conversations, "<conversation seed>:shape:<feature>" for a
conversation's new ids and timings), never from the plain dataset's streams, so the plain values never shift.

Shares are exact counts, like `_plan_mix`: `max(1, round(base * share))` whenever share > 0 (capped by how many
conversations can take the feature), so a 40-conversation dataset still shows each case. Conversations picked
for multi-segment, consult, callback and midnight crossing are disjoint; screen recordings, recording states
(only on calls without a transcript) and the outbound/purpose flags combine freely with them.

Ground truth lands on the conversations themselves (`.parts`, `.recordings`, `.division_ids`, `.media_type`,
`.agent_user_ids`; see data.py) and on the dataset (`.untranscribed_queue_id`, `.shape`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .data import (
    CLOSING,
    TRANSCRIPT_START_OFFSET_MS,
    Dataset,
    SimConsult,
    SimConversation,
    SimPart,
    SimRecording,
    SimTranscript,
    _append,
    _uuid,
)

RECORDING_STATES = ("ARCHIVED", "DELETED", "ERROR", "UPLOADING")
AGENT_PURPOSES = ("agent", "user")
CONSULT_ALERT_MS = 3_000


@dataclass(frozen=True)
class DatasetShape:
    """What the org's calls look like. Every field defaults to the plain dataset."""

    multi_segment_share: float = 0.0  # of transcribed calls: 2-3 recording segments (holds/pauses) on the customer leg
    consult_share: float = 0.0  # of all calls: a second agent (another division when possible) on its own leg
    callback_share: float = 0.0  # of all calls: voice callbacks (a "callback" session, transcript mediaType callback)
    outbound_agent_first: bool = False  # outbound calls: the agent's leg starts the call, the far end answers later
    agent_purpose: str = "agent"  # analytics purpose of agent participants: "agent" or "user"
    archived_share: float = 0.0  # of calls without a transcript: audio recording ARCHIVED
    deleted_share: float = 0.0  # ... DELETED
    error_share: float = 0.0  # ... ERROR
    uploading_share: float = 0.0  # ... UPLOADING, AVAILABLE `uploading_seconds` after the call ends
    uploading_seconds: float = 600.0
    extra_never_transcribed_share: float = 0.0  # of all calls: transcribed calls turned into never-transcribed ones
    screen_recording_share: float = 0.0  # of all calls: an extra screen recording of the agent leg, listed first
    untranscribed_queue: bool = False  # one queue has enableTranscription false: its calls never get a transcript
    midnight_crossers: int = 0  # transcribed calls that start before a UTC midnight in the window, end 2-4 h after

    def __post_init__(self) -> None:
        shares = ("multi_segment_share", "consult_share", "callback_share", "archived_share", "deleted_share")
        shares += ("error_share", "uploading_share", "extra_never_transcribed_share", "screen_recording_share")
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.agent_purpose not in AGENT_PURPOSES:
            raise ValueError(f"agent_purpose must be one of {AGENT_PURPOSES}")
        if self.midnight_crossers < 0 or self.uploading_seconds < 0:
            raise ValueError("midnight_crossers and uploading_seconds must not be negative")


def apply_shape(dataset: Dataset, shape: DatasetShape, program_id: str, engine_id: str) -> None:
    """Reshape `dataset` in place; conversations are still in generation order here.

    Which calls have a transcript is settled first (silenced queue, extra never-transcribed calls, midnight
    crossers), because recording states go to the calls without one and the other features to calls with one.
    """
    claimed: set[str] = set()  # calls already reshaped by an exclusive feature
    _settle_transcripts(dataset, shape, claimed)
    states = _recording_states(dataset, shape)
    segments = _choose_segment_counts(dataset, shape, claimed)
    _add_consults(dataset, shape, claimed, program_id, engine_id)
    _make_callbacks(dataset, shape, claimed)
    screens = _choose_screen_recordings(dataset, shape)
    for conv in dataset.conversations:
        conv.agent_purpose = shape.agent_purpose
        conv.agent_first = shape.outbound_agent_first and conv.direction == "outbound"
        _build_recordings(
            conv,
            state=states.get(conv.conversation_id, "AVAILABLE"),
            segments=segments.get(conv.conversation_id, 1),
            screen=conv.conversation_id in screens,
        )


def _settle_transcripts(dataset: Dataset, shape: DatasetShape, claimed: set[str]) -> None:
    if shape.untranscribed_queue:
        _silence_one_queue(dataset)
    if shape.extra_never_transcribed_share:
        count = _count(len(dataset.conversations), shape.extra_never_transcribed_share)
        for conv in _pick(dataset, "never-transcribed", _ordinary(dataset.conversations), count, claimed):
            conv.transcript = None
    if shape.midnight_crossers:
        _cross_midnight(dataset, shape.midnight_crossers, claimed)


def _choose_segment_counts(dataset: Dataset, shape: DatasetShape, claimed: set[str]) -> dict[str, int]:
    if not shape.multi_segment_share:
        return {}
    convs = dataset.conversations
    count = _count(sum(1 for c in convs if c.transcript is not None), shape.multi_segment_share)
    eligible = [c for c in _ordinary(convs, allow_delayed=True) if len(c.transcript.phrases) >= 3]
    return {
        conv.conversation_id: random.Random(f"{conv.seed}:shape:segments").choice((2, 3))
        for conv in _pick(dataset, "multi-segment", eligible, count, claimed)
    }


def _add_consults(dataset: Dataset, shape: DatasetShape, claimed: set[str], program_id: str, engine_id: str) -> None:
    if not shape.consult_share:
        return
    count = _count(len(dataset.conversations), shape.consult_share)
    for conv in _pick(dataset, "consult", _ordinary(dataset.conversations, allow_delayed=True), count, claimed):
        _add_consult(dataset, conv, program_id, engine_id)


def _make_callbacks(dataset: Dataset, shape: DatasetShape, claimed: set[str]) -> None:
    if not shape.callback_share:
        return
    count = _count(len(dataset.conversations), shape.callback_share)
    eligible = [c for c in dataset.conversations if c.transcript is not None]
    for conv in _pick(dataset, "callback", eligible, count, claimed):
        conv.callback_session_id = _uuid(random.Random(f"{conv.seed}:shape:callback"))


def _choose_screen_recordings(dataset: Dataset, shape: DatasetShape) -> set[str]:
    if not shape.screen_recording_share:
        return set()
    count = _count(len(dataset.conversations), shape.screen_recording_share)
    return {c.conversation_id for c in _pick(dataset, "screen", dataset.conversations, count, set())}


def attach_parts(dataset: Dataset) -> None:
    """Derive every conversation's transcript parts (S3 keys, phrase split) from its recordings."""
    for conv in dataset.conversations:
        conv.part_list = _parts(dataset, conv) if conv.transcript is not None else []


# ---------------------------------------------------------------------------------------------- picking


def _count(base: int, share: float) -> int:
    return 0 if share <= 0 else max(1, round(base * share))


def _ordinary(convs: list[SimConversation], *, allow_delayed: bool = False) -> list[SimConversation]:
    """Plain transcribed calls: a normal document, no hostile text (and not delayed unless allowed)."""
    return [
        c
        for c in convs
        if c.transcript is not None
        and c.transcript.kind == "normal"
        and not c.transcript.hostile
        and (allow_delayed or not c.transcript.delayed)
    ]


def _pick(
    dataset: Dataset, feature: str, eligible: list[SimConversation], count: int, claimed: set[str]
) -> list[SimConversation]:
    candidates = [c for c in eligible if c.conversation_id not in claimed]
    random.Random(f"shape:{dataset.seed}:{feature}").shuffle(candidates)
    chosen = candidates[:count]
    claimed.update(c.conversation_id for c in chosen)
    return chosen


# ---------------------------------------------------------------------------------------------- transcription


def _silence_one_queue(dataset: Dataset) -> None:
    """One queue with transcription disabled: none of its calls ever gets a transcript."""
    used = [q for q in dataset.queues if any(c.queue_id == q["id"] for c in dataset.conversations)]
    queue = random.Random(f"shape:{dataset.seed}:untranscribed-queue").choice(used or dataset.queues)
    dataset.untranscribed_queue_id = queue["id"]
    for conv in dataset.conversations:
        if conv.queue_id == queue["id"]:
            conv.transcript = None


def first_midnight_inside(start: datetime, end: datetime) -> datetime | None:
    """The first UTC midnight strictly after `start` and before `end` (a call can then start before it)."""
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return midnight if midnight < end else None


def _cross_midnight(dataset: Dataset, count: int, claimed: set[str]) -> None:
    midnight = first_midnight_inside(dataset.start, dataset.end)
    if midnight is None:
        raise ValueError("midnight_crossers needs a UTC midnight inside the dataset window (after its start)")
    chosen = _pick(dataset, "midnight", _ordinary(dataset.conversations), count, claimed)
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} ordinary transcribed calls can cross midnight, {count} requested")
    for conv in chosen:
        rng = random.Random(f"{conv.seed}:shape:midnight")
        start = max(dataset.start, midnight - timedelta(seconds=rng.randint(5 * 60, 40 * 60)))
        end = midnight + timedelta(seconds=rng.randint(2 * 3600, 4 * 3600))
        old_duration = conv.duration_ms
        conv.start, conv.end = start, end
        # A long hold: the goodbye moves to the new end of the call, the rest of the talk stays where it was.
        shift = conv.duration_ms - old_duration
        phrases = conv.transcript.phrases
        closing = len(phrases) - len(CLOSING)
        conv.transcript.phrases = [
            replace(p, offset_ms=p.offset_ms + shift) if p.index >= closing else p for p in phrases
        ]


# ---------------------------------------------------------------------------------------------- recordings


def _recording_states(dataset: Dataset, shape: DatasetShape) -> dict[str, str]:
    """Exact counts of each non-available state among the calls whose transcript never arrives."""
    shares = dict(
        zip(
            RECORDING_STATES,
            (shape.archived_share, shape.deleted_share, shape.error_share, shape.uploading_share),
            strict=True,
        )
    )
    pool = [c for c in dataset.conversations if c.transcript is None]
    counts = {state: _count(len(pool), share) for state, share in shares.items()}
    while sum(counts.values()) > len(pool) and any(n > 1 for n in counts.values()):
        largest = max(counts, key=lambda s: (counts[s], RECORDING_STATES.index(s)))
        counts[largest] -= 1  # shares rounded up past the pool: trim the largest, every state keeps one
    random.Random(f"shape:{dataset.seed}:recording-states").shuffle(pool)
    states, cursor = {}, 0
    for state in RECORDING_STATES:
        for conv in pool[cursor : cursor + counts[state]]:
            states[conv.conversation_id] = state
        cursor += counts[state]
    return states


def _build_recordings(conv: SimConversation, *, state: str, segments: int, screen: bool) -> None:
    recordings = []
    if screen:
        screen_id = _uuid(random.Random(f"{conv.seed}:shape:screen"))
        recordings.append(SimRecording(screen_id, "screen", "AVAILABLE", conv.communication_ids[1], "Screen"))
    recordings += _customer_segments(conv, state, segments)
    if conv.consult is not None:
        consult = conv.consult
        recordings.append(
            SimRecording(
                consult.recording_id,
                "audio",
                "AVAILABLE",
                consult.session_id,
                "Consult",
                consult.join_ms,
                consult.end_ms,
            )
        )
    if len(recordings) == 1 and recordings[0] == SimRecording(
        conv.recording_ids[0], "audio", "AVAILABLE", conv.communication_ids[0]
    ):
        return  # the plain call: leave the default in place
    conv.recording_list = recordings
    conv.recording_ids = [r.recording_id for r in recordings]


def _customer_segments(conv: SimConversation, state: str, segments: int) -> list[SimRecording]:
    """The customer leg's recording, split at phrase starts into `segments` recordings (holds, pauses)."""
    first = conv.recording_ids[0]
    if segments <= 1:
        return [SimRecording(first, "audio", state, conv.communication_ids[0])]
    rng = random.Random(f"{conv.seed}:shape:segments:cuts")
    phrases = conv.transcript.phrases
    cut_indexes = sorted(rng.sample(range(1, len(phrases)), segments - 1))
    # Cut inside the silence before the phrase, so every phrase starts inside exactly one segment.
    bounds = [0] + [phrases[i].offset_ms - 150 for i in cut_indexes] + [None]
    ids = [first] + [_uuid(rng) for _ in cut_indexes]
    return [
        SimRecording(rid, "audio", state, conv.communication_ids[0], "Trunk", bounds[i], bounds[i + 1])
        for i, rid in enumerate(ids)
    ]


# ---------------------------------------------------------------------------------------------- consult legs


def _consult_lines(agent_first_name: str, consult_first_name: str) -> list[tuple[str, str, int | None]]:
    return [
        ("internal", f"Hi {consult_first_name}, it's {agent_first_name}. I have a customer on the line for you.", None),
        ("internal", "Sure, what do they need?", None),
        ("internal", "They want to check a payment arrangement before we change anything.", None),
        ("internal", "No problem, bring them in and I'll explain the options.", None),
        ("internal", f"Hello, this is {consult_first_name}. I'll walk you through the options now.", None),
        ("external", "Great, thank you for helping.", 1),
    ]


def _add_consult(dataset: Dataset, conv: SimConversation, program_id: str, engine_id: str) -> None:
    """A second agent, from another division when there is one, consulted on its own recorded leg."""
    rng = random.Random(f"{conv.seed}:shape:consult")
    usable = [u for u in dataset.users if u["id"] != conv.user_id and u["queue_id"] != dataset.untranscribed_queue_id]
    elsewhere = [u for u in usable if u["division_id"] != conv.division_id]
    user = rng.choice(elsewhere or usable)
    session_id, recording_id, transcript_id = _uuid(rng), _uuid(rng), _uuid(rng)
    agent_name = (dataset.user(conv.user_id) or {"name": "Agent"})["name"].split()[0]
    phrases: list = []
    t = 0
    for purpose, text, sentiment in _consult_lines(agent_name, user["name"].split()[0]):
        t = _append(rng, phrases, purpose, text, sentiment, t)
    length = t + rng.randint(1_000, 3_000)
    customer_phrases = conv.transcript.phrases
    anchor = customer_phrases[len(customer_phrases) // 2].offset_ms
    join_ms = max(conv.agent_join_ms, min(anchor, conv.duration_ms - length - CONSULT_ALERT_MS - 1_000))
    talk_ms = join_ms + CONSULT_ALERT_MS
    phrases = [replace(p, offset_ms=p.offset_ms + talk_ms) for p in phrases]
    transcript = SimTranscript(
        transcript_id=transcript_id,
        communication_id=session_id,
        kind="normal",
        ready_delay_s=float(rng.randint(90, 420)),
        delayed=False,
        phrase_count=len(phrases),
        leaks=[],
        mask_counts={},
        phrases=phrases,
        seed=f"{conv.seed}:consult",
        program_id=program_id,
        engine_id=engine_id,
    )
    end_ms = min(conv.duration_ms, talk_ms + length)
    conv.consult = SimConsult(
        user["id"], user["queue_id"], user["division_id"], session_id, recording_id, join_ms, end_ms, transcript
    )
    conv.communication_ids = [*conv.communication_ids, session_id]


# ---------------------------------------------------------------------------------------------- parts


def _parts(dataset: Dataset, conv: SimConversation) -> list[SimPart]:
    transcript = conv.transcript
    prefix = f"transcriptsCache/{dataset.organization_id}/{conv.conversation_id}"
    customer = conv.communication_ids[0]
    segments = [r for r in conv.recordings if r.media == "audio" and r.session_id == customer]
    parts = []
    if len(segments) <= 1:
        recording_id = segments[0].recording_id if segments else conv.recording_ids[0]
        parts.append(
            SimPart(
                communication_id=customer,
                recording_id=recording_id,
                key=f"{prefix}/{customer}-transcripts",
                phrase_indexes=tuple(range(transcript.phrase_count)),
                phrase_count=transcript.phrase_count,
                leaks=[dict(leak) for leak in transcript.leaks],
                media_type=conv.media_type,
                start_offset_ms=TRANSCRIPT_START_OFFSET_MS,
                kind=transcript.kind,
                transcript_id=transcript.transcript_id,
                end_offset_ms=conv.duration_ms,
            )
        )
    else:
        parts += _segment_parts(conv, segments, prefix)
    if conv.consult is not None:
        consult = conv.consult
        parts.append(
            SimPart(
                communication_id=consult.session_id,
                recording_id=consult.recording_id,
                key=f"{prefix}/{consult.session_id}-transcripts",
                phrase_indexes=tuple(p.index for p in consult.transcript.phrases),
                phrase_count=consult.transcript.phrase_count,
                leaks=[],
                media_type=conv.media_type,
                start_offset_ms=consult.join_ms + CONSULT_ALERT_MS,
                kind=transcript.kind,
                transcript_id=consult.transcript.transcript_id,
                end_offset_ms=consult.end_ms,
                leg="consult",
            )
        )
    parts.sort(key=lambda p: p.start_offset_ms)
    return parts


def _segment_parts(conv: SimConversation, segments: list[SimRecording], prefix: str) -> list[SimPart]:
    transcript = conv.transcript
    parts = []
    for number, segment in enumerate(segments):
        end = conv.duration_ms if segment.end_offset_ms is None else segment.end_offset_ms
        indexes = tuple(p.index for p in transcript.phrases if segment.start_offset_ms <= p.offset_ms < end)
        # The first segment keeps the call's transcript id and historic key; later ones have their own.
        if number == 0:
            transcript_id, key = transcript.transcript_id, f"{prefix}/{conv.communication_ids[0]}-transcripts"
        else:
            transcript_id = _uuid(random.Random(f"{conv.seed}:shape:segment-transcript:{segment.recording_id}"))
            key = f"{prefix}/{segment.recording_id}-transcripts"
        parts.append(
            SimPart(
                communication_id=conv.communication_ids[0],
                recording_id=segment.recording_id,
                key=key,
                phrase_indexes=indexes,
                phrase_count=len(indexes),
                leaks=[dict(leak) for leak in transcript.leaks if leak["phraseIndex"] in indexes],
                media_type=conv.media_type,
                start_offset_ms=max(segment.start_offset_ms, TRANSCRIPT_START_OFFSET_MS),
                kind=transcript.kind,
                transcript_id=transcript_id,
                end_offset_ms=end,
            )
        )
    return parts
