"""Full-text search over transcript utterances: SQLite FTS5 or PostgreSQL tsvector, one interface."""

from __future__ import annotations

from reviews.search.query import ParsedQuery, Term, parse_query
from reviews.search.service import search, search_grouped
from reviews.search.snippets import render_snippet
from reviews.search.types import (
    ConversationHits,
    GroupedSearchPage,
    SearchFilters,
    SearchHit,
    SearchPage,
)

__all__ = [
    "ConversationHits",
    "GroupedSearchPage",
    "ParsedQuery",
    "SearchFilters",
    "SearchHit",
    "SearchPage",
    "Term",
    "parse_query",
    "render_snippet",
    "search",
    "search_grouped",
]
