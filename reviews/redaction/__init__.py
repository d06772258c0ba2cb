"""Mask-token counting, PII leak detection and masking for Genesys transcripts (pure Python, no Django)."""

from __future__ import annotations

from reviews.redaction.masking import MaskedPhrase, mask_phrase, mask_text
from reviews.redaction.masks import MASK_TOKENS, VAULT_MASK_LABELS, count_mask_tokens, vault_mask_token
from reviews.redaction.records import FINDING_KINDS, Finding, MaskSpan, RedactionReport, UtteranceText
from reviews.redaction.scanner import RedactionScanner

__all__ = [
    "FINDING_KINDS",
    "MASK_TOKENS",
    "VAULT_MASK_LABELS",
    "Finding",
    "MaskSpan",
    "MaskedPhrase",
    "RedactionReport",
    "RedactionScanner",
    "UtteranceText",
    "count_mask_tokens",
    "mask_phrase",
    "mask_text",
    "vault_mask_token",
]
