"""Evaluation coverage per agent or queue: how many calls were scored automatically and how many by a person.

The quality dashboard (issue 13 §4) reads `coverage(conversations, by=...)`; callers pass the conversations the
user may see (reviews/access.py conversations_for), so a row never counts calls outside their scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Avg, Count, Exists, OuterRef, Q, QuerySet

from reviews.models import Conversation, Evaluation, Utterance

GROUPINGS = {
    "agent": ("agent_id", "agent__name", "agent__genesys_id"),
    "queue": ("queue_id", "queue__name", "queue__genesys_id"),
}
HUMAN_DONE = (Evaluation.Status.SUBMITTED, Evaluation.Status.DISPUTED)


@dataclass(frozen=True)
class CoverageRow:
    key: int | None
    label: str
    calls: int  # calls with a stored transcript
    automatic: int  # of them, with an automatic evaluation
    human: int  # of them, with a submitted (or disputed) human evaluation
    automatic_mean: float | None
    human_mean: float | None

    @property
    def automatic_percent(self) -> int:
        return round(100 * self.automatic_share)

    @property
    def human_percent(self) -> int:
        return round(100 * self.human_share)

    @property
    def automatic_share(self) -> float:
        return self.automatic / self.calls if self.calls else 0.0

    @property
    def human_share(self) -> float:
        return self.human / self.calls if self.calls else 0.0


def coverage(conversations: QuerySet[Conversation], *, by: str) -> list[CoverageRow]:
    """One row per agent (or queue) of `conversations` that has a transcript, most calls first."""
    key, name, genesys_id = GROUPINGS[by]
    automatic = Evaluation.objects.filter(conversation=OuterRef("pk"), kind=Evaluation.Kind.AUTOMATIC)
    human = Evaluation.objects.filter(conversation=OuterRef("pk"), kind=Evaluation.Kind.HUMAN, status__in=HUMAN_DONE)
    transcribed = conversations.filter(Exists(Utterance.objects.filter(conversation=OuterRef("pk"))))
    rows = (
        transcribed.annotate(has_automatic=Exists(automatic), has_human=Exists(human))
        .order_by()
        .values(key, name, genesys_id)
        .annotate(
            calls=Count("pk"),
            automatic=Count("pk", filter=Q(has_automatic=True)),
            human=Count("pk", filter=Q(has_human=True)),
        )
    )
    means = _means(transcribed, key)
    result = [
        CoverageRow(
            key=row[key],
            label=row[name] or row[genesys_id] or f"(no {by})",
            calls=row["calls"],
            automatic=row["automatic"],
            human=row["human"],
            automatic_mean=means.get((row[key], Evaluation.Kind.AUTOMATIC)),
            human_mean=means.get((row[key], Evaluation.Kind.HUMAN)),
        )
        for row in rows
    ]
    return sorted(result, key=lambda row: (-row.calls, row.label))


def _means(conversations: QuerySet[Conversation], key: str) -> dict[tuple, float]:
    scored = Evaluation.objects.filter(conversation__in=conversations.values("pk"), score__isnull=False).filter(
        Q(kind=Evaluation.Kind.AUTOMATIC) | Q(kind=Evaluation.Kind.HUMAN, status__in=HUMAN_DONE)
    )
    rows = scored.order_by().values(f"conversation__{key}", "kind").annotate(mean=Avg("score"))
    return {(row[f"conversation__{key}"], row["kind"]): round(row["mean"], 1) for row in rows}
