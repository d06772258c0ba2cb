"""Mask-token counting and PII leak detection for Genesys transcripts (pure Python, no Django)."""

from __future__ import annotations

from reviews.redaction.masks import MASK_TOKENS, count_mask_tokens
from reviews.redaction.records import FINDING_KINDS, Finding, RedactionReport, UtteranceText
from reviews.redaction.scanner import RedactionScanner

__all__ = [
    "FINDING_KINDS",
    "MASK_TOKENS",
    "Finding",
    "RedactionReport",
    "RedactionScanner",
    "UtteranceText",
    "count_mask_tokens",
]
