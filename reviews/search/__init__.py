"""Full-text search over transcript utterances: SQLite FTS5 or PostgreSQL tsvector, one interface."""

from __future__ import annotations

from reviews.search.query import ParsedQuery, Term, parse_query
from reviews.search.service import list_conversations, search, search_grouped
from reviews.search.snippets import render_snippet
from reviews.search.types import (
    ConversationHits,
    ConversationPage,
    GroupedSearchPage,
    SearchFilters,
    SearchHit,
    SearchPage,
    WorkItem,
)

__all__ = [
    "ConversationHits",
    "ConversationPage",
    "GroupedSearchPage",
    "ParsedQuery",
    "SearchFilters",
    "SearchHit",
    "SearchPage",
    "Term",
    "WorkItem",
    "list_conversations",
    "parse_query",
    "render_snippet",
    "search",
    "search_grouped",
]
