"""Sampling rules turn calls into review assignments (issue 13 §3); `manage.py sample_reviews` and a daily
schedule run them.

What a run does, for each active SamplingRule in name order:
- candidates: calls in a reviewable state (stored, or kept audio), not yet reviewed or escalated, inside the
  rule's queue/division scope (none: every call), started in the rule's window;
- window: a random rule samples the last complete week (Monday 00:00 in TIME_ZONE, seven days), so a daily run
  sees the whole week and every call had the same chance; the other kinds look at calls started since the
  start of the previous week, so a call from Sunday night is not lost at the week boundary;
- the kind's condition, each defined once: leaks (a RedactionFinding, or Transcript.leak_count), negative
  sentiment and topics (reviews/search/filters.py, as search filters them), low confidence (the call-level
  confidence the review page shows, below LOW_CONFIDENCE_THRESHOLD), long silence (nobody speaking for at least
  silence_seconds, longest_silence_ms below);
- each picked call goes to one of the rule's reviewers who may review and may see it (access.conversations_for),
  round robin (after the rule's last assignee) or least loaded (fewest open assignments, then lowest id).

Deterministic and idempotent: time comes in as `now` (never the wall clock), the random picks come from an RNG
seeded with (seed, rule, week, agent), a call that was ever assigned (by any rule or by hand, any status) is never
picked again, and a random rule only tops an agent's week up to N. Running twice creates nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from reviews import access, audit
from reviews.models import (
    AuditEvent,
    Conversation,
    RedactionFinding,
    ReviewAssignment,
    SamplingRule,
    Transcript,
    Utterance,
)
from reviews.search import filters as call_filters

Kind = SamplingRule.Kind
# Calls a reviewer can work on: a transcript, or the kept audio of a call without one.
REVIEWABLE_STATES = (Conversation.State.STORED, Conversation.State.AUDIO_FALLBACK)
UNFINISHED_REVIEWS = (Conversation.ReviewStatus.NEW, Conversation.ReviewStatus.IN_REVIEW)
WEEK = dt.timedelta(days=7)

RngFactory = Callable[[str], random.Random]


def seeded_rng(key: str) -> random.Random:
    """The default RNG: one per (seed, rule, week, agent) key, so the same inputs always pick the same calls."""
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def week_start(now: dt.datetime) -> dt.datetime:
    """Monday 00:00 of the week holding `now`, in TIME_ZONE (an aware datetime)."""
    local = timezone.localtime(now)
    monday = local.date() - dt.timedelta(days=local.weekday())
    return timezone.make_aware(dt.datetime.combine(monday, dt.time.min), local.tzinfo)


def window_of(rule: SamplingRule, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the calls the rule looks at when run at `now` (see the module docstring)."""
    this_week = week_start(now)
    previous_week = week_start(this_week - dt.timedelta(days=1))
    if rule.kind == Kind.RANDOM_PER_AGENT:
        return previous_week, this_week
    return previous_week, now


@dataclass(frozen=True)
class Pick:
    conversation: Conversation
    assignee: object  # a User
    due_at: dt.datetime

    def as_dict(self) -> dict:
        return {
            "conversation": self.conversation.genesys_id,
            "assignee": self.assignee.get_username(),
            "due_at": self.due_at.isoformat(),
        }


@dataclass
class RuleResult:
    rule: SamplingRule
    now: dt.datetime
    window: tuple[dt.datetime, dt.datetime]
    picks: list[Pick] = field(default_factory=list)
    matched: int = 0  # calls meeting the rule's condition and never assigned yet
    unassignable: int = 0  # of those, calls none of the rule's reviewers may see
    created: int = 0

    def as_dict(self) -> dict:
        return {
            "rule": self.rule.name,
            "kind": self.rule.kind,
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
            "matched": self.matched,
            "unassignable": self.unassignable,
            "created": self.created,
            "picks": [pick.as_dict() for pick in self.picks],
        }


@dataclass
class SamplingReport:
    now: dt.datetime
    dry_run: bool
    rules: list[RuleResult] = field(default_factory=list)
    closed: int = 0  # open assignments closed because their call was reviewed meanwhile

    @property
    def created(self) -> int:
        return sum(result.created for result in self.rules)

    @property
    def picked(self) -> int:
        return sum(len(result.picks) for result in self.rules)

    def as_dict(self) -> dict:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "picked": self.picked,
            "created": self.created,
            "closed": self.closed,
            "rules": [result.as_dict() for result in self.rules],
        }

    def summary(self) -> str:
        if self.dry_run:
            return f"sampling (dry run): {self.picked} calls would be assigned by {len(self.rules)} rules"
        return (
            f"sampling: {self.created} assignments created by {len(self.rules)} rules, {self.closed} closed as reviewed"
        )


def run_sampling(
    *, now: dt.datetime, dry_run: bool = False, seed: str = "", rng_factory: RngFactory = seeded_rng
) -> SamplingReport:
    """Run every active rule at `now`; with dry_run, say what would be assigned and change nothing."""
    if timezone.is_naive(now):
        raise ValueError("now must be an aware datetime")
    report = SamplingReport(now=now, dry_run=dry_run)
    if not dry_run:
        report.closed = close_reviewed_assignments()
    for rule in SamplingRule.objects.filter(active=True).order_by("name", "pk"):
        with transaction.atomic():
            if not dry_run:
                # One run at a time per rule: two runs topping up the same agent's week would both count N - k.
                rule = SamplingRule.objects.select_for_update().get(pk=rule.pk)
            result = _plan(rule, now=now, seed=seed, rng_factory=rng_factory)
            if not dry_run:
                result.created = _create(result)
        report.rules.append(result)
    if report.created or report.closed:
        audit.record_event(
            request=None,
            action=AuditEvent.Action.REVIEW,
            object_type="sampling_run",
            detail={
                "step": "sample",
                "now": now.isoformat(),
                "created": report.created,
                "closed": report.closed,
                "rules": {result.rule.name: result.created for result in report.rules if result.created},
            },
        )
    return report


def sample_reviews_task() -> str:
    """django-q2 entry point (reviews/schedules.py): run the rules now; idempotent, so daily is safe."""
    from genesys.clock import SYSTEM_CLOCK
    from reviews.pipeline.schedule import now_of

    return run_sampling(now=now_of(SYSTEM_CLOCK)).summary()


def close_reviewed_assignments() -> int:
    """Open assignments whose call was reviewed or escalated after they were made become done (at that time).

    The review page finishes reviews without knowing about assignments; this keeps the queues honest.
    """
    finished = ReviewAssignment.objects.overtaken_by_review().select_related("conversation")
    closed = 0
    for assignment in finished:
        closed += ReviewAssignment.objects.filter(pk=assignment.pk, status=ReviewAssignment.Status.OPEN).update(
            status=ReviewAssignment.Status.DONE, done_at=assignment.conversation.reviewed_at
        )
    return closed


# Planning


def _plan(rule: SamplingRule, *, now: dt.datetime, seed: str, rng_factory: RngFactory) -> RuleResult:
    window = window_of(rule, now=now)
    result = RuleResult(rule=rule, now=now, window=window)
    candidates = _candidates(rule, window=window)
    matching_calls = _matching(rule, candidates, window=window)
    matching = list(matching_calls.order_by("started_at", "pk"))
    reviewers = _reviewers(rule)
    visible_to = _visibility(reviewers, matching_calls)
    assignable = [c for c in matching if any(c.pk in visible_to[r.pk] for r in reviewers)]
    result.matched = len(matching)
    result.unassignable = len(matching) - len(assignable)
    if rule.kind == Kind.RANDOM_PER_AGENT:
        chosen = _random_per_agent(rule, assignable, window=window, seed=seed, rng_factory=rng_factory)
    else:
        chosen = assignable
    choose = _chooser(rule, reviewers, visible_to)
    due_at = now + dt.timedelta(days=rule.due_days)
    result.picks = [Pick(conversation=c, assignee=choose(c), due_at=due_at) for c in chosen]
    return result


def _candidates(rule: SamplingRule, *, window) -> QuerySet[Conversation]:
    """Reviewable, unfinished calls in the rule's scope and window that were never assigned to anyone."""
    start, end = window
    calls = Conversation.objects.filter(
        state__in=REVIEWABLE_STATES,
        review_status__in=UNFINISHED_REVIEWS,
        started_at__gte=start,
        started_at__lt=end,
    )
    queue_ids = list(rule.queues.values_list("pk", flat=True))
    division_ids = list(rule.divisions.values_list("pk", flat=True))
    if queue_ids or division_ids:
        # The same shape as a user's scope (reviews/access.py): the call's queue, or its own division.
        calls = calls.filter(Q(queue_id__in=queue_ids) | Q(division_id__in=division_ids))
    # A call that was ever assigned (by any rule or by hand, whatever became of it) has had its review.
    return calls.exclude(Exists(ReviewAssignment.objects.filter(conversation=OuterRef("pk"))))


def _matching(rule: SamplingRule, calls: QuerySet[Conversation], *, window) -> QuerySet[Conversation]:
    start, end = window
    if rule.kind == Kind.RANDOM_PER_AGENT:
        return calls.filter(agent__isnull=False)
    if rule.kind == Kind.LEAK:
        findings = RedactionFinding.objects.filter(transcript__conversation=OuterRef("pk"))
        leaky = Transcript.objects.filter(conversation=OuterRef("pk"), leak_count__gt=0)
        return calls.filter(Exists(findings) | Exists(leaky))
    if rule.kind == Kind.NEGATIVE_SENTIMENT:
        return calls.filter(pk__in=_filtered(sentiment="negative", window=window).values("pk"))
    if rule.kind == Kind.TOPIC:
        return calls.filter(pk__in=_filtered(topic=rule.topic, window=window).values("pk"))
    if rule.kind == Kind.LOW_CONFIDENCE:
        sql = (
            "SELECT c.id FROM reviews_conversation c WHERE c.started_at >= %s AND c.started_at < %s "
            f"AND {call_filters.confidence_sql('c')} < %s"
        )
        params = [_db_datetime(start), _db_datetime(end), float(settings.LOW_CONFIDENCE_THRESHOLD)]
        return calls.filter(pk__in=RawSQL(sql, params))
    if rule.kind == Kind.LONG_SILENCE:
        silent = conversations_with_silence(calls, at_least_ms=int(rule.silence_seconds or 0) * 1000)
        return calls.filter(pk__in=silent)
    raise ValueError(f"unknown sampling rule kind {rule.kind!r}")


def _filtered(*, window, **chosen) -> QuerySet[Conversation]:
    start, end = window
    filters = call_filters.SearchFilters(date_from=start, date_to=end, **chosen)
    return call_filters.conversations(scope=access.Scope(everything=True), filters=filters)


def longest_silence_ms(spans, *, duration_ms: int | None) -> int:
    """The longest stretch of a call in which nobody speaks: before the first turn, between turns (overlapping
    speech is not silence) and after the last one until the call ends. `spans` are (start_ms, end_ms) pairs.

    The same measure as the evaluations' silence answer (reviews/evaluations/auto.py answer_silence), so a call
    sampled for a long silence shows that silence in its automatic evaluation too.
    """
    spoken_until = longest = 0
    for start, end in sorted((max(start, 0), max(end, start)) for start, end in spans):
        longest = max(longest, start - spoken_until)
        spoken_until = max(spoken_until, end)
    return max(longest, (duration_ms or 0) - spoken_until)


def conversations_with_silence(conversations: QuerySet[Conversation], *, at_least_ms: int) -> set[int]:
    """The ids of those conversations with a transcribed turn and a silence of at least `at_least_ms`: a call
    without any turn (audio only) is not "silent", it is untranscribed."""
    if at_least_ms <= 0:
        return set()
    durations = {call.pk: call.duration_ms for call in conversations.only("pk", "started_at", "ended_at")}
    spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    ids = list(durations)
    for offset in range(0, len(ids), 500):  # bounded parameter lists on SQLite
        rows = Utterance.objects.filter(conversation_id__in=ids[offset : offset + 500])
        for pk, start, end in rows.values_list("conversation_id", "start_ms", "end_ms").order_by():
            spans[pk].append((start, end))
    return {pk for pk, turns in spans.items() if longest_silence_ms(turns, duration_ms=durations[pk]) >= at_least_ms}


def _random_per_agent(
    rule: SamplingRule, calls: list[Conversation], *, window, seed: str, rng_factory: RngFactory
) -> list[Conversation]:
    """Up to calls_per_agent calls of each agent in the week, minus what the rule already assigned that week."""
    start, end = window
    already = dict(
        ReviewAssignment.objects.filter(
            rule=rule, conversation__started_at__gte=start, conversation__started_at__lt=end
        )
        .values_list("conversation__agent_id")
        .annotate(n=Count("pk"))
    )
    by_agent: dict[int, list[Conversation]] = defaultdict(list)
    for conversation in calls:
        by_agent[conversation.agent_id].append(conversation)
    chosen: list[Conversation] = []
    for agent_id in sorted(by_agent):
        wanted = int(rule.calls_per_agent or 0) - already.get(agent_id, 0)
        if wanted <= 0:
            continue
        pool = sorted(by_agent[agent_id], key=lambda c: c.pk)
        rng = rng_factory(f"{seed}|rule {rule.pk}|week {start.date().isoformat()}|agent {agent_id}")
        chosen += rng.sample(pool, min(wanted, len(pool)))
    return sorted(chosen, key=lambda c: (c.started_at, c.pk))


def _reviewers(rule: SamplingRule) -> list:
    """The rule's reviewers who may review at all (a read-only compliance officer may not), by id."""
    return [user for user in rule.reviewers.filter(is_active=True).order_by("pk") if access.can_review(user)]


def _visibility(reviewers: list, calls: QuerySet[Conversation]) -> dict[int, set[int]]:
    """reviewer pk -> the ids of `calls` that reviewer may see (access.conversations_for); one query each, with
    `calls` as a subquery (no id list to outgrow a database's parameter limit)."""
    return {
        reviewer.pk: set(
            access.conversations_for(reviewer).filter(pk__in=calls.values("pk")).values_list("pk", flat=True)
        )
        for reviewer in reviewers
    }


def _chooser(rule: SamplingRule, reviewers: list, visible_to: dict[int, set[int]]):
    """A function conversation -> reviewer, following the rule's strategy, among those who may see the call."""
    if rule.strategy == SamplingRule.Strategy.LEAST_LOADED:
        load = dict(
            ReviewAssignment.objects.filter(status=ReviewAssignment.Status.OPEN, assignee__in=reviewers)
            .values_list("assignee_id")
            .annotate(n=Count("pk"))
        )

        def least_loaded(conversation):
            eligible = [r for r in reviewers if conversation.pk in visible_to[r.pk]]
            chosen = min(eligible, key=lambda r: (load.get(r.pk, 0), r.pk))
            load[chosen.pk] = load.get(chosen.pk, 0) + 1
            return chosen

        return least_loaded

    last = rule.assignments.order_by("-created_at", "-pk").values_list("assignee_id", flat=True).first()
    ids = [r.pk for r in reviewers]
    state = {"next": (ids.index(last) + 1) if last in ids else 0}

    def round_robin(conversation):
        for step in range(len(reviewers)):
            index = (state["next"] + step) % len(reviewers)
            if conversation.pk in visible_to[reviewers[index].pk]:
                state["next"] = index + 1
                return reviewers[index]
        raise AssertionError("an assignable call has a reviewer who may see it")

    return round_robin


def _create(result: RuleResult) -> int:
    created = 0
    for pick in result.picks:
        try:
            with transaction.atomic():  # a savepoint: a concurrent hand assignment loses nothing else
                ReviewAssignment.objects.create(
                    conversation=pick.conversation,
                    rule=result.rule,
                    assignee=pick.assignee,
                    created_at=result.now,
                    due_at=pick.due_at,
                )
        except IntegrityError:
            continue  # the reviewer got this call by hand meanwhile (one open assignment per call and reviewer)
        created += 1
    return created


def _db_datetime(value: dt.datetime):
    # Raw SQL bypasses the field's conversion; SQLite stores naive UTC text, so adapt like the ORM does.
    return connection.ops.adapt_datetimefield_value(value)
