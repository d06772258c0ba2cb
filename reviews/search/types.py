"""Search inputs and results (the contract in docs/architecture.md, plus a few optional extras)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from reviews.models import Conversation, Transcript
from reviews.search.filters import SPEAKERS, TRANSCRIPT_SOURCE_LABELS, CallMetrics, SearchFilters, asr_description

__all__ = [
    "SPEAKERS",
    "CallMetrics",
    "ConversationHits",
    "ConversationPage",
    "GroupedSearchPage",
    "SearchFilters",
    "SearchHit",
    "SearchPage",
    "WorkItem",
]


@dataclass(frozen=True)
class SearchHit:
    conversation: Conversation
    utterance_id: int
    communication_id: str
    speaker: str
    start_ms: int
    snippet_html: SafeString  # escaped transcript text with <mark>…</mark> around the hits
    score: float  # higher is better on both engines (FTS5 bm25 is negated)
    # Whose transcript the hit is in: Genesys', or the vault's own speech-to-text (engine and model named).
    transcript_source: str = Transcript.Source.GENESYS
    asr_engine: str = ""
    asr_model: str = ""

    @property
    def is_vault_transcript(self) -> bool:
        return self.transcript_source == Transcript.Source.VAULT_ASR

    @property
    def transcript_source_label(self) -> str:
        return TRANSCRIPT_SOURCE_LABELS[self.transcript_source]

    @property
    def asr_description(self) -> str:
        return asr_description(self.asr_engine, self.asr_model)


@dataclass(frozen=True)
class SearchPage:
    results: list[SearchHit]
    total: int
    next_cursor: str | None
    total_capped: bool = False  # True: there are more than `total` matches ("10000+")
    message: str = ""  # friendly explanation when the query cannot match (empty, only exclusions, ...)
    conversation_total: int = 0  # conversations among the counted matches


@dataclass(frozen=True)
class ConversationHits:
    conversation: Conversation
    hits: list[SearchHit]
    score: float
    metrics: CallMetrics | None = None  # duration, confidence and sentiment of the call (reviews/search/filters.py)


@dataclass(frozen=True)
class GroupedSearchPage:
    groups: list[ConversationHits]
    total: int  # matching conversations
    next_cursor: str | None
    total_capped: bool = False
    message: str = ""
    hit_total: int = 0  # matching utterances (capped like SearchPage.total)
    terms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorkItem:
    """One call of a work list (filters without words)."""

    conversation: Conversation
    metrics: CallMetrics


@dataclass(frozen=True)
class ConversationPage:
    items: list[WorkItem]
    total: int  # every call that passes the filters
    next_cursor: str | None
    message: str = ""
