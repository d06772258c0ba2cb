"""Search inputs and results (the contract in docs/architecture.md, plus a few optional extras)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from reviews.models import Conversation

SPEAKERS = ("internal", "external")


@dataclass(frozen=True)
class SearchFilters:
    """Narrow a search. queues and agents hold Genesys ids; dates bound conversation.started_at.

    A `date` is a whole day in the current time zone (date_to inclusive); a `datetime` is exact
    (date_to exclusive).
    """

    speaker: str | None = None  # "internal" | "external" | None
    date_from: dt.date | dt.datetime | None = None
    date_to: dt.date | dt.datetime | None = None
    queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    redaction_status: str | None = None
    confidence_min: float | None = None
    confidence_max: float | None = None
    review_status: str | None = None

    def __post_init__(self) -> None:
        if self.speaker is not None and self.speaker not in SPEAKERS:
            raise ValueError(f"speaker must be one of {', '.join(SPEAKERS)}, got {self.speaker!r}")
        # Accept any iterable (list from a form, single string) but store a hashable tuple.
        object.__setattr__(self, "queues", _as_id_tuple(self.queues))
        object.__setattr__(self, "agents", _as_id_tuple(self.agents))

    def as_dict(self) -> dict:
        """Only the filters that are set, JSON-friendly (for audit records and echoing back)."""
        values = {
            "speaker": self.speaker,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "queues": list(self.queues),
            "agents": list(self.agents),
            "redaction_status": self.redaction_status,
            "confidence_min": self.confidence_min,
            "confidence_max": self.confidence_max,
            "review_status": self.review_status,
        }
        return {name: value for name, value in values.items() if value not in (None, [])}


def _as_id_tuple(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(str(item) for item in value if str(item))


@dataclass(frozen=True)
class SearchHit:
    conversation: Conversation
    utterance_id: int
    communication_id: str
    speaker: str
    start_ms: int
    snippet_html: SafeString  # escaped transcript text with <mark>…</mark> around the hits
    score: float  # higher is better on both engines (FTS5 bm25 is negated)


@dataclass(frozen=True)
class SearchPage:
    results: list[SearchHit]
    total: int
    next_cursor: str | None
    total_capped: bool = False  # True: there are more than `total` matches ("10000+")
    message: str = ""  # friendly explanation when the query cannot match (empty, only exclusions, ...)


@dataclass(frozen=True)
class ConversationHits:
    conversation: Conversation
    hits: list[SearchHit]
    score: float


@dataclass(frozen=True)
class GroupedSearchPage:
    groups: list[ConversationHits]
    total: int  # matching conversations
    next_cursor: str | None
    total_capped: bool = False
    message: str = ""
    hit_total: int = 0  # matching utterances (capped like SearchPage.total)
    terms: list[str] = field(default_factory=list)
