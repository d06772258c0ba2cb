"""The one scoring rule of an evaluation: weighted answers, N/A left out, a failed critical question fails all.

score = 100 * sum(weight * fraction) / sum(weight) over the answered, not-N/A questions, where a yes earns the
whole weight, a no nothing and a scale point value/maximum of it. A critical question answered "no" (or 0 on a
scale) makes the score 0 and the evaluation a fail, whatever the other answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreResult:
    score: float | None  # None: nothing scoreable answered (all N/A or none yet)
    critical_failed: bool
    weight_counted: int


def score_answers(answers: Iterable) -> ScoreResult:
    """`answers` are EvaluationAnswer rows (or anything with .question and .value)."""
    earned = 0.0
    counted = 0
    critical_failed = False
    for answer in answers:
        question = answer.question
        fraction = question.fraction(answer.value)
        if fraction is None:
            continue
        if question.critical and fraction == 0:
            critical_failed = True
        earned += question.weight * fraction
        counted += question.weight
    if critical_failed:
        return ScoreResult(score=0.0, critical_failed=True, weight_counted=counted)
    if counted == 0:
        return ScoreResult(score=None, critical_failed=False, weight_counted=0)
    return ScoreResult(score=round(100 * earned / counted, 1), critical_failed=False, weight_counted=counted)
