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

    def speech_turns(self) -> list[tuple[int, int, str]]:
        """(offset_ms, duration_ms, speaker) for each scripted phrase, used to align the audio."""
        if self.transcript is None:
            return _fallback_turns(self)
        return [(p.offset_ms, p.duration_ms, _speaker(p, self.agent_join_ms)) for p in self.transcript.phrases]

    def wav_bytes(self) -> bytes:
        """The call's recording: a real PCM WAV as long as the call (the server's BlobStore keeps what it served)."""
        from .audio import render_wav

        return render_wav(self.duration_ms, self.speech_turns())

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
    live_share: float = 0.2,
    shape: DatasetShape | None = None,
) -> Dataset:
    """Build a deterministic dataset of `conversations` recorded voice calls that start in [start, end).

    `live_until` (an extension for the demo) makes about `live_share` of the calls end between `end` and
    `live_until`, so a running emulator keeps producing new conversations. `shape` reshapes the calls into
    one of the real-org variants (shape.py); None or `DatasetShape()` is the plain dataset.
    """
    from .shape import apply_shape, attach_parts

    if end <= start:
        raise ValueError("end must be after start")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    rng = random.Random(f"dataset:{seed}")
    organization_id = _uuid(rng)
    divisions, queues, users = _directory(rng)
    plan = _plan_mix(rng, conversations, large, malformed, hostile_text)
    program_id, engine_id = _uuid(rng), _uuid(rng)
    convs = []
    for index in range(conversations):
        conv = _conversation(
            seed, index, plan[index], start, end, live_until, live_share, queues, users, large_mb, program_id
        )
        if conv.transcript:
            conv.transcript.engine_id = engine_id
        convs.append(conv)
    dataset = Dataset(seed, start, end, organization_id, divisions, queues, users, convs, large_mb, shape)
    if shape is not None:
        apply_shape(dataset, shape, program_id, engine_id)
    attach_parts(dataset)
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
) -> SimConversation:
    conv_seed = f"conversation:{seed}:{index}"
    rng = random.Random(conv_seed)
    conversation_id = _uuid(rng)
    customer_session, agent_session = _uuid(rng), _uuid(rng)
    ivr_session, acd_session, recording_id, transcript_id = _uuid(rng), _uuid(rng), _uuid(rng), _uuid(rng)
    direction = "outbound" if rng.random() < OUTBOUND_SHARE else "inbound"
    queue = rng.choice(queues)
    agent = rng.choice([u for u in users if u["division_id"] == queue["division_id"]])
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
        )
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
        # 555-01xx is the fictional range; these never appear in transcript text.
        customer_ani=f"tel:+1312555{rng.randint(100, 199):04d}",
        dnis=f"tel:+1800555{rng.randint(100, 199):04d}",
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


def _fallback_turns(conv: SimConversation) -> list[tuple[int, int, str]]:
    # Conversations without a transcript still have audio: alternate speakers every few seconds.
    rng = random.Random(conv.seed + ":turns")
    turns, t, speaker = [], conv.agent_join_ms, "agent"
    while t < conv.duration_ms:
        length = rng.randint(1500, 5000)
        turns.append((t, length, speaker))
        t += length + rng.randint(300, 1200)
        speaker = "customer" if speaker == "agent" else "agent"
    return turns


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


def _leak_lines(rng: random.Random, variant: str) -> list[Line]:
    """Customer lines carrying PII the masking missed; the leak kind marks the phrase that starts the value."""
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
            ("external", f"Yes, call me on {_phone(rng)}.", None, "phone"),
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


def _append(rng: random.Random, phrases: list[SimPhrase], purpose: str, text: str, sentiment, t: int) -> int:
    words = len(_TOKEN_RE.findall(text))
    duration = sum(rng.randint(220, 460) for _ in range(words))
    phrases.append(SimPhrase(len(phrases), purpose, text, t, duration, sentiment))
    return t + duration + rng.randint(300, 1_400)


def filler_phrase(transcript: SimTranscript, index: int) -> SimPhrase:
    """Phrase `index` of a large document beyond the script, derived from its own seed."""
    rng = random.Random(f"{transcript.seed}:filler:{index}")
    last = transcript.phrases[-1] if transcript.phrases else None
    base = (last.offset_ms + last.duration_ms) if last else 0
    offset = base + (index - len(transcript.phrases) + 1) * LARGE_PHRASE_SPACING_MS
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
