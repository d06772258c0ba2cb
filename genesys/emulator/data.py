"""Deterministic contact-centre dataset: conversations, participants, transcripts and their ground truth.

Everything is derived from `seed` through `random.Random` instances seeded with strings, so the same seed gives
the same ids, words, timings and bytes on every machine (string seeds do not depend on PYTHONHASHSEED).
Transcript words and large documents are expanded lazily from per-phrase seeds (see documents.py), so a
dataset of thousands of conversations stays cheap to build.

`generate_dataset(..., shape=DatasetShape(...))` reshapes the org's calls (several recording segments, consult
legs, callbacks, archived recordings, ...; see shape.py). The shape draws only from its own random streams, so
with no shape every id, timing and byte is what it always was.

Ground truth per conversation (what a correct client must end up with):
    .parts -> list[SimPart]          every transcript document Genesys serves for the call, in time order
        .communication_id, .recording_id, .key (S3 object key), .phrase_indexes (phraseIndex values in the
        document), .phrase_count, .leaks [{"kind", "phraseIndex"}], .media_type ("call"|"callback"),
        .start_offset_ms (document startTime - conversationStartTime), .kind (same for every part of a call)
    .recordings -> list[SimRecording(recording_id, media, file_state, session_id)]   in the API's list order
    .recording_ids (all, list order), .audio_recording_ids (media == "audio" only)
    .division_ids (every division the call touches), .media_type, .agent_user_ids (first agent first)
    .transcript                      the customer leg's transcript (all its phrases, across its segments)
    .spoken_phrases                  what the recording says, in time order: the transcript's scripted phrases, or
                                     (a call without a transcript) `.spoken_script`, lines written for its audio
    .planted_phrase                  a call without a transcript: words said once in its audio (a complaint, a
                                     card number read out, ...) that search must find once it is transcribed
A default conversation with a transcript has exactly one part: the customer leg, `recording_ids[0]`, every phrase.
Expected stored utterances for a part = its `phrase_count` (one utterance per phrase).
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .shape import DatasetShape

MASK_TOKENS = (
    "card number",
    "card expiry date",
    "phone",
    "email",
    "name",
    "postal code",
    "location",
    "national id",
    "user info",
    "personal info",
)
LEAK_KINDS = ("card_number", "ssn", "email", "phone", "iban")
TRANSCRIPT_KINDS = ("normal", "large", "empty", "malformed", "invalid_utf8")
HOSTILE_TEXT = '<script>alert("x")</script> & <b>bold</b>'

# Mix of readiness and content, as shares of the conversation count (see docs/architecture.md).
NEVER_READY_SHARE = 0.08
DELAYED_SHARE = 0.15
LEAKY_SHARE = 0.12
EMPTY_SHARE = 0.01
NO_MARKERS_SHARE = 0.02
OUTBOUND_SHARE = 0.2

# The ASR session starts a moment after the conversation: a document's startTime is this far in.
TRANSCRIPT_START_OFFSET_MS = 120

# Measured mean serialized size of one filler phrase, used to size large documents; a marathon call.
LARGE_PHRASE_BYTES = 1215
LARGE_PHRASE_SPACING_MS = 2500

_TOKEN_RE = re.compile(r"\[[a-z ]+\]|\S+")
_MASK_RE = re.compile(r"\[([a-z ]+)\]")
_STRIP_CHARS = ',.?!;:"()'

DIVISIONS = (("Retail Banking", ("General Enquiries", "Mortgages")), ("Cards", ("Lost & Stolen", "Card Billing")))
DIVISIONS += (("Collections", ("Early Arrears", "Financial Hardship")),)

AGENT_NAMES = (
    "Alex Morgan",
    "Priya Shah",
    "Tom Becker",
    "Maria Lopez",
    "Daniel Okafor",
    "Sophie Turner",
    "Liam O'Brien",
    "Chen Wei",
    "Fatima Khan",
    "Jonas Muller",
    "Grace Kim",
    "Noah Williams",
    "Amelia Brown",
    "Lucas Silva",
    "Hannah Fischer",
    "Omar Haddad",
    "Isla Campbell",
    "Mateo Rossi",
    "Zara Ahmed",
    "Ethan Clarke",
)
FIRST_NAMES = ("jane", "john", "emma", "oliver", "ava", "james", "mia", "lucas", "chloe", "henry")
LAST_NAMES = ("doe", "smith", "taylor", "jones", "walker", "wright", "hughes", "green", "baker", "hall")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class SimPhrase:
    """One phrase of a transcript; words, confidences and word timings are expanded in documents.py."""

    index: int
    purpose: str  # "internal" (IVR, agent) or "external" (customer)
    decorated: str
    offset_ms: int
    duration_ms: int
    sentiment: int | None = None
    noise: float = 0.0  # how hard the phrase is for the ASR (0 clean .. 1 very poor line); lowers word confidence

    @property
    def tokens(self) -> list[str]:
        """Lower-case ASR words; a mask token such as "[card number]" stays one word."""
        words = []
        for raw in _TOKEN_RE.findall(self.decorated):
            word = raw if raw.startswith("[") else raw.strip(_STRIP_CHARS).lower()
            if word:
                words.append(word)
        return words

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass
class SimTranscript:
    transcript_id: str
    communication_id: str
    kind: str
    ready_delay_s: float
    delayed: bool
    phrase_count: int
    leaks: list[dict]
    mask_counts: dict[str, int]
    phrases: list[SimPhrase]  # the scripted phrases; large documents add filler phrases after these
    seed: str
    hostile: bool = False
    program_id: str = ""
    engine_id: str = ""
    language: str = "en-US"
    lifelike: bool = False  # a large document's filler comes from the lifelike lines

    @property
    def has_markers(self) -> bool:
        return bool(self.mask_counts)


@dataclass(frozen=True)
class SimRecording:
    """One recording as the recordings API lists it; `file_state` is its state once the call has ended."""

    recording_id: str
    media: str  # "audio" | "screen"
    file_state: str  # AVAILABLE | ARCHIVED | DELETED | ERROR | UPLOADING (turns AVAILABLE, see DatasetShape)
    session_id: str  # the communication (leg) it recorded
    media_subtype: str = "Trunk"
    start_offset_ms: int = 0  # recorded span relative to conversation start
    end_offset_ms: int | None = None  # None: until the conversation ends


@dataclass(frozen=True)
class SimPart:
    """One transcript document Genesys serves: one recording segment of one communication."""

    communication_id: str
    recording_id: str
    key: str  # the S3 object key the pre-signed URL points at
    phrase_indexes: tuple[int, ...]  # phraseIndex values in this document (a consult leg numbers its own from 0)
    phrase_count: int
    leaks: list[dict]  # {"kind", "phraseIndex"} of the leaks inside this document
    media_type: str  # "call" | "callback"
    start_offset_ms: int  # document startTime - conversationStartTime
    kind: str  # normal | large | empty | malformed | invalid_utf8; the same for every part of a conversation
    transcript_id: str = ""
    end_offset_ms: int = 0  # document startTime + duration - conversationStartTime
    leg: str = "customer"  # "customer" (the conversation's transcript) | "consult" (the second agent's leg)


@dataclass
class SimConsult:
    """A second agent (consult or transfer) on its own recorded voice leg, with its own transcript."""

    user_id: str
    queue_id: str
    division_id: str
    session_id: str
    recording_id: str
    join_ms: int  # offset of the consult agent's alert
    end_ms: int  # offset where the consult leg ends
    transcript: SimTranscript


@dataclass
class SimConversation:
    conversation_id: str
    start: datetime
    end: datetime
    queue_id: str
    user_id: str
    division_id: str
    direction: str  # "inbound" | "outbound"
    communication_ids: list[str]  # customer leg first, then the agent leg
    recording_ids: list[str]
    transcript: SimTranscript | None
    ivr_session_id: str | None
    acd_session_id: str | None
    agent_join_ms: int  # offset of the agent's first alert from conversation start
    ivr_end_ms: int  # offset where the IVR hands over to the queue (0 for outbound calls)
    customer_ani: str
    dnis: str
    seed: str
    # Set by a DatasetShape (shape.py); the defaults are the plain recorded voice call.
    consult: SimConsult | None = None
    callback_session_id: str | None = None  # the customer's callback session (mediaType "callback")
    agent_first: bool = False  # outbound: the agent's leg starts the call, the dialled party answers later
    agent_purpose: str = "agent"  # analytics purpose of agent participants ("user" on direct/outbound calls)
    recording_list: list[SimRecording] | None = field(default=None, repr=False)
    part_list: list[SimPart] = field(default_factory=list, repr=False)
    # A call without a transcript: the lines its recording says (ground truth for speech-to-text) and the
    # search words planted in them, if any (generate_dataset writes them once shapes have settled transcripts).
    spoken_script: list[SimPhrase] = field(default_factory=list, repr=False)
    planted_phrase: str | None = None

    @property
    def recordings(self) -> list[SimRecording]:
        """Every recording in the recordings API's list order."""
        if self.recording_list is not None:
            return list(self.recording_list)
        return [SimRecording(rid, "audio", "AVAILABLE", self.communication_ids[0]) for rid in self.recording_ids]

    @property
    def audio_recording_ids(self) -> list[str]:
        return [r.recording_id for r in self.recordings if r.media == "audio"]

    def recording(self, recording_id: str) -> SimRecording | None:
        return next((r for r in self.recordings if r.recording_id == recording_id), None)

    @property
    def parts(self) -> list[SimPart]:
        """Every transcript document Genesys serves for this conversation, in time order; empty when none."""
        return list(self.part_list) if self.transcript is not None else []

    @property
    def division_ids(self) -> list[str]:
        if self.consult is not None and self.consult.division_id != self.division_id:
            return [self.division_id, self.consult.division_id]
        return [self.division_id]

    @property
    def media_type(self) -> str:
        """The STA mediaType of the call's transcripts: voice callbacks are "callback", not "call"."""
        return "callback" if self.callback_session_id else "call"

    @property
    def agent_user_ids(self) -> list[str]:
        return [self.user_id] + ([self.consult.user_id] if self.consult else [])

    @property
    def external_join_ms(self) -> int:
        """Offset where the customer/external party's leg starts (later than 0 only for agent-first outbound)."""
        return self.agent_join_ms if self.agent_first else 0

    @property
    def duration_ms(self) -> int:
        return int((self.end - self.start).total_seconds() * 1000)

    @property
    def customer_purpose(self) -> str:
        # Agent-placed outbound calls show the far end as "external" in analytics.
        return "customer" if self.direction == "inbound" else "external"

    @property
    def spoken_phrases(self) -> list[SimPhrase]:
        """What the recording says: the transcript's scripted phrases, else the script written for the audio."""
        return list(self.transcript.phrases) if self.transcript is not None else list(self.spoken_script)

    def speech_turns(self) -> list[tuple[int, int, str]]:
        """(offset_ms, duration_ms, speaker) for each spoken phrase, used to align the audio."""
        return [(p.offset_ms, p.duration_ms, _speaker(p, self.agent_join_ms)) for p in self.spoken_phrases]

    def wav_bytes(self) -> bytes:
        """The call's recording: its phrases spoken on a telephone line, a PCM WAV as long as the call (the
        server's BlobStore keeps what it served)."""
        from .speech import SpokenLine, render_speech

        lines = [
            SpokenLine(offset_ms, slot_ms, speaker, spoken_text(phrase))
            for phrase, (offset_ms, slot_ms, speaker) in zip(self.spoken_phrases, self.speech_turns(), strict=True)
        ]
        return render_speech(self.duration_ms, lines, seed=f"{self.seed}:line")

    def wav_size(self) -> int:
        from .audio import wav_size

        return wav_size(self.duration_ms)


@dataclass
class Dataset:
    seed: int
    start: datetime
    end: datetime
    organization_id: str
    divisions: list[dict]
    queues: list[dict]
    users: list[dict]
    conversations: list[SimConversation]
    large_mb: float = 12
    shape: DatasetShape | None = None
    untranscribed_queue_id: str | None = None  # a queue with enableTranscription false (shape)
    lifelike: bool = False  # written by the lifelike scripts (see "lifelike calls" below)

    def __post_init__(self) -> None:
        self._by_id = {c.conversation_id: c for c in self.conversations}
        self._queues = {q["id"]: q for q in self.queues}
        self._users = {u["id"]: u for u in self.users}
        self._divisions = {d["id"]: d for d in self.divisions}

    def conversation(self, conversation_id: str) -> SimConversation | None:
        return self._by_id.get(conversation_id)

    def queue(self, queue_id: str) -> dict | None:
        return self._queues.get(queue_id)

    def user(self, user_id: str) -> dict | None:
        return self._users.get(user_id)

    def division(self, division_id: str) -> dict | None:
        return self._divisions.get(division_id)

    def summary(self) -> dict[str, int]:
        kinds = Counter(c.transcript.kind if c.transcript else "never_ready" for c in self.conversations)
        with_transcript = [c.transcript for c in self.conversations if c.transcript]
        return {
            "conversations": len(self.conversations),
            "never_ready": kinds["never_ready"],
            "delayed": sum(t.delayed for t in with_transcript),
            "leaky": sum(bool(t.leaks) for t in with_transcript),
            "no_markers": sum(not t.has_markers and t.kind == "normal" for t in with_transcript),
            **{kind: kinds[kind] for kind in TRANSCRIPT_KINDS},
        }


def generate_dataset(
    seed: int,
    conversations: int,
    start: datetime,
    end: datetime,
    large: int = 0,
    large_mb: float = 12,
    malformed: int = 0,
    *,
    hostile_text: bool = False,
    live_until: datetime | None = None,
    live_share: float | None = None,
    shape: DatasetShape | None = None,
    lifelike: bool = False,
) -> Dataset:
    """Build a deterministic dataset of `conversations` recorded voice calls that start in [start, end).

    `live_until` (an extension for the demo) makes about `live_share` of the calls end between `end` and
    `live_until`, so a running emulator keeps producing new conversations. `shape` reshapes the calls into
    one of the real-org variants (shape.py); None or `DatasetShape()` is the plain dataset.
    `live_share` defaults to 0.2 (0.05 when lifelike).

    `lifelike` (the demo) writes calls a supervisor believes instead of the plain scripts: templated sentences
    with slots, business-hours traffic, one locale per division (en-GB Retail Banking, en-US Cards and
    Collections: numbers, currency, dates, transcript language), agents who differ (two weaker ones) and one
    queue on poorer lines (see "lifelike calls" below). Ids, the mix plan and the planted leaks work as without it.
    """
    from .shape import apply_shape, attach_parts

    if end <= start:
        raise ValueError("end must be after start")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if live_share is None:
        live_share = LIFELIKE_LIVE_SHARE if lifelike else 0.2
    rng = random.Random(f"dataset:{seed}")
    organization_id = _uuid(rng)
    divisions, queues, users = _directory(rng)
    plan = _plan_mix(rng, conversations, large, malformed, hostile_text)
    program_id, engine_id = _uuid(rng), _uuid(rng)
    convs = []
    for index in range(conversations):
        conv = _conversation(
            seed, index, plan[index], start, end, live_until, live_share, queues, users, large_mb, program_id, lifelike
        )
        if conv.transcript:
            conv.transcript.engine_id = engine_id
        convs.append(conv)
    dataset = Dataset(seed, start, end, organization_id, divisions, queues, users, convs, large_mb, shape)
    dataset.lifelike = lifelike
    if shape is not None:
        apply_shape(dataset, shape, program_id, engine_id)
    attach_parts(dataset)
    for conv in dataset.conversations:
        if conv.transcript is None:
            conv.spoken_script, conv.planted_phrase = _spoken_script(dataset, conv)
    dataset.conversations.sort(key=lambda c: (c.start, c.conversation_id))
    return dataset


# ---------------------------------------------------------------------------------------------- directory


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _directory(rng: random.Random) -> tuple[list[dict], list[dict], list[dict]]:
    divisions, queues = [], []
    for division_name, queue_names in DIVISIONS:
        division = {"id": _uuid(rng), "name": division_name}
        divisions.append(division)
        for queue_name in queue_names:
            queues.append({"id": _uuid(rng), "name": f"{division_name} - {queue_name}", "division_id": division["id"]})
    users = []
    for i, name in enumerate(AGENT_NAMES):
        queue = queues[i % len(queues)]
        users.append({"id": _uuid(rng), "name": name, "division_id": queue["division_id"], "queue_id": queue["id"]})
    return divisions, queues, users


# ---------------------------------------------------------------------------------------------- mix plan


@dataclass
class _Plan:
    readiness: str = "normal"  # normal | delayed | never
    kind: str = "normal"
    leak: str | None = None  # one of _LEAK_VARIANTS
    no_markers: bool = False
    hostile: bool = False


_LEAK_VARIANTS = ("card_digits", "card_spoken", "ssn", "email_typed", "phone", "iban", "email_spoken")


def _share(n: int, share: float, minimum_when_at_least: int = 10) -> int:
    count = round(n * share)
    return max(count, 1) if n >= minimum_when_at_least else count


def _plan_mix(rng: random.Random, n: int, large: int, malformed: int, hostile: bool) -> list[_Plan]:
    """Assign exact counts (not probabilities) so small test datasets still contain every case."""
    plans = [_Plan() for _ in range(n)]
    order = list(range(n))
    rng.shuffle(order)
    cursor = 0

    def take(count: int) -> list[_Plan]:
        nonlocal cursor
        chosen = [plans[i] for i in order[cursor : cursor + count]]
        cursor += len(chosen)
        return chosen

    for plan in take(round(n * NEVER_READY_SHARE)):
        plan.readiness = "never"
    for plan in take(round(n * DELAYED_SHARE)):
        plan.readiness = "delayed"
    # Content variants go to conversations that will get a transcript; delayed ones are fine too.
    for plan in take(large):
        plan.kind = "large"
    for i, plan in enumerate(take(malformed)):
        plan.kind = "malformed" if i % 2 == 0 else "invalid_utf8"
    for plan in take(_share(n, EMPTY_SHARE)):
        plan.kind = "empty"
    for plan in take(_share(n, NO_MARKERS_SHARE)):
        plan.no_markers = True
    for i, plan in enumerate(take(_share(n, LEAKY_SHARE, minimum_when_at_least=5))):
        plan.leak = _LEAK_VARIANTS[i % len(_LEAK_VARIANTS)]
    if hostile:
        for plan in take(1):
            plan.hostile = True
    return plans


# ---------------------------------------------------------------------------------------------- conversations


def _conversation(
    seed: int,
    index: int,
    plan: _Plan,
    window_start: datetime,
    window_end: datetime,
    live_until: datetime | None,
    live_share: float,
    queues: list[dict],
    users: list[dict],
    large_mb: float,
    program_id: str,
    lifelike: bool = False,
) -> SimConversation:
    conv_seed = f"conversation:{seed}:{index}"
    rng = random.Random(conv_seed)
    conversation_id = _uuid(rng)
    customer_session, agent_session = _uuid(rng), _uuid(rng)
    ivr_session, acd_session, recording_id, transcript_id = _uuid(rng), _uuid(rng), _uuid(rng), _uuid(rng)
    locale, call = LOCALES["en-US"], None
    if lifelike:
        queue = _lifelike_queue(rng, queues, plan)
        locale = locale_of(queue)
        direction = "outbound" if rng.random() < _queue_topic(queue).outbound_share else "inbound"
    else:
        direction = "outbound" if rng.random() < OUTBOUND_SHARE else "inbound"
        queue = rng.choice(queues)
    agent = rng.choice([u for u in users if u["division_id"] == queue["division_id"]])
    if lifelike:
        target_ms = _lifelike_length(rng)
        ivr_ms = rng.randint(6_000, 14_000) if direction == "inbound" else 0
        wait_ms = rng.randint(3_000, 25_000) if direction == "inbound" else rng.randint(3_000, 10_000)
        agent_join_ms = ivr_ms + wait_ms
        start, live = _lifelike_start(rng, window_start, window_end, live_until, live_share, target_ms, queue)
        call = _LifelikeCall(rng, queue, agent, direction, plan, start, agent_join_ms, conv_seed)
        phrases, leaks = _lifelike_layout(rng, call, _lifelike_script(rng, call), target_ms)
    else:
        target_ms = rng.randint(60_000, 720_000)
        ivr_ms = rng.randint(8_000, 30_000) if direction == "inbound" else 0
        wait_ms = rng.randint(4_000, 45_000) if direction == "inbound" else rng.randint(3_000, 12_000)
        agent_join_ms = ivr_ms + wait_ms
        lines = _script(rng, queue, agent, plan, direction)
        phrases, leaks = _layout(rng, lines, agent_join_ms, target_ms)
    duration_ms = max(target_ms, phrases[-1].offset_ms + phrases[-1].duration_ms + rng.randint(2_000, 6_000))
    phrase_count = len(phrases)
    if plan.kind == "large":
        filler = math.ceil(large_mb * 1_000_000 / LARGE_PHRASE_BYTES)
        phrase_count += filler
        duration_ms = phrases[-1].offset_ms + (filler + 2) * LARGE_PHRASE_SPACING_MS
    elif plan.kind == "empty":
        phrases, leaks, phrase_count = [], [], 0

    if call is not None:
        start = _fit_in_window(start, duration_ms, window_start, live_until if live else window_end)
    else:
        start = _place(rng, window_start, window_end, live_until, live_share, duration_ms)
    end = start + timedelta(milliseconds=duration_ms)
    transcript = None
    if plan.readiness != "never":
        delayed = plan.readiness == "delayed"
        transcript = SimTranscript(
            transcript_id=transcript_id,
            communication_id=customer_session,
            kind=plan.kind,
            ready_delay_s=float(rng.randint(30, 300) if delayed else rng.randint(60, 180)),
            delayed=delayed,
            phrase_count=phrase_count,
            leaks=leaks,
            mask_counts=_mask_counts(phrases),
            phrases=phrases,
            seed=conv_seed,
            hostile=plan.hostile,
            program_id=program_id,
            language=locale.language,
            lifelike=lifelike,
        )
    if lifelike:
        customer_ani, dnis = locale.caller_number(rng), locale.service_number(rng)
    else:
        # 555-01xx is the fictional range; these never appear in transcript text.
        customer_ani = f"tel:+1312555{rng.randint(100, 199):04d}"
        dnis = f"tel:+1800555{rng.randint(100, 199):04d}"
    return SimConversation(
        conversation_id=conversation_id,
        start=start,
        end=end,
        queue_id=queue["id"],
        user_id=agent["id"],
        division_id=queue["division_id"],
        direction=direction,
        communication_ids=[customer_session, agent_session],
        recording_ids=[recording_id],
        transcript=transcript,
        ivr_session_id=ivr_session if direction == "inbound" else None,
        acd_session_id=acd_session if direction == "inbound" else None,
        agent_join_ms=agent_join_ms,
        ivr_end_ms=ivr_ms,
        customer_ani=customer_ani,
        dnis=dnis,
        seed=conv_seed,
    )


def _place(
    rng: random.Random,
    window_start: datetime,
    window_end: datetime,
    live_until: datetime | None,
    live_share: float,
    duration_ms: int,
) -> datetime:
    """Pick a start so the call ends inside the window, or (live traffic) between window end and live_until."""
    duration = timedelta(milliseconds=duration_ms)
    if live_until is not None and live_until > window_end and rng.random() < live_share:
        end = window_end + (live_until - window_end) * rng.random()
        return max(window_start, end - duration)
    latest = window_end - duration
    if latest <= window_start:
        return window_start
    seconds = (latest - window_start).total_seconds() * rng.random()
    return (window_start + timedelta(seconds=seconds)).replace(microsecond=0)


def _speaker(phrase: SimPhrase, agent_join_ms: int) -> str:
    if phrase.purpose == "external":
        return "customer"
    return "agent" if phrase.offset_ms >= agent_join_ms else "ivr"


def spoken_text(phrase: SimPhrase) -> str:
    """The words a phrase's audio says: a mask token stands for a value Genesys heard and hid, so it says nothing."""
    return " ".join(_MASK_RE.sub(" ", phrase.decorated).split())


# Calls without a transcript: a share of them say one of these once, and search must find its words.
PLANTED_SHARE = 0.6
PLANTED_LINES = (
    ("I want to make a formal complaint about this.", "complaint"),
    ("Can I speak to a manager, please?", "manager"),
    ("I would like to close my account.", "close my account"),
    ("I think somebody used my card for a fraud payment.", "fraud"),
)
PLANTED_CARD_NUMBER = "card number"


def _spoken_script(dataset: Dataset, conv: SimConversation) -> tuple[list[SimPhrase], str | None]:
    """A call without a transcript still has audio: the plain script (no masks, nobody redacted the audio), laid
    out in the call's own span, maybe with a planted phrase. Its own random stream leaves the dataset unchanged."""
    rng = random.Random(f"{conv.seed}:spoken")
    queue, agent = dataset.queue(conv.queue_id), dataset.user(conv.user_id)
    lines = _script(rng, queue, agent, _Plan(no_markers=True), conv.direction)
    planted = None
    if rng.random() < PLANTED_SHARE:
        text, planted = _planted_line(rng)
        lines.insert(len(lines) - 2, ("external", text, -1, None))  # in the middle of the customer's story
    phrases, _ = _layout(rng, lines, conv.agent_join_ms, conv.duration_ms - 2_000)
    spoken = [p for p in phrases if p.offset_ms + p.duration_ms <= conv.duration_ms]
    if planted is not None and not any(text == p.decorated for p in spoken):
        planted = None  # a short call ended before the line was said
    return spoken, planted


def _planted_line(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.2:
        digits = " ".join(DIGIT_WORDS[int(d)] for d in _luhn_card(rng))
        return f"My card number is {digits}.", PLANTED_CARD_NUMBER
    return rng.choice(PLANTED_LINES)


def _mask_counts(phrases: list[SimPhrase]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for phrase in phrases:
        counts.update(m for m in _MASK_RE.findall(phrase.text) if m in MASK_TOKENS)
    return dict(counts)


# ---------------------------------------------------------------------------------------------- scripts

# A line is (purpose, decorated text, sentiment or None, leak kind or None).
Line = tuple[str, str, "int | None", "str | None"]

IVR_LINES = (
    "Welcome to Northwind Bank. Calls may be recorded for quality and training.",
    "Please tell us in a few words why you are calling today.",
    "Thank you. Please hold while we connect you to the next available advisor.",
)

SCENARIOS = {
    "General Enquiries": (
        ("external", "Hi, I want to update my address on the account.", None),
        ("internal", "Of course, I can help with that.", None),
        ("external", "I moved last month and my statements still go to the old place.", -1),
        ("internal", "I'm sorry about that. Let's get it fixed today.", 1),
    ),
    "Mortgages": (
        ("external", "Hi, I have a question about my mortgage payment date.", None),
        ("internal", "Sure, what would you like to know?", None),
        ("external", "Can I move the payment to the end of the month?", None),
        ("internal", "Yes, we can change that from next month.", 1),
    ),
    "Lost & Stolen": (
        ("external", "Hi, I lost my card yesterday and I'm really worried.", -1),
        ("internal", "I'm sorry to hear that. I'll block the card straight away.", None),
        ("external", "Thank you, that's a relief.", 1),
        ("internal", "A new card will arrive in 5 working days.", None),
    ),
    "Card Billing": (
        ("external", "There's a charge on my statement I don't recognise.", -1),
        ("internal", "Let me look into that charge on my statement view.", None),
        ("external", "It's for 49 dollars from a shop I've never used.", -1),
        ("internal", "I've raised a dispute and you will get a temporary credit.", 1),
    ),
    "Early Arrears": (
        ("internal", "I'm calling about a missed payment on your account.", None),
        ("external", "Yes, sorry, I want to make a payment today.", None),
        ("internal", "Great, we can take a payment by card now.", 1),
        ("external", "Okay, let's do that.", None),
    ),
    "Financial Hardship": (
        ("external", "I'm not happy. I've been waiting for ages and nobody calls back.", -1),
        ("internal", "I understand, and I apologise for the wait.", None),
        ("external", "I lost my job and I can't keep up with the payments.", -1),
        ("internal", "We can set up a payment plan that works for you.", 1),
    ),
}

# Verification lines with the mask token Genesys writes in place of the spoken value.
MASKED_LINES = (
    ("Can I have your full name, please?", "Yes, it's [name]."),
    ("And the postcode on the account?", "It's [postal code]."),
    ("What's the best number to reach you on?", "You can call me on [phone]."),
    ("Could you confirm your email address?", "Sure, it's [email]."),
    ("Can you confirm the long card number?", "The card number is [card number]."),
    ("And the expiry date?", "It expires [card expiry date]."),
    ("Which city are you in now?", "I'm in [location]."),
    ("Can you confirm your national insurance or social security number?", "Yes, it's [national id]."),
    ("What's the username on the online banking?", "It's [user info]."),
    ("Is the car registration still the same?", "Yes, it's [personal info]."),
)

UNMASKED_VERIFICATION = (
    ("Can you tell me what the last payment was for?", "It was for the gas bill, I think."),
    ("And when did you last log in?", "Maybe last week."),
)

FILLER = (
    ("internal", "Let me just check that for you.", None),
    ("external", "Sure, no problem.", None),
    ("internal", "Thanks for waiting, I'm still looking at the account.", None),
    ("external", "Okay.", None),
    ("internal", "I can see the notes from your last call here.", None),
    ("external", "Right, that was about the same thing.", None),
    ("internal", "I'm going to put you on a short hold.", None),
    ("external", "That's fine, take your time.", None),
    ("internal", "Bear with me while the system updates.", None),
    ("external", "It's always a bit slow, isn't it?", None),
    ("internal", "Is there anything you would like me to add to the notes?", None),
    ("external", "No, I think that covers it.", None),
)

CLOSING = (
    ("internal", "Is there anything else I can help you with today?", None),
    ("external", "No, that's everything. Thank you so much.", 1),
    ("internal", "Thanks for calling Northwind Bank. Have a great day.", 1),
)


def _script(rng: random.Random, queue: dict, agent: dict, plan: _Plan, direction: str) -> list[Line]:
    first_name = agent["name"].split()[0]
    lines: list[Line] = []
    if direction == "inbound":
        lines += [("internal", text, None, None) for text in IVR_LINES]
        lines.append(("internal", f"Thanks for calling Northwind Bank, you're through to {first_name}.", None, None))
        lines.append(("internal", "How can I help?", None, None))
    else:
        lines.append(("internal", f"Hello, this is {first_name} calling from Northwind Bank.", None, None))
        lines.append(("external", "Hi, yes, go ahead.", None, None))
    lines.append(("internal", "Before we start I need to verify your identity.", None, None))
    if plan.no_markers:
        for question, answer in UNMASKED_VERIFICATION:
            lines += [("internal", question, None, None), ("external", answer, None, None)]
    else:
        for question, answer in rng.sample(MASKED_LINES, rng.randint(2, 4)):
            lines += [("internal", question, None, None), ("external", answer, None, None)]
    if plan.leak:
        lines += _leak_lines(rng, plan.leak)
    scenario_name = queue["name"].split(" - ", 1)[1]
    lines += [(p, t, s, None) for p, t, s in SCENARIOS[scenario_name]]
    if plan.hostile:
        lines.append(("external", f"I typed {HOSTILE_TEXT} into the chat box.", None, None))
    return lines


def _leak_lines(rng: random.Random, variant: str, locale: Locale | None = None) -> list[Line]:
    """Customer lines carrying PII the masking missed; the leak kind marks the phrase that starts the value.

    With a `locale` (lifelike calls) a phone number is read out in that country's format."""
    if variant == "card_digits":
        card = _luhn_card(rng)
        grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
        return [
            ("internal", "I'll need the card you want to pay with.", None, None),
            ("external", f"Okay, it's {grouped}.", None, "card_number"),
        ]
    if variant == "card_spoken":
        digits = [DIGIT_WORDS[int(d)] for d in _luhn_card(rng)]
        first, second = " ".join(digits[:8]), " ".join(digits[8:])
        return [
            ("internal", "Which card would you like to use for the payment?", None, None),
            ("external", f"The long number is {first}", None, "card_number"),
            ("external", f"{second}, that's it.", None, None),
        ]
    if variant == "ssn":
        area, group, serial = _ssn(rng)
        spoken = f"{area}-{group}-{serial}" if rng.random() < 0.5 else f"{area} {group} {serial}"
        return [
            ("internal", "For this change I need your social security number.", None, None),
            ("external", f"Sure, my social security number is {spoken}.", None, "ssn"),
        ]
    if variant in ("email_typed", "email_spoken"):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice(("example", "mail.example"))
        if variant == "email_typed":
            address = f"{first}.{last}@{domain}.com"
        else:
            address = f"{first} dot {last} at {domain.replace('.', ' dot ')} dot com"
        return [
            ("internal", "Where should I send the confirmation?", None, None),
            ("external", f"Send it to {address} please.", None, "email"),
        ]
    if variant == "phone":
        return [
            ("internal", "Is there a number we can call you back on?", None, None),
            ("external", f"Yes, call me on {locale.spoken_phone(rng) if locale else _phone(rng)}.", None, "phone"),
        ]
    if variant == "iban":
        return [
            ("internal", "Which account should the refund go to?", None, None),
            ("external", f"My IBAN is {_gb_iban(rng)}.", None, "iban"),
        ]
    raise ValueError(variant)


def _luhn_card(rng: random.Random) -> str:
    body = "4" + "".join(str(rng.randint(0, 9)) for _ in range(14))
    return body + str(_luhn_check_digit(body))


def _luhn_check_digit(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return (10 - total % 10) % 10


def _ssn(rng: random.Random) -> tuple[str, str, str]:
    # Area 001-665 or 667-899 (never 000, 666, 9xx), group 01-99, serial 0001-9999; avoid trivially fake values.
    while True:
        area = rng.choice([rng.randint(100, 665), rng.randint(667, 899)])
        group, serial = rng.randint(10, 99), rng.randint(1000, 9999)
        value = f"{area:03d}{group:02d}{serial:04d}"
        if len(set(value)) > 2 and not value.startswith(("123456789", "98765432", "078051120", "457555462")):
            return f"{area:03d}", f"{group:02d}", f"{serial:04d}"


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        area = rng.choice(("415", "212", "617", "206", "303"))
        exchange = rng.choice([e for e in range(201, 990) if e % 100 != 11 and e != 555])
        return f"{area} {exchange} {rng.randint(1000, 9999)}"
    # Ofcom's drama range for London: valid format, never assigned to a real line.
    return f"+44 20 7946 0{rng.randint(0, 999):03d}"


def _gb_iban(rng: random.Random) -> str:
    bank = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
    bban = bank + "".join(str(rng.randint(0, 9)) for _ in range(14))
    rearranged = bban + "GB00"
    number = int("".join(str(int(ch, 36)) for ch in rearranged))
    return f"GB{98 - number % 97:02d}{bban}"


def _layout(
    rng: random.Random, lines: list[Line], agent_join_ms: int, target_ms: int
) -> tuple[list[SimPhrase], list[dict]]:
    """Place lines on the timeline: IVR prompts first, agent talk after the agent joins, filler to fill time."""
    closing = list(CLOSING)
    ivr = [line for line in lines if line[1] in IVR_LINES]
    talk = [line for line in lines if line[1] not in IVR_LINES]
    phrases: list[SimPhrase] = []
    leaks: list[dict] = []
    t = 400
    for purpose, text, sentiment, _ in ivr:
        t = _append(rng, phrases, purpose, text, sentiment, t)
    t = max(t, agent_join_ms + rng.randint(800, 2_000))
    for purpose, text, sentiment, leak in talk:
        if leak:
            leaks.append({"kind": leak, "phraseIndex": len(phrases)})
        t = _append(rng, phrases, purpose, text, sentiment, t)
    closing_ms = sum(_estimate_ms(text) + 900 for _, text, _ in closing)
    filler_index = rng.randrange(len(FILLER) // 2) * 2
    while t + closing_ms + 6_000 < target_ms:
        for purpose, text, sentiment in FILLER[filler_index : filler_index + 2]:
            t = _append(rng, phrases, purpose, text, sentiment, t)
        filler_index = (filler_index + 2) % len(FILLER)
        t += rng.randint(1_000, 8_000)  # hold music and silences between exchanges
    for purpose, text, sentiment in closing:
        t = _append(rng, phrases, purpose, text, sentiment, t)
    return phrases, leaks


def _estimate_ms(text: str) -> int:
    return 320 * len(text.split())


def _append(
    rng: random.Random,
    phrases: list[SimPhrase],
    purpose: str,
    text: str,
    sentiment,
    t: int,
    *,
    noise: float = 0.0,
    gap_ms: tuple[int, int] = (300, 1_400),
) -> int:
    words = len(_TOKEN_RE.findall(text))
    duration = sum(rng.randint(220, 460) for _ in range(words))
    phrases.append(SimPhrase(len(phrases), purpose, text, t, duration, sentiment, noise))
    return t + duration + rng.randint(*gap_ms)


def filler_phrase(transcript: SimTranscript, index: int) -> SimPhrase:
    """Phrase `index` of a large document beyond the script, derived from its own seed."""
    rng = random.Random(f"{transcript.seed}:filler:{index}")
    last = transcript.phrases[-1] if transcript.phrases else None
    base = (last.offset_ms + last.duration_ms) if last else 0
    offset = base + (index - len(transcript.phrases) + 1) * LARGE_PHRASE_SPACING_MS
    if transcript.lifelike:  # a marathon call of working lines, not the plain script's twelve on a loop
        purpose = "internal" if index % 2 == 0 else "external"
        text = rng.choice(_MARATHON_LINES[purpose])
        return SimPhrase(index, purpose, text, offset, rng.randint(1_200, 2_200), None)
    purpose, text, sentiment = FILLER[index % len(FILLER)]
    return SimPhrase(index, purpose, text, offset, rng.randint(1_200, 2_200), sentiment)


def all_phrases(transcript: SimTranscript):
    """Every phrase of the document in order: the script, then (large documents) generated filler."""
    yield from transcript.phrases
    for index in range(len(transcript.phrases), transcript.phrase_count):
        yield filler_phrase(transcript, index)


def iso_ms(value: datetime) -> str:
    """Genesys-style UTC timestamp with milliseconds and a Z suffix."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


# ---------------------------------------------------------------------------------------------- lifelike calls
#
# `generate_dataset(..., lifelike=True)`, what `make demo` serves. The plain scripts above stay as they are (the
# pipeline's tests pin them byte for byte); these write calls a supervisor believes:
# - traffic in each centre's business hours, fewer calls at weekends, the Lost & Stolen line open at night too;
# - one locale per division: Retail Banking is the UK centre (en-GB transcripts, +44 numbers, "£", "postcode",
#   "3rd December"), Cards and Collections the US one (en-US, +1 numbers, "$", "zip code", "December 3rd");
# - storylines per queue whose lines are templates with slots (amounts, merchants, dates, products, reasons, the
#   agent's name), working lines, holds and closings drawn without repeats: hundreds of distinct sentences;
# - agents who differ: WEAKER_AGENTS greet, disclose the recording, verify and offer more help less often, hold
#   longer, now and then say what the starter scorecard prohibits, speak less clearly (lower word confidence) and
#   meet more frustrated customers (negative sentiment); everyone else varies a little around a good standard;
# - line quality by queue: POOR_LINE_QUEUE's callers are on mobiles and abroad (lower word confidence), and any
#   call may be on a bad line;
# - the IVR never greets on the agent's behalf; only the UK IVR plays the recording notice, so US agents must
#   disclose it themselves (the starter scorecard's questions, reviews/evaluations/starter.py).
# Leaks and mask tokens work as in the plain scripts; SSN leaks go to US calls, IBAN leaks to UK calls, and a
# leaked phone number has the call's national format.

LIFELIKE_LIVE_SHARE = 0.05
BANK_NAME = "Northwind Bank"
WEAKER_AGENTS = ("Tom Becker", "Noah Williams")
POOR_LINE_QUEUE = "Lost & Stolen"


@dataclass(frozen=True)
class Locale:
    language: str  # the transcript's language
    currency: str
    utc_offset_hours: int  # the contact centre's local (winter) time
    ivr_discloses: bool  # the IVR plays the recording notice; otherwise the agent must give it
    words: dict  # slot -> the locale's word for it

    def caller_number(self, rng: random.Random) -> str:
        if self.language == "en-GB":  # Ofcom's drama range for London: valid, never assigned
            return f"tel:+442079460{rng.randint(100, 999):03d}"
        return f"tel:+1312555{rng.randint(100, 199):04d}"  # 555-01xx, the fictional range

    def service_number(self, rng: random.Random) -> str:
        if self.language == "en-GB":  # Ofcom's drama range for freephone numbers
            return f"tel:+448081570{rng.randint(100, 999):03d}"
        return f"tel:+1800555{rng.randint(100, 199):04d}"

    def spoken_phone(self, rng: random.Random) -> str:
        """A phone number as a caller reads it out, in the national format (a leak when it is not masked)."""
        if self.language == "en-GB":
            return f"020 7946 0{rng.randint(0, 999):03d}"
        area = rng.choice(("415", "212", "617", "206", "303"))
        exchange = rng.choice([e for e in range(201, 990) if e % 100 != 11 and e != 555])
        return f"{area} {exchange} {rng.randint(1000, 9999)}"

    def date(self, value: datetime) -> str:
        day = _ordinal(value.day)
        month = value.strftime("%B")
        return f"{day} {month}" if self.language == "en-GB" else f"{month} {day}"


LOCALES = {
    "en-US": Locale(
        "en-US",
        "$",
        -6,
        False,
        {
            "postal": "zip code",
            "national_id": "social security number",
            "current_account": "checking account",
            "cell": "cell phone",
            "days": "business days",
            "holiday": "vacation",
            "atm": "ATM",
            "autopay": "automatic payment",
            "payment_break": "payment deferral",
            "recognise": "recognize",
            "post": "mail",
            "weekend": "over the weekend",
            "fuel": "a gas station",
            "sorry": "I apologize",
        },
    ),
    "en-GB": Locale(
        "en-GB",
        "£",
        0,
        True,
        {
            "postal": "postcode",
            "national_id": "national insurance number",
            "current_account": "current account",
            "cell": "mobile",
            "days": "working days",
            "holiday": "holiday",
            "atm": "cash machine",
            "autopay": "direct debit",
            "payment_break": "payment holiday",
            "recognise": "recognise",
            "post": "post",
            "weekend": "at the weekend",
            "fuel": "a petrol station",
            "sorry": "I apologise",
        },
    ),
}
DIVISION_LOCALES = {"Retail Banking": "en-GB", "Cards": "en-US", "Collections": "en-US"}


def locale_of(queue: dict) -> Locale:
    """The locale of a queue's calls: its division's (lifelike datasets)."""
    return LOCALES[DIVISION_LOCALES.get(queue["name"].split(" - ", 1)[0], "en-US")]


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


@dataclass(frozen=True)
class AgentProfile:
    """How an agent handles calls; shares are per call."""

    greets: float = 0.97
    discloses: float = 0.96
    verifies: float = 0.98
    offers_more_help: float = 0.93
    prohibited: float = 0.0  # says something the starter scorecard prohibits
    extra_holds: int = 0
    hold_seconds: tuple[int, int] = (12, 35)
    noise: float = 0.04  # added to the ASR difficulty of the agent's own phrases
    frustration: float = 0.12  # the customer gets frustrated during the call
    pause_ms: tuple[int, int] = (150, 1_200)  # dead air between exchanges (typing, reading)


WEAKER_PROFILE = AgentProfile(
    greets=0.5,
    discloses=0.45,
    verifies=0.7,
    offers_more_help=0.45,
    prohibited=0.14,
    extra_holds=2,
    hold_seconds=(35, 95),
    noise=0.42,
    frustration=0.6,
    pause_ms=(1_000, 5_000),
)


def agent_profile(name: str) -> AgentProfile:
    """WEAKER_PROFILE for WEAKER_AGENTS; everyone else a little around the good standard (seeded by the name)."""
    if name in WEAKER_AGENTS:
        return WEAKER_PROFILE
    rng = random.Random(f"agent-profile:{name}")
    return AgentProfile(
        greets=rng.uniform(0.92, 1.0),
        discloses=rng.uniform(0.9, 1.0),
        offers_more_help=rng.uniform(0.85, 0.98),
        noise=rng.uniform(0.0, 0.1),
        frustration=rng.uniform(0.05, 0.18),
    )


@dataclass(frozen=True)
class _Topic:
    weight: float  # share of the traffic
    outbound_share: float
    line_noise: float  # ASR difficulty of the queue's typical line
    night_line: bool = False  # answers around the clock


QUEUE_TOPICS = {
    "General Enquiries": _Topic(1.2, 0.08, 0.06),
    "Mortgages": _Topic(0.8, 0.1, 0.05),
    "Lost & Stolen": _Topic(1.0, 0.03, 0.5, night_line=True),
    "Card Billing": _Topic(1.3, 0.06, 0.07),
    "Early Arrears": _Topic(0.9, 0.6, 0.08),
    "Financial Hardship": _Topic(0.8, 0.15, 0.06),
}


def _queue_topic(queue: dict) -> _Topic:
    return QUEUE_TOPICS.get(queue["name"].split(" - ", 1)[-1], _Topic(1.0, 0.1, 0.06))


def _lifelike_queue(rng: random.Random, queues: list[dict], plan: _Plan) -> dict:
    """A queue by traffic share; a planted SSN goes to a US call, an IBAN to a UK one."""
    eligible = queues
    if plan.leak in ("ssn", "iban"):
        wanted = "en-US" if plan.leak == "ssn" else "en-GB"
        eligible = [q for q in queues if locale_of(q).language == wanted] or queues
    return rng.choices(eligible, weights=[_queue_topic(q).weight for q in eligible])[0]


def _lifelike_length(rng: random.Random) -> int:
    # Most calls take 3-6 minutes, a few run past ten.
    return int(rng.triangular(75_000, 660_000, 200_000))


def _lifelike_start(
    rng: random.Random,
    window_start: datetime,
    window_end: datetime,
    live_until: datetime | None,
    live_share: float,
    duration_ms: int,
    queue: dict,
) -> tuple[datetime, bool]:
    """A start in the centre's business hours (rejection sampling; a window without open hours takes any time),
    and whether the call is live traffic (ends after the window, by live_until)."""
    duration = timedelta(milliseconds=duration_ms)
    if live_until is not None and live_until > window_end and rng.random() < live_share:
        end = window_end + (live_until - window_end) * rng.random()
        return max(window_start, end - duration).replace(microsecond=0), True
    latest = window_end - duration
    if latest <= window_start:
        return window_start, False
    offset = timedelta(hours=locale_of(queue).utc_offset_hours)
    night_line = _queue_topic(queue).night_line
    candidate = window_start
    for _ in range(40):
        candidate = window_start + (latest - window_start) * rng.random()
        if rng.random() < _traffic(candidate + offset, night_line):
            break
    return candidate.replace(microsecond=0), False


def _traffic(local: datetime, night_line: bool) -> float:
    """Relative call volume at a local moment: busy late mornings and early afternoons, quiet at weekends."""
    hour = local.hour + local.minute / 60
    day = (1.0, 1.0, 1.0, 1.0, 0.9, 0.45, 0.2)[local.weekday()]
    if not 8 <= hour < 20:
        return day * (0.25 if night_line else 0.01)
    return day * (1.0 if 10 <= hour < 12 or 13.5 <= hour < 16 else 0.7)


def _fit_in_window(start: datetime, duration_ms: int, window_start: datetime, limit: datetime) -> datetime:
    """Move a call that would end after `limit` (its window's end, or live_until) earlier, not before the window."""
    duration = timedelta(milliseconds=duration_ms)
    if start + duration > limit:
        start = max(window_start, limit - duration)
    return start.replace(microsecond=0)


class _LifelikeCall:
    """What one lifelike call's script is written from, and its slots (each use draws a fresh value)."""

    def __init__(
        self,
        rng: random.Random,
        queue: dict,
        agent: dict,
        direction: str,
        plan: _Plan,
        start: datetime,
        agent_join_ms: int,
        seed: str,
    ) -> None:
        self.rng = rng
        self.queue = queue
        self.topic_name = queue["name"].split(" - ", 1)[-1]
        self.locale = locale_of(queue)
        self.agent_first = agent["name"].split()[0]
        self.profile = agent_profile(agent["name"])
        self.direction = direction
        self.plan = plan
        self.local = start + timedelta(hours=self.locale.utc_offset_hours)
        self.agent_join_ms = agent_join_ms
        line = _queue_topic(queue).line_noise
        if rng.random() < 0.2:  # a mobile in a car, a speakerphone, a call from abroad
            line += rng.uniform(0.1, 0.35)
        self.line_noise = min(line, 1.0)
        # What the agent does on this call, from its own stream: editing the lines never changes who passes.
        behaviour = random.Random(f"{seed}:agent")
        profile = self.profile
        self.greets = behaviour.random() < profile.greets
        self.discloses = behaviour.random() < profile.discloses
        self.verifies = behaviour.random() < profile.verifies
        self.offers_more_help = behaviour.random() < profile.offers_more_help
        self.prohibited = behaviour.random() < profile.prohibited
        self.frustrated = behaviour.random() < profile.frustration
        self.used: set[str] = set()  # lines already said in this call
        self.story_slots: dict[str, str] = {}

    def fill(self, template: str, *, story: bool = False) -> str:
        """The template with its slots drawn; in the story (`story`) a slot keeps its value for the whole call, so
        the {day} the customer asks for is the {day} the agent sets up."""
        return template.format_map(_Slots(self, self.story_slots if story else None))

    def part_of_day(self) -> str:
        hour = self.local.hour
        return "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


class _Slots(dict):
    """format_map mapping: every `{slot}` of a template is drawn when the template is filled."""

    def __init__(self, call: _LifelikeCall, kept: dict[str, str] | None = None) -> None:
        super().__init__()
        self.call = call
        self.kept = kept

    def __missing__(self, key: str) -> str:
        if self.kept is None or key in FRESH_SLOTS:
            return self._draw(key)
        if key not in self.kept:
            self.kept[key] = self._draw(key)
        return self.kept[key]

    def _draw(self, key: str) -> str:
        call, rng = self.call, self.call.rng
        locale = call.locale
        if key in locale.words:
            return locale.words[key]
        if key == "agent":
            return call.agent_first
        if key == "bank":
            return BANK_NAME
        if key == "amount":
            cents = rng.choice((0, 0, 50, 99, 49, 95, 20, 75))
            return f"{locale.currency}{rng.randint(4, 480)}.{cents:02d}"
        if key == "big_amount":
            return f"{locale.currency}{rng.randint(600, 2_400):,}.{rng.choice((0, 15, 40, 60, 85)):02d}"
        if key == "fee":
            return f"{locale.currency}{rng.choice((25, 35, 49, 59, 95, 99, 120, 150))}"
        if key == "rate":
            return f"{rng.randint(3, 6)}.{rng.randint(10, 95)}"
        if key == "past_date":
            return locale.date(call.local - timedelta(days=rng.randint(2, 20)))
        if key == "future_date":
            return locale.date(call.local + timedelta(days=rng.randint(3, 12)))
        if key == "day":
            return _ordinal(rng.choice((1, 5, 10, 15, 20, 25, 28)))
        if key == "month":
            month = (call.local.month + rng.randint(1, 5) - 1) % 12 + 1
            return datetime(2000, month, 1).strftime("%B")
        if key == "when":
            weekday = (call.local - timedelta(days=rng.randint(2, 5))).strftime("%A")
            return rng.choice(("yesterday", "this morning", "last night", f"on {weekday}", locale.words["weekend"]))
        if key == "business_days":
            return f"{rng.choice(('three', 'five', 'seven', 'ten'))} {locale.words['days']}"
        if key == "months":
            return rng.choice(("three", "six", "twelve"))
        if key == "part_of_day":
            return call.part_of_day()
        if key == "greeting_time":
            return "morning" if call.local.hour < 12 else "afternoon"
        if key in SLOT_WORDS:
            return self.call.fill(rng.choice(SLOT_WORDS[key]))
        raise KeyError(key)


FRESH_SLOTS = frozenset({"big_amount"})  # "it goes from {big_amount} to {big_amount}"
SLOT_WORDS = {
    "merchant": (
        "a coffee shop",
        "an online store called Brightmart",
        "a streaming service",
        "{fuel}",
        "a hotel in Lisbon",
        "an airline",
        "a food delivery app",
        "a furniture shop",
        "a parking app",
        "a gym I cancelled months ago",
        "a supermarket",
        "an electronics store",
    ),
    "product": ("savings account", "credit card", "{current_account}", "joint account", "travel card"),
    "card_kind": ("debit card", "credit card", "replacement card", "new card"),
    "lost_reason": (
        "I think I left it in a taxi",
        "it must have fallen out of my pocket",
        "I haven't seen it since {when}",
        "I think I left it at a restaurant {when}",
        "I dropped my purse somewhere in town",
    ),
    "moved": ("we've just moved house", "I moved {when}", "I've moved in with my partner", "we moved last month"),
    "arrears_reason": (
        "my pay came in late this month",
        "I changed banks and forgot to move the {autopay}",
        "I had some unexpected bills",
        "I was in hospital for a couple of weeks",
        "my hours were cut at work",
    ),
    "bill": ("gas", "phone", "electricity", "water", "internet"),
}

# A storyline: steps of (purpose, sentiment, phrasing variants); `{slot}`s are filled per call.
Step = tuple[str, "int | None", tuple[str, ...]]

STORYLINES: dict[str, tuple[tuple[Step, ...], ...]] = {
    "General Enquiries": (
        (
            (
                "external",
                None,
                (
                    "Hi, I need to update my address on the account.",
                    "Hello, I'd like to update my address, {moved}.",
                    "Hi, yes, {moved} and I want to update my address.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Of course, I can help with that. What's the new address?",
                    "No problem, I can update that for you now. Can I take the new address?",
                ),
            ),
            (
                "external",
                None,
                ("It's [location], and the {postal} is [postal code].", "The new one is [location], [postal code]."),
            ),
            (
                "external",
                -1,
                (
                    "My statement from {past_date} still went to the old place though.",
                    "I've already told you once and the letters still go to the old address.",
                ),
            ),
            (
                "internal",
                1,
                (
                    "Thank you. That's updated, and your next statement will go to the new address.",
                    "Lovely, that's changed. You'll get a letter confirming it within {business_days}.",
                    "All done. Your cards and statements will go to the new address from now on.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "Hi, my {card_kind} still hasn't arrived.",
                    "I ordered a {card_kind} on {past_date} and it hasn't arrived yet.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I'm sorry about that. Let me check the delivery status for you.",
                    "Let me have a look at when it was sent out.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I can see it was sent on {past_date} to the address we hold.",
                    "It went out on {past_date}, but it may have been held up in the {post}.",
                ),
            ),
            ("external", -1, ("That's strange, nothing's come through the door.", "Well, it's been over a week now.")),
            (
                "internal",
                1,
                (
                    "I'll cancel that one and order a new card. It should be with you by {future_date}.",
                    "I've ordered another one by tracked delivery, it will be with you within {business_days}.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "I'm locked out of the online banking after too many attempts.",
                    "The app keeps telling me my login is blocked.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Okay, I can reset that for you now that you're verified.",
                    "That happens after a few wrong passwords, I can unlock it for you.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I've sent a reset code to the {cell} number ending [phone].",
                    "You should get a text on your {cell} in a moment with a one time code.",
                ),
            ),
            ("external", 1, ("Got it, that's come through now.", "Yes, I've got the text, thank you.")),
        ),
        (
            (
                "external",
                None,
                (
                    "I'd like to close my {product}.",
                    "I want to cancel my {product}, I don't really use it anymore.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I'm sorry to hear that. Can I ask why you'd like to close it?",
                    "I can do that for you. May I ask what's made you decide?",
                ),
            ),
            (
                "external",
                None,
                ("I've found a better rate somewhere else, to be honest.", "I'm moving everything into one account."),
            ),
            (
                "internal",
                None,
                (
                    "I understand. There's {amount} left in it, where would you like that to go?",
                    "Okay. The balance is {amount}, shall I move it to your {current_account}?",
                ),
            ),
            ("external", None, ("Just move it to my {current_account}, please.", "Yes, please do.")),
            (
                "internal",
                1,
                (
                    "That's done. The account will close within {business_days}.",
                    "All sorted, you'll get a closing statement in the {post}.",
                ),
            ),
        ),
    ),
    "Mortgages": (
        (
            (
                "external",
                None,
                (
                    "Hi, I have a question about my mortgage payment date.",
                    "Can I move my mortgage payment to the {day} of the month?",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Sure, what date would suit you better?",
                    "Yes, that's something we can change. Which day works for you?",
                ),
            ),
            (
                "external",
                None,
                ("The {day} would be much better, that's when I get paid.", "Just after payday, so the {day}."),
            ),
            (
                "internal",
                1,
                (
                    "Yes, we can change that from next month. Your next payment of {big_amount} is taken on the {day}.",
                    "Done, from {month} the payment of {big_amount} comes out on the {day}.",
                ),
            ),
        ),
        (
            (
                "external",
                None,
                (
                    "I'd like to make an overpayment of {big_amount} on my mortgage.",
                    "I've had a bonus and I want to pay some of the mortgage off.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Of course. You can overpay up to ten percent a year without a charge.",
                    "That's great. Overpayments up to ten percent a year are free on your deal.",
                ),
            ),
            (
                "external",
                None,
                (
                    "Will that bring the monthly payment down or shorten the term?",
                    "Does it reduce what I pay each month?",
                ),
            ),
            (
                "internal",
                1,
                (
                    "It reduces the monthly payment from {month}. It goes from {big_amount} to {big_amount}.",
                    "We can do either. Most people keep the term, so the payment drops from {month}.",
                ),
            ),
        ),
        (
            (
                "external",
                None,
                (
                    "My fixed rate ends in {month} and I'm not sure what happens next.",
                    "I got a letter saying my deal is ending in {month}.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "When it ends you'd move onto our standard variable rate, unless you choose a new deal.",
                    "You can pick a new rate up to six months before the current one ends.",
                ),
            ),
            ("external", None, ("What rates have you got at the moment?", "What would a new fixed rate look like?")),
            (
                "internal",
                None,
                (
                    "For a two year fix it's currently {rate} percent, with a fee of {fee}.",
                    "Our five year fix is {rate} percent at the moment, and there's a product fee of {fee}.",
                ),
            ),
            ("external", -1, ("That's a lot more than I'm paying now.", "Hm, that's higher than I hoped.")),
            (
                "internal",
                None,
                (
                    "I'll send the details to the email we hold, [email], so you can compare.",
                    "I'll send you an illustration so you can see the monthly cost.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "Things are really tight this month, can I take a {payment_break}?",
                    "I'm struggling with the mortgage at the moment.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I'm sorry to hear that. Let me see what options we have.",
                    "Thanks for telling us early, that really helps.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "We could reduce the payments for {months} months, and add the difference to the balance.",
                    "One option is a short {payment_break}, but interest still builds up during it.",
                ),
            ),
            (
                "external",
                None,
                ("Okay, I think the reduced payments would work.", "Can you send me something in writing first?"),
            ),
        ),
    ),
    "Lost & Stolen": (
        (
            (
                "external",
                -1,
                ("Hi, I've lost my card, {lost_reason}.", "I think I've lost my card and I'm really worried."),
            ),
            (
                "internal",
                None,
                (
                    "I'm sorry to hear that. I'll block the card straight away.",
                    "Okay, let's get that stopped right now.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Can you see any payments you don't {recognise} since {when}?",
                    "Have you spotted anything on the account that wasn't you?",
                ),
            ),
            (
                "external",
                None,
                (
                    "No, the last one was {amount} at {merchant}, and that was me.",
                    "I don't think so, the last thing was {merchant}.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "The card is now blocked. A new one will arrive within {business_days}.",
                    "That's done, your new card will be with you by {future_date}.",
                ),
            ),
            ("external", 1, ("Thank you, that's a relief.", "Great, thanks for sorting that so quickly.")),
        ),
        (
            (
                "external",
                -1,
                (
                    "My wallet was stolen {when}, with all my cards in it.",
                    "Someone took my bag {when} and my cards were in it.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I'm so sorry, that's horrible. I'm blocking both cards now.",
                    "That's awful, let's make sure nobody can use them.",
                ),
            ),
            (
                "external",
                -1,
                (
                    "There's a payment of {amount} at {merchant} that wasn't me.",
                    "I can see {amount} going to {merchant} and that wasn't me.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I've raised a fraud claim for the {amount}, you'll hear from our team within {business_days}.",
                    "I've reported that as fraud, and the money will be put back while we investigate.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Do you have a crime reference from the police?",
                    "It's worth reporting the theft to the police as well.",
                ),
            ),
            ("external", None, ("Not yet, I'm going to the station after this.", "Yes, I reported it this morning.")),
        ),
        (
            (
                "external",
                -1,
                (
                    "The {atm} kept my card and I don't know why.",
                    "I was taking money out and the {atm} swallowed my card.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "That can happen if the machine loses its connection. I'll cancel that card to be safe.",
                    "Don't worry, a retained card gets destroyed by the bank that runs the machine.",
                ),
            ),
            (
                "external",
                None,
                ("How am I supposed to get cash until the new one comes?", "I need money for the weekend though."),
            ),
            (
                "internal",
                1,
                (
                    "You can use your card in the app right away, and the new one arrives by {future_date}.",
                    "I can add the new card to your phone wallet today, so you can still pay.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "I'm on {holiday} in [location] and my card's been declined.",
                    "I'm abroad and my card stopped working.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Let me check. It looks like our fraud system stopped a payment of {amount}.",
                    "I can see a block on the card from our fraud checks.",
                ),
            ),
            ("external", None, ("Yes, that was me, at {merchant}.", "That was me trying to pay for the hotel.")),
            (
                "internal",
                1,
                (
                    "Thanks for confirming. I've taken the block off, it should work now.",
                    "Okay, that's unblocked. Enjoy the rest of your trip.",
                ),
            ),
        ),
    ),
    "Card Billing": (
        (
            (
                "external",
                -1,
                (
                    "There's a charge on my statement I don't {recognise}.",
                    "Hi, I've got a charge on my statement that I didn't make.",
                ),
            ),
            (
                "internal",
                None,
                ("Let me look into that charge on my statement view.", "Okay, let's have a look at it together."),
            ),
            (
                "external",
                -1,
                (
                    "It's for {amount} from {merchant} on {past_date}.",
                    "It says {merchant}, {amount}, and I've never used them.",
                ),
            ),
            (
                "internal",
                1,
                (
                    "I've raised a dispute and you'll get a temporary credit of {amount} while we look into it.",
                    "I've disputed that for you. You'll see the {amount} back within {business_days}.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "I've been charged twice for the same thing at {merchant}.",
                    "There are two identical payments on my card.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "I can see two payments of {amount} on {past_date}.",
                    "Yes, there are two of them, both for {amount}.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "One of them is only pending, it should drop off within {business_days}.",
                    "The second one is a pre-authorisation and it will fall off by itself.",
                ),
            ),
            ("external", None, ("Okay, as long as I'm not paying twice.", "And if it doesn't?")),
            (
                "internal",
                None,
                (
                    "If it's still there on {future_date}, call us and we'll refund it straight away.",
                    "I've put a note on the account, so if it stays we can refund it without another dispute.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "Why have I been charged an annual fee of {fee}? I was told there wasn't one.",
                    "I've just noticed a {fee} fee on my credit card.",
                ),
            ),
            ("internal", None, ("Let me check your card type.", "I can see the fee was added on {past_date}.")),
            (
                "internal",
                1,
                (
                    "You're right, it shouldn't have been added. I'm refunding the {fee} now.",
                    "I can refund it as a goodwill gesture, and switch you to the card with no fee.",
                ),
            ),
            ("external", 1, ("Thanks, I appreciate that.", "Okay, that's fair.")),
        ),
        (
            (
                "external",
                None,
                (
                    "{merchant} says they refunded me {amount} on {past_date}, but I can't see it.",
                    "I'm still waiting for a refund from {merchant}.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Refunds can take up to {business_days} to reach the card.",
                    "I can see it's pending, it should land in the next day or so.",
                ),
            ),
            ("external", -1, ("It's been longer than that already.", "That's what they told me last week.")),
            (
                "internal",
                None,
                (
                    "If it's not there by {future_date}, we can raise a claim with the merchant for you.",
                    "I'll open a claim now, so you don't have to call again.",
                ),
            ),
        ),
        (
            ("external", None, ("I'd like to cancel my credit card.", "Can I cancel my card? I don't use it anymore.")),
            (
                "internal",
                None,
                (
                    "I can help with that. There's a balance of {amount} to pay off first.",
                    "Sure. Can I ask why you want to cancel it?",
                ),
            ),
            ("external", None, ("I'll pay that off today.", "The fees just aren't worth it for me.")),
            (
                "internal",
                None,
                (
                    "Once the balance is clear the account closes, and we'll confirm it in writing.",
                    "Okay, I've put the cancellation through.",
                ),
            ),
        ),
    ),
    "Early Arrears": (
        (
            (
                "internal",
                None,
                (
                    "I'm calling about a missed payment of {amount} on your {product}.",
                    "I'm calling because the last payment on your {product} didn't come through.",
                ),
            ),
            ("external", None, ("Yes, sorry, I know, {arrears_reason}.", "Oh, I didn't realise. {arrears_reason}.")),
            ("internal", None, ("Would you be able to make a payment today?", "Can we get that payment sorted today?")),
            ("external", None, ("I can pay half now and the rest on the {day}.", "Yes, I can pay it all now.")),
            (
                "internal",
                1,
                (
                    "Great, we can take a payment by card now.",
                    "Perfect, I'll set that up, and there won't be a late fee.",
                ),
            ),
        ),
        (
            (
                "internal",
                None,
                (
                    "Your {autopay} was returned on {past_date}, so the payment is overdue.",
                    "I can see the {autopay} for {amount} bounced on {past_date}.",
                ),
            ),
            ("external", -1, ("That's odd, there was money in the account.", "Oh no, {arrears_reason}.")),
            (
                "internal",
                None,
                (
                    "Would you like me to set up a new {autopay} from your other account?",
                    "We can take the payment again on the {day} if that helps.",
                ),
            ),
            (
                "external",
                None,
                ("Yes please, use my other account.", "Yes please, take it again on the {day}."),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "I got a letter saying I'd missed a payment.",
                    "I've had a text about a late payment and I'm not happy about it.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Let me check. The payment of {amount} due on {past_date} hasn't reached us.",
                    "Yes, I can see the payment due on {past_date} is still outstanding.",
                ),
            ),
            (
                "external",
                None,
                ("I'll pay it now, can you take a card payment?", "Can I pay half now and half on the {day}?"),
            ),
            (
                "internal",
                1,
                (
                    "Of course, I can take the card payment now, and you won't get any more letters.",
                    "Yes, we can split it like that, I've set up a promise to pay.",
                ),
            ),
        ),
    ),
    "Financial Hardship": (
        (
            (
                "external",
                -1,
                (
                    "I lost my job {when} and I can't keep up with the payments.",
                    "I've lost my job and I'm really worried about the payments.",
                ),
            ),
            (
                "internal",
                1,
                (
                    "I'm really sorry to hear that. Let's look at what we can do together.",
                    "Thank you for calling us, that's the right thing to do.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "Could you manage {amount} a month for the next {months} months?",
                    "What could you afford each month at the moment?",
                ),
            ),
            ("external", None, ("I think so, yes.", "Maybe {amount}, but no more than that.")),
            (
                "internal",
                1,
                (
                    "Okay, we can set up a payment plan that works for you.",
                    "That's fine, I'll set up the plan at {amount} a month.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "I'm not happy. I've been waiting for ages and nobody calls back.",
                    "I've called three times and nobody has called me back.",
                ),
            ),
            (
                "internal",
                None,
                ("I understand, and {sorry} for the wait.", "{sorry}, that's not the service we want you to have."),
            ),
            (
                "external",
                -1,
                ("I was promised a call back on {past_date}.", "Every time I call I have to explain it all again."),
            ),
            (
                "internal",
                None,
                (
                    "I'll log a complaint for you and look after the case myself.",
                    "I've made a note, and I'll call you back myself by {future_date}.",
                ),
            ),
        ),
        (
            (
                "external",
                -1,
                (
                    "I've been off sick since {month} and money is really tight.",
                    "I've been ill and I'm behind on everything.",
                ),
            ),
            (
                "internal",
                1,
                (
                    "I'm sorry you've been unwell. We can pause the interest while you recover.",
                    "Thank you for letting us know. There's no pressure to pay today.",
                ),
            ),
            (
                "internal",
                None,
                (
                    "We'll hold collections for thirty days, and I'll send you a budget planner.",
                    "I can refer you to a free debt advice charity as well, if that would help.",
                ),
            ),
            ("external", 1, ("That really helps, thank you.", "Okay, that takes some pressure off.")),
        ),
    ),
}

# The middle of a call: the agent working, the customer answering what was said. Each working line names the
# answers that fit it; lines and answers are drawn without repeats within a call, and once a call has used them
# all it falls back to BACKCHANNELS, which people do repeat.
WAITING = (
    "Sure, no problem.",
    "Take your time.",
    "That's fine.",
    "Okay.",
    "Is it going to take long?",
    "No worries.",
    "I'm not in a rush.",
)
NOTED = (
    "Okay, thanks.",
    "Great.",
    "That sounds good.",
    "Okay, that makes sense.",
    "I'm just writing that down.",
    "That's good to know.",
    "Right, got it.",
    "Do I need to do anything?",
)
CONFIRMED = ("Yes, that's right.", "Yes, that's correct.", "That's right, yes.")
AGENT_WORKING: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Let me just check that for you.", WAITING),
    ("Bear with me one moment.", WAITING),
    ("I'm just pulling up the account now.", WAITING),
    ("The system's a little slow today, sorry about that.", ("It's always slow, isn't it?", *WAITING)),
    ("Just bear with me while I read through this.", WAITING),
    ("I'm confirming the details with my team leader, one second.", WAITING),
    ("Okay, the screen's just refreshing.", WAITING),
    ("I've just got to fill in a couple of fields here.", WAITING),
    ("Right, nearly there now.", WAITING),
    ("I can see the notes from your last call on {past_date}.", ("Yes, that was about the same thing.", *NOTED)),
    ("I'm just reading the notes from the team who looked at it on {past_date}.", WAITING),
    ("I'm just adding a note to the account so the next person can see it.", NOTED),
    ("That's gone through on my side.", NOTED),
    ("Okay, I can see what's happened here.", ("What was it?", "Oh, good.")),
    ("I'll send you a confirmation by text as well.", ("Could you send it by email instead?", *NOTED)),
    ("I've sent a letter to the address on the account too.", ("Will I get that in writing?", *NOTED)),
    ("You'll see that reflected on your next statement.", NOTED),
    ("So what I've done is put a note on the case, and it's marked as urgent.", NOTED),
    ("You should get a text from us by {future_date} at the latest.", NOTED),
    ("It can take up to {business_days} for that to show in the app.", ("That's quite a while.", *NOTED)),
    ("I'll email you a summary of everything we've agreed today.", NOTED),
    ("That's come back fine, so we're good to go.", NOTED),
    ("If anything changes, just give us a call and quote today's date.", NOTED),
    (
        "I can see you've been with us a long time, thank you for that.",
        ("Over ten years now, I think.", "Yes, a long time."),
    ),
    ("The {amount} is showing as pending at the moment.", ("When will it go through?", *NOTED)),
    ("The last statement went out on {past_date}, with a balance of {amount}.", ("Okay, that sounds about right.",)),
    ("Is the {cell} number ending [phone] still the best one for you?", ("Yes, that's still the right one.",)),
    (
        "Can I just check, is the email we hold still [email]?",
        ("Yes, that's still the right one.", "No, I've changed it."),
    ),
    ("So just to confirm, that's {amount}, is that right?", CONFIRMED),
    ("Let me read that back to you to make sure I've got it right.", CONFIRMED),
    ("And you'd like that to start from {future_date}?", ("Yes, please.", *CONFIRMED)),
    (
        "I can see a payment of {amount} to {merchant} on {past_date}, is that one yours?",
        ("Yes, that one's mine.", "No, that wasn't me."),
    ),
    ("Your {product} is all up to date apart from this.", ("Good, that's a relief.", "Okay, good.")),
    ("There's nothing else outstanding on the {product}.", ("Good, that's a relief.", "Okay, good.")),
    (
        "I can also switch you to paperless statements while we're here, if you'd like.",
        ("Paperless is fine, yes.", "No, I prefer paper, thanks."),
    ),
    (
        "Have you got the app open by any chance?",
        ("I've got the app open now.", "I'm at work, so I can't check right now."),
    ),
)
BACKCHANNELS = ("Okay.", "Right.", "Mm-hm.", "Yeah.", "Sure.", "One moment.")
POOR_LINE_LINES = (
    "Sorry, you're breaking up a bit.",
    "Sorry, the signal's bad here, can you repeat that?",
    "Hello? Are you still there?",
)
FRUSTRATED_LINES = (
    "I've already explained this twice.",
    "This is the third time I've called about this.",
    "Why does this always take so long?",
    "Can I speak to a manager, please?",
    "You're not really listening to me.",
    "I've been on hold for ages already.",
)
WEAKER_LINES = ("Uh, hang on.", "I don't know, let me see.", "Yeah, that's just how the system works.", "Um, one sec.")
PROHIBITED_LINES = (
    "Look, I need you to calm down.",
    "Honestly, that's not my problem, you'll have to ask the shop.",
)
HOLD_START = (
    "I'm going to put you on a short hold while I check that.",
    "Do you mind if I put you on a short hold?",
    "I need to check with another team, I'll put you on hold for a moment.",
)
HOLD_END = ("Thanks for holding.", "Sorry about the wait, thanks for holding.", "Thank you for your patience.")

OPENINGS_INBOUND = (
    "Thanks for calling {bank}, you're through to {agent}. How can I help?",
    "Good {part_of_day}, thank you for calling {bank}, my name is {agent}. How can I help you today?",
    "Good {part_of_day}, thanks for calling {bank}, this is {agent}.",
    "Thank you for calling {bank}, {agent} speaking. What can I do for you?",
)
WEAKER_OPENINGS_INBOUND = ("Yeah, hi, {agent} here.", "Hello, {agent} speaking, what's the account number?")
OPENINGS_OUTBOUND = (  # "good evening" is not a greeting the starter scorecard knows: US calls run until 8 pm
    "Good {greeting_time}, this is {agent} calling from {bank}.",
    "Good {greeting_time}, it's {agent} from {bank}, thanks for taking my call.",
)
WEAKER_OPENINGS_OUTBOUND = ("Hi, it's {agent}, from the bank.",)
DISCLOSURES = (
    "Just so you know, this call is recorded for quality and training.",
    "This call may be recorded for training purposes.",
    "Just to let you know, this call is being recorded.",
)
VERIFY_INTROS = (
    "Before we start, I need to verify your identity.",
    "First I just need to confirm your identity.",
    "I'll need to ask you a couple of security questions first.",
)
SKIPPED_VERIFICATION = ("So, what's this about?", "Okay, go on.")
LIFELIKE_MASKED = (
    ("Can I have your full name, please?", "Yes, it's [name]."),
    ("And the {postal} on the account?", "It's [postal code]."),
    ("What's the best number to reach you on?", "You can call me on [phone]."),
    ("Could you confirm your email address?", "Sure, it's [email]."),
    ("Can you read me the long number on the card?", "The card number is [card number]."),
    ("And the expiry date?", "It expires [card expiry date]."),
    ("And the first line of your address?", "It's [location]."),
    ("Can you confirm your {national_id}?", "Yes, it's [national id]."),
    ("What's the username on the online banking?", "It's [user info]."),
    ("And your mother's maiden name?", "It's [personal info]."),
)
LIFELIKE_UNMASKED = (
    ("Can you tell me what the last payment was for?", "It was for the {bill} bill, I think."),
    ("And when did you last log in?", "Maybe last week."),
    ("Roughly what was your last deposit?", "Around {amount}, I think."),
)
CLOSING_OFFERS = (
    "Is there anything else I can help you with today?",
    "Is there anything else I can do for you?",
    "Is there anything else you need while you're on the line?",
)
NO_MORE_HELP_OFFERED = ("Right, that's all done then.", "Okay, that's sorted.")
CLOSING_REPLIES = (
    ("No, that's everything. Thank you so much.", 1),
    ("No, that's all, thanks for your help.", 1),
    ("No, that's it, thanks.", None),
    ("That's everything, you've been really helpful.", 1),
)
FRUSTRATED_CLOSING_REPLIES = (("No. I just hope it's actually fixed this time.", -1), ("No. Fine.", -1))
GOODBYES = ("Thanks for calling {bank}. Have a great {part_of_day}.", "Thank you for calling, take care.")
GOODBYES_OUTBOUND = ("Thanks for your time today, take care.", "Thank you, have a good {part_of_day}.")
WEAKER_GOODBYES = ("Okay, bye.", "Bye then.")


@dataclass(frozen=True)
class _Say:
    """One lifelike line; `pause_ms` is the silence before it (a hold)."""

    purpose: str
    text: str
    sentiment: int | None = None
    leak: str | None = None
    pause_ms: int = 0


def _pick(rng: random.Random, options, used: set[str], fallback=None):
    """An option not used yet in this call when there is one (so a call does not loop its lines); when all are
    used, one of `fallback` (or of the options again)."""
    fresh = [o for o in options if (o if isinstance(o, str) else o[0]) not in used]
    if not fresh:
        return rng.choice(fallback or options)
    choice = rng.choice(fresh)
    used.add(choice if isinstance(choice, str) else choice[0])
    return choice


def _unmasked(call: _LifelikeCall, options):
    """Without redaction (a no-markers call) nothing can be masked: only the options without a mask token."""
    if not call.plan.no_markers:
        return options
    return tuple(o for o in options if "[" not in o)


def _lifelike_script(rng: random.Random, call: _LifelikeCall) -> tuple[list[_Say], list[_Say], list[_Say]]:
    """(IVR prompts, the conversation up to the working part, the closing) of one call."""
    profile, locale, plan, used = call.profile, call.locale, call.plan, call.used

    def say(purpose: str, template: str, sentiment=None) -> _Say:
        if call.frustrated and sentiment == 1:
            sentiment = None  # a frustrated caller is not won over by the fix
        return _Say(purpose, call.fill(template, story=True), sentiment)

    variant = rng.randrange(12)  # one reading of the storyline: the n-th variants of its steps go together

    def told(variants: tuple[str, ...]) -> str:
        return variants[variant % len(variants)]

    ivr: list[_Say] = []
    talk: list[_Say] = []
    storyline = rng.choice(STORYLINES.get(call.topic_name, STORYLINES["General Enquiries"]))
    steps = list(storyline)
    agent_discloses = call.direction == "outbound" or not locale.ivr_discloses
    if call.direction == "inbound":
        ivr.append(say("internal", "You've reached {bank}."))
        if locale.ivr_discloses:
            ivr.append(say("internal", "Calls may be recorded for quality and training purposes."))
        ivr.append(say("internal", "Please tell us in a few words why you're calling today."))
        ivr.append(say("internal", "Thank you. Please hold while we connect you to the next available advisor."))
        greeting = OPENINGS_INBOUND if call.greets else WEAKER_OPENINGS_INBOUND
        talk.append(say("internal", rng.choice(greeting)))
    else:
        greeting = OPENINGS_OUTBOUND if call.greets else WEAKER_OPENINGS_OUTBOUND
        talk.append(say("internal", rng.choice(greeting)))
        talk.append(say("external", rng.choice(("Hi, yes, go ahead.", "Oh, hello.", "Yes, speaking."))))
    if agent_discloses and call.discloses:
        talk.append(say("internal", rng.choice(DISCLOSURES)))
    # The caller says why they call first (inbound); the agent opens an outbound storyline itself, or returns
    # the customer's call.
    if call.direction == "inbound" and steps[0][0] == "external":
        purpose, sentiment, variants = steps.pop(0)
        talk.append(say(purpose, told(_unmasked(call, variants)), sentiment))
    elif steps[0][0] == "external":
        talk.append(say("internal", "I'm returning your call, you left us a message {when}."))
    if call.verifies:
        talk.append(say("internal", rng.choice(VERIFY_INTROS)))
    else:
        talk.append(say("internal", rng.choice(SKIPPED_VERIFICATION)))
    pairs = LIFELIKE_UNMASKED if plan.no_markers else LIFELIKE_MASKED
    count = 2 if plan.no_markers else rng.randint(2, 4)
    for question, answer in rng.sample(pairs, count):
        talk += [say("internal", question), say("external", answer)]
    if plan.leak:
        talk += [_Say(p, t, s, leak) for p, t, s, leak in _leak_lines(rng, plan.leak, locale)]
    for purpose, sentiment, variants in steps:
        variants = _unmasked(call, variants)
        if not variants:
            continue
        talk.append(say(purpose, told(variants), sentiment))
        if purpose == "external" and call.frustrated and rng.random() < 0.35:
            talk.append(say("external", _pick(rng, FRUSTRATED_LINES, used), -1))
    if call.prohibited:
        middle = len(talk) // 2 + 1
        talk.insert(middle, say("internal", rng.choice(PROHIBITED_LINES)))
        talk.insert(middle + 1, say("external", "Excuse me? Don't talk to me like that.", -1))
    if plan.hostile:
        talk.append(_Say("external", f"I typed {HOSTILE_TEXT} into the chat box."))

    weaker = profile is WEAKER_PROFILE
    offers = call.offers_more_help
    reply, reply_sentiment = rng.choice(FRUSTRATED_CLOSING_REPLIES if call.frustrated else CLOSING_REPLIES)
    if weaker and not offers:
        goodbye = WEAKER_GOODBYES
    else:
        goodbye = GOODBYES if call.direction == "inbound" else GOODBYES_OUTBOUND
    closing = [  # always three phrases, like CLOSING (shape.py moves the last len(CLOSING) to the call's end)
        say("internal", rng.choice(CLOSING_OFFERS if offers else NO_MORE_HELP_OFFERED)),
        say("external", reply, reply_sentiment),
        say("internal", rng.choice(goodbye), 1 if not call.frustrated and goodbye is not WEAKER_GOODBYES else None),
    ]
    return ivr, talk, closing


def _working_exchange(rng: random.Random, call: _LifelikeCall, used: set[str]) -> list[_Say]:
    """Two or three lines of the agent working through the case, and the customer's answer to what was said."""
    working = [w for w in AGENT_WORKING if not (call.plan.no_markers and "[" in w[0])]  # no masks without redaction
    fresh = [w for w in working if w[0] not in used]
    if not fresh:
        return [_Say("internal", rng.choice(BACKCHANNELS)), _Say("external", rng.choice(BACKCHANNELS))]
    said, answers = rng.choice(fresh)
    used.add(said)
    lines = [_Say("internal", call.fill(said))]
    poor_line = [line for line in POOR_LINE_LINES if line not in used]
    frustrated = [line for line in FRUSTRATED_LINES if line not in used]
    if call.line_noise > 0.3 and poor_line and rng.random() < 0.3:
        lines.append(_Say("external", _pick(rng, poor_line, used), -1))
    elif call.frustrated and frustrated and rng.random() < 0.3:
        lines.append(_Say("external", _pick(rng, frustrated, used), -1))
    else:
        lines.append(_Say("external", call.fill(_pick(rng, answers, used, BACKCHANNELS))))
    if call.profile is WEAKER_PROFILE and rng.random() < 0.35:
        lines.append(_Say("internal", _pick(rng, WEAKER_LINES, used, BACKCHANNELS)))
    return lines


def _hold(rng: random.Random, call: _LifelikeCall, used: set[str]) -> list[_Say]:
    low, high = call.profile.hold_seconds
    return [
        _Say("internal", _pick(rng, HOLD_START, used)),
        _Say("external", rng.choice(("Sure.", "Okay.", "That's fine."))),
        _Say("internal", _pick(rng, HOLD_END, used), pause_ms=rng.randint(low, high) * 1000),
    ]


def _lifelike_layout(
    rng: random.Random, call: _LifelikeCall, script: tuple[list[_Say], list[_Say], list[_Say]], target_ms: int
) -> tuple[list[SimPhrase], list[dict]]:
    """Place the lines on the timeline (IVR, then talk once the agent joins, working lines and holds to fill the
    call, then the closing), each phrase with the ASR difficulty of who says it on this line."""
    ivr, talk, closing = script
    phrases: list[SimPhrase] = []
    leaks: list[dict] = []
    used = call.used

    def place(line: _Say, t: int, *, from_ivr: bool = False) -> int:
        if line.leak:
            leaks.append({"kind": line.leak, "phraseIndex": len(phrases)})
        if from_ivr:
            noise = call.line_noise * 0.5
        elif line.purpose == "internal":
            noise = call.profile.noise + call.line_noise * 0.35
        else:
            noise = call.line_noise
        noise = min(1.0, noise + rng.uniform(0.0, 0.08))
        start = t + line.pause_ms
        return _append(rng, phrases, line.purpose, line.text, line.sentiment, start, noise=noise, gap_ms=(120, 500))

    t = 400
    for line in ivr:
        t = place(line, t, from_ivr=True)
    t = max(t, call.agent_join_ms + rng.randint(800, 2_000))
    holds = (rng.random() < 0.35) + call.profile.extra_holds
    for line in talk:
        t = place(line, t)
    closing_ms = sum(_estimate_ms(line.text) + 900 for line in closing)
    held = False
    while t + closing_ms + 6_000 < target_ms:
        held = bool(holds) and not held and rng.random() < 0.3  # some work between two holds
        if held:
            holds -= 1
            exchange = _hold(rng, call, used)
        else:
            exchange = _working_exchange(rng, call, used)
        for line in exchange:
            t = place(line, t)
        t += rng.randint(*call.profile.pause_ms)  # thinking, typing, reading
    for line in closing:
        t = place(line, t)
    return phrases, leaks


# A lifelike large document's filler (filler_phrase): the working lines without slots or mask tokens.
_MARATHON_LINES = {
    "internal": tuple(line for line, _ in AGENT_WORKING if "{" not in line and "[" not in line) + HOLD_END,
    "external": WAITING + NOTED + CONFIRMED + BACKCHANNELS,
}
