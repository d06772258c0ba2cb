"""What a backfill run did: per-state counts for its window plus the Genesys client's call statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db.models import Count, Sum

from reviews.models import AudioRecording, Conversation, Transcript

State = Conversation.State


@dataclass(frozen=True)
class StatsSnapshot:
    api_calls: int = 0
    rate_limited: int = 0
    retries: int = 0
    bytes_downloaded: int = 0
    token_requests: int = 0

    @classmethod
    def of(cls, client) -> StatsSnapshot:
        stats = client.stats
        return cls(
            api_calls=stats.api_calls,
            rate_limited=stats.rate_limited,
            retries=stats.retries,
            bytes_downloaded=stats.bytes_downloaded,
            token_requests=stats.token_requests,
        )

    def __sub__(self, other: StatsSnapshot) -> StatsSnapshot:
        return StatsSnapshot(**{name: getattr(self, name) - getattr(other, name) for name in asdict(self)})


@dataclass
class BackfillSummary:
    since: str
    until: str
    finished: bool  # every conversation of the window reached a final state
    conversations: int
    states: dict[str, int] = field(default_factory=dict)
    transcripts_stored: int = 0  # transcripts held for the window's conversations
    transcripts_new: int = 0  # stored by this run
    audio_fallbacks: int = 0
    audio_recordings: int = 0
    leaks_found: int = 0
    api_calls: int = 0  # Genesys API calls of this run, discovery and polling included, downloads excluded
    api_calls_per_transcript: float | None = None  # api_calls / transcripts_new
    rate_limited: int = 0  # 429 responses
    retries: int = 0
    bytes_downloaded: int = 0
    token_requests: int = 0
    elapsed_seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        per_transcript = "n/a" if self.api_calls_per_transcript is None else f"{self.api_calls_per_transcript:.2f}"
        states = ", ".join(f"{name} {count}" for name, count in self.states.items() if count) or "none"
        return [
            f"Window            {self.since} .. {self.until}",
            f"Conversations     {self.conversations} ({states})",
            f"Transcripts       {self.transcripts_stored} stored ({self.transcripts_new} new)",
            f"Audio fallbacks   {self.audio_fallbacks} ({self.audio_recordings} recordings)",
            f"Leaks found       {self.leaks_found}",
            f"Genesys API calls {self.api_calls} ({per_transcript} per new transcript)",
            f"429 responses     {self.rate_limited}",
            f"Retries           {self.retries}",
            f"Bytes downloaded  {self.bytes_downloaded}",
            f"Elapsed           {self.elapsed_seconds:.1f}s",
            *self.next_steps(),
        ]

    def next_steps(self) -> list[str]:
        """What happens next, in words: who is still waiting for what, and what a person must do."""
        states = self.states
        done = [f"{states.get(State.STORED, 0)} stored"]
        if states.get(State.AUDIO_FALLBACK):
            done.append(f"{states[State.AUDIO_FALLBACK]} kept as audio only")
        steps = []
        waiting = states.get(State.AWAITING_TRANSCRIPT, 0) + states.get(State.DISCOVERED, 0)
        waiting += states.get(State.DOWNLOADING, 0)
        if waiting:
            steps.append(f"{waiting} still awaiting a transcript: the worker keeps polling them until their deadline")
        if states.get(State.AWAITING_AUDIO):
            steps.append(f"{states[State.AWAITING_AUDIO]} awaiting their recording: the worker fetches it")
        if states.get(State.RESTRICTED):
            steps.append(
                f"{states[State.RESTRICTED]} restricted: Genesys denied access (the operations page names the "
                "permission or division); grant it to the OAuth client's role, then retry them"
            )
        if states.get(State.ARCHIVED):
            steps.append(f"{states[State.ARCHIVED]} with an archived recording the role may not restore")
        if states.get(State.AUDIO_UNAVAILABLE):
            steps.append(f"{states[State.AUDIO_UNAVAILABLE]} with neither transcript nor recording (see their outcome)")
        if states.get(State.FAILED):
            steps.append(f"{states[State.FAILED]} failed after repeated errors: see the operations page, then retry")
        if not steps:
            steps.append("every conversation of the window is final")
        return [f"Result            {', '.join(done)}", *(f"Next              {step}" for step in steps)]


def window_conversations(*, since: datetime, until: datetime):
    return Conversation.objects.filter(started_at__gte=since, started_at__lt=until)


def state_counts(conversations) -> dict[str, int]:
    counts = dict(conversations.values_list("state").annotate(n=Count("pk")).order_by())
    return {state: counts.get(state, 0) for state in Conversation.State.values}


def transcripts_of(conversations):
    return Transcript.objects.filter(conversation__in=conversations)


def summarize(
    *, since: datetime, until: datetime, stats: StatsSnapshot, transcripts_before: int, elapsed: float, finished: bool
) -> BackfillSummary:
    conversations = window_conversations(since=since, until=until)
    states = state_counts(conversations)
    transcripts = transcripts_of(conversations)
    stored = transcripts.count()
    new = max(stored - transcripts_before, 0)
    return BackfillSummary(
        since=since.isoformat(),
        until=until.isoformat(),
        finished=finished,
        conversations=sum(states.values()),
        states=states,
        transcripts_stored=stored,
        transcripts_new=new,
        audio_fallbacks=states.get(Conversation.State.AUDIO_FALLBACK, 0),
        audio_recordings=AudioRecording.objects.filter(conversation__in=conversations, kept=True).count(),
        leaks_found=transcripts.aggregate(n=Sum("leak_count"))["n"] or 0,
        api_calls=stats.api_calls,
        api_calls_per_transcript=round(stats.api_calls / new, 3) if new else None,
        rate_limited=stats.rate_limited,
        retries=stats.retries,
        bytes_downloaded=stats.bytes_downloaded,
        token_requests=stats.token_requests,
        elapsed_seconds=round(elapsed, 3),
    )
