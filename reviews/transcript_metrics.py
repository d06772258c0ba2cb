"""Per-transcript accuracy and talk-time metrics, accumulated one utterance at a time (pure Python).

Word confidences are kept in an `array('f')` (4 bytes a word) because the median needs every value;
a long call has tens of thousands of words, and a list of floats would cost six times as much.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from datetime import UTC, datetime

INTERNAL_SPEAKER = "internal"
EXTERNAL_SPEAKER = "external"
_DECIMALS = 6  # float32 storage makes 0.9 read back as 0.8999999761; rounding hides that noise

METRIC_KEYS: tuple[str, ...] = (
    "utterance_count",
    "word_count",
    "speaker_count",
    "confidence_mean",
    "confidence_median",
    "low_confidence_share",
    "phrase_stability_mean",
    "talk_ms_internal",
    "talk_ms_external",
)


class MetricsAccumulator:
    """Feed utterances with `add()`, read the Transcript fields with `result()`."""

    def __init__(self, low_confidence_threshold: float = 0.6) -> None:
        self._threshold = low_confidence_threshold
        self._utterances = 0
        self._words = 0
        self._speakers: set[str] = set()
        self._confidences = array("f")
        self._confidence_sum = 0.0  # summed from the exact inputs, not the float32 copies
        self._low_confidence_words = 0
        self._stability_sum = 0.0
        self._stability_count = 0
        self._talk_ms = {INTERNAL_SPEAKER: 0, EXTERNAL_SPEAKER: 0}

    def add(
        self,
        speaker: str,
        start_ms: int,
        end_ms: int,
        word_confidences: Iterable[float | None],
        stability: float | None,
    ) -> None:
        self._utterances += 1
        self._speakers.add(speaker)
        for confidence in word_confidences:
            self._words += 1
            if _is_number(confidence):  # a word without a score still counts as a word
                self._confidences.append(confidence)
                self._confidence_sum += confidence
                self._low_confidence_words += confidence < self._threshold
        if _is_number(stability):
            self._stability_sum += stability
            self._stability_count += 1
        if speaker in self._talk_ms:
            self._talk_ms[speaker] += max(0, end_ms - start_ms)  # clock glitches never subtract talk time

    def result(self) -> dict[str, int | float | None]:
        scored = len(self._confidences)
        return {
            "utterance_count": self._utterances,
            "word_count": self._words,
            "speaker_count": len(self._speakers),
            "confidence_mean": _rounded(self._confidence_sum / scored) if scored else None,
            "confidence_median": _rounded(_median(self._confidences)) if scored else None,
            "low_confidence_share": _rounded(self._low_confidence_words / scored) if scored else None,
            "phrase_stability_mean": (
                _rounded(self._stability_sum / self._stability_count) if self._stability_count else None
            ),
            "talk_ms_internal": self._talk_ms[INTERNAL_SPEAKER],
            "talk_ms_external": self._talk_ms[EXTERNAL_SPEAKER],
        }


def latency_ms(earlier: datetime | None, later: datetime | None) -> int | None:
    """Milliseconds from `earlier` to `later` (never negative), or None when either is unknown.

    Naive datetimes are read as UTC so a naive/aware mix cannot raise inside a metrics job.
    """
    if earlier is None or later is None:
        return None
    delta = _as_aware(later) - _as_aware(earlier)
    return max(0, round(delta.total_seconds() * 1000))


def _as_aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _median(values: array) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _rounded(value: float) -> float:
    return round(value, _DECIMALS)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
