from __future__ import annotations

import re
from collections.abc import Sequence

from reviews.redaction import RedactionReport, RedactionScanner, UtteranceText


def scan(
    *phrases: str | tuple[str, str], regions: Sequence[str] | None = None, with_words: bool = True
) -> RedactionReport:
    """Scans phrases in order; a bare string is the customer ("external"), a tuple is (speaker, text)."""
    scanner = RedactionScanner(phone_regions=regions)
    for index, phrase in enumerate(phrases):
        speaker, text = phrase if isinstance(phrase, tuple) else ("external", phrase)
        start_ms = index * 4_000
        words = [(word, start_ms + position * 300) for position, word in enumerate(text.split())] if with_words else ()
        scanner.feed(UtteranceText(index, start_ms, speaker, text, words=words))
    return scanner.finish()


def assert_excerpts_hide(report: RedactionReport, *values: str) -> None:
    """No excerpt may contain a value, any 4-digit piece of its digits, or (for e-mails) its labels."""
    for finding in report.findings:
        excerpt = finding.masked_excerpt.lower()
        assert len(finding.masked_excerpt) <= 120
        assert f"[{finding.kind}]" in excerpt
        excerpt_digits = re.sub(r"\D", "", excerpt)
        for value in values:
            assert value.lower() not in excerpt
            digits = re.sub(r"\D", "", value)
            for start in range(max(0, len(digits) - 3)):
                assert digits[start : start + 4] not in excerpt_digits
            if "@" in value:
                local, domain = value.lower().split("@")
                assert local not in excerpt
                assert domain not in excerpt
                for label in re.split(r"[._-]", local) + domain.split(".")[:-1]:
                    assert not re.search(rf"\b{re.escape(label)}\b", excerpt)
