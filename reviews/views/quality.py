"""Quality dashboard (issue 13 §4): per agent or per queue over time, every number a link to the calls behind it.

The numbers are reviews/quality.py's; each link is a search URL built from the search's own filter names
(quality.search_params), so the search's total is the number clicked. Like the charts page, it shows aggregates
only (no transcript text, no call), so it writes no audit event itself: the drill-down's search does.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reviews import quality as dashboard
from reviews.templatetags.chart_tags import format_value
from reviews.views.charts import PERIODS, ChartFilterForm

GROUP_BY_CHOICES = [("agent", "Agent"), ("queue", "Queue")]


class QualityFilterForm(ChartFilterForm):
    group_by = forms.ChoiceField(choices=GROUP_BY_CHOICES, required=False, initial="agent", label="Group by")
    field_order = ["days", "group_by", "queue", "agent"]

    def quality_selection(self, *, today) -> dashboard.Selection:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return dashboard.Selection(
            today=today,
            days=data.get("days") or dashboard.DEFAULT_DAYS,
            group_by=data.get("group_by") or "agent",
            queue=data.get("queue") or None,
            agent=data.get("agent") or None,
        )


def _cell(text, url: str = "", *, header: bool = False) -> dict:
    return {"text": text, "url": url, "header": header}


def _percent(value) -> str:
    return format_value(value, "ratio")


def _score(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def _sentiment(value) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _count_link(count: int, selection, **kwargs) -> dict:
    """A count linked to the search listing those calls (no link for nothing, or where the search cannot)."""
    return _cell(f"{count:,}", dashboard.search_url(selection, **kwargs) if count else "")


def _sorted_link(text: str, metrics, selection, **kwargs) -> dict:
    """A mean or share, linked to all the calls behind it (sorted to show the extremes first)."""
    return _cell(text, dashboard.search_url(selection, **kwargs) if metrics.calls else "")


def _evaluated_link(count: int, selection, kind: str, **kwargs) -> dict:
    return _count_link(count, selection, evaluated=kind, **kwargs)


def _summary_row(selection, metrics: dashboard.Metrics, *, group=None, label: str, topics) -> list[dict]:
    scope = {"group": group}
    return [
        _cell(label, header=True),
        _count_link(metrics.calls, selection, **scope),
        _cell(f"{metrics.transcribed:,}"),
        _evaluated_link(metrics.human, selection, "human", **scope),
        _cell(_percent(metrics.human_share)),
        _evaluated_link(metrics.automatic, selection, "automatic", **scope),
        _cell(_percent(metrics.automatic_share)),
        _cell(_score(metrics.human_mean)),
        _cell(_score(metrics.automatic_mean)),
        _sorted_link(_sentiment(metrics.mean_sentiment), metrics, selection, **scope, **dashboard.MOST_NEGATIVE_FIRST),
        _count_link(metrics.negative, selection, **scope, **dashboard.NEGATIVE),
        _cell(_percent(metrics.negative_share)),
        _count_link(metrics.leaky, selection, **scope, **dashboard.LEAKY),
        _cell(_percent(metrics.leak_rate)),
        _sorted_link(
            _percent(metrics.low_confidence_share), metrics, selection, **scope, **dashboard.LOWEST_CONFIDENCE_FIRST
        ),
        _sorted_link(format_value(metrics.handle_ms, "ms"), metrics, selection, **scope, **dashboard.LONGEST_FIRST),
        {
            "is_topics": True,
            "topics": [
                {"name": name, "count": count, "url": dashboard.search_url(selection, **scope, topic=name)}
                for name, count in topics
            ],
        },
    ]


SUMMARY_HEADERS = [
    ("Calls", "Calls in the period (the search lists them)"),
    ("Transcribed", "Calls with a transcript: what coverage and scores count"),
    ("Human", "Transcribed calls with a submitted (or disputed) human evaluation"),
    ("Human %", ""),
    ("Auto", "Transcribed calls scored automatically"),
    ("Auto %", ""),
    ("Human score", "Mean of the submitted and disputed human evaluations (0-100)"),
    ("Auto score", "Mean of the automatic evaluations (0-100)"),
    ("Sentiment", "Mean of the calls' sentiment, -1 to +1 (opens the calls, most negative first)"),
    ("Negative", "Calls with negative sentiment"),
    ("Negative %", "Of the calls with a sentiment"),
    ("Leaks", "Calls in which the vault found (and masked) a leak"),
    ("Leak rate", "Of all calls"),
    ("Low confidence", "Share of transcribed words below the confidence threshold (opens the calls, lowest first)"),
    ("Handle time", "Mean duration of the calls that ended (opens the calls, longest first)"),
    ("Top topics", "Calls mentioning each topic"),
]


def _bucket_label(selection, bucket) -> str:
    start, end = selection.bucket_span(bucket)
    return start.isoformat() if start == end else f"{start.isoformat()} – {end.isoformat()}"


def _trend_charts(report: dashboard.Report) -> list[dict]:
    selection = report.selection
    buckets = report.buckets
    trend = [report.trend[bucket] for bucket in buckets]
    labels = [bucket.isoformat() for bucket in buckets]
    per = "day" if selection.bucket == "day" else "week"
    when = "Day" if per == "day" else "Week"

    def rows(*columns):
        return [
            [_cell(_bucket_label(selection, bucket), header=True), *(column(bucket, m) for column in columns)]
            for bucket, m in zip(buckets, trend, strict=True)
        ]

    def calls(bucket, m):
        return _count_link(m.calls, selection, bucket=bucket)

    return [
        {
            "id": "quality-score",
            "title": f"Mean evaluation score per {per}",
            "unit": "score",
            "labels": labels,
            "series": [
                {"name": "human", "css": "s1", "values": [m.human_mean for m in trend]},
                {"name": "automatic", "css": "s2", "values": [m.automatic_mean for m in trend]},
            ],
            "headers": [when, "Human evaluations", "Human score", "Automatic evaluations", "Automatic score"],
            "rows": rows(
                lambda b, m: _cell(f"{m.human_scores:,}"),
                lambda b, m: _cell(_score(m.human_mean)),
                lambda b, m: _cell(f"{m.automatic_scores:,}"),
                lambda b, m: _cell(_score(m.automatic_mean)),
            ),
        },
        {
            "id": "quality-coverage",
            "title": f"Evaluation coverage per {per}",
            "unit": "ratio",
            "labels": labels,
            "series": [
                {"name": "human", "css": "s1", "values": [m.human_share for m in trend]},
                {"name": "automatic", "css": "s2", "values": [m.automatic_share for m in trend]},
            ],
            "headers": [when, "Calls", "Transcribed", "Human", "Automatic"],
            "rows": rows(
                calls,
                lambda b, m: _cell(f"{m.transcribed:,}"),
                lambda b, m: _cell(_percent(m.human_share)),
                lambda b, m: _cell(_percent(m.automatic_share)),
            ),
        },
        {
            "id": "quality-sentiment",
            "title": f"Negative sentiment share per {per}",
            "unit": "ratio",
            "labels": labels,
            "series": [{"name": "negative share", "css": "s3", "values": [m.negative_share for m in trend]}],
            "headers": [when, "With sentiment", "Mean sentiment", "Negative", "Negative share"],
            "rows": rows(
                lambda b, m: _cell(f"{m.sentiment_calls:,}"),
                lambda b, m: _cell(_sentiment(m.mean_sentiment)),
                lambda b, m: _count_link(m.negative, selection, bucket=b, **dashboard.NEGATIVE),
                lambda b, m: _cell(_percent(m.negative_share)),
            ),
        },
        {
            "id": "quality-leaks",
            "title": f"Leak rate and low-confidence share per {per}",
            "unit": "ratio",
            "labels": labels,
            "series": [
                {"name": "leak rate", "css": "s3", "values": [m.leak_rate for m in trend]},
                {"name": "low-confidence share", "css": "s2", "values": [m.low_confidence_share for m in trend]},
            ],
            "headers": [when, "Calls", "With a leak", "Leak rate", "Low-confidence words"],
            "rows": rows(
                calls,
                lambda b, m: _count_link(m.leaky, selection, bucket=b, **dashboard.LEAKY),
                lambda b, m: _cell(_percent(m.leak_rate)),
                lambda b, m: _cell(_percent(m.low_confidence_share)),
            ),
        },
        {
            "id": "quality-handle-time",
            "title": f"Average handle time per {per}",
            "unit": "ms",
            "labels": labels,
            "series": [{"name": "handle time", "css": "s1", "values": [m.handle_ms for m in trend]}],
            "headers": [when, "Ended calls", "Average handle time"],
            "rows": rows(
                lambda b, m: _cell(f"{m.ended_calls:,}"),
                lambda b, m: _cell(format_value(m.handle_ms, "ms")),
            ),
        },
    ]


GROUP_SERIES = ("s1", "s2", "s3", "s4")  # the groups with most calls drawn in the per-group chart


def _group_score_chart(report: dashboard.Report, group_label: str) -> dict:
    """The automatic score (every transcribed call has one) per bucket for the groups with most calls."""
    selection = report.selection
    shown = [row for row in report.groups if row.metrics.automatic_scores][: len(GROUP_SERIES)]
    per = "day" if selection.bucket == "day" else "week"
    name = group_label.lower()

    def mean(row, bucket):
        return report.group_trend.get(row.key, {}).get(bucket, dashboard.Metrics()).automatic_mean

    return {
        "id": "quality-group-score",
        "title": f"Automatic score per {per} by {name} (the {len(shown)} with most calls)"
        if len(shown) > 1
        else f"Automatic score per {per} by {name}",
        "unit": "score",
        "labels": [bucket.isoformat() for bucket in report.buckets],
        "series": [
            {"name": row.label, "css": css, "values": [mean(row, bucket) for bucket in report.buckets]}
            for row, css in zip(shown, GROUP_SERIES, strict=False)
        ],
        "headers": ["Day" if per == "day" else "Week", *(row.label for row in shown)],
        "rows": [
            [
                _cell(_bucket_label(selection, bucket), header=True),
                *(_cell(_score(mean(row, bucket))) for row in shown),
            ]
            for bucket in report.buckets
        ]
        if shown
        else [],
    }


def _topic_chart(report: dashboard.Report) -> dict:
    selection = report.selection
    return {
        "id": "quality-topics",
        "title": "Topic frequency (calls per topic)",
        "unit": "count",
        "labels": [name for name, _ in report.topics],
        "series": [{"name": "calls", "css": "s1", "values": [count for _, count in report.topics]}],
        "headers": ["Topic", "Calls"],
        "rows": [
            [_cell(name, header=True), _count_link(count, selection, topic=name)] for name, count in report.topics
        ],
    }


@login_required
@require_GET
def quality(request: HttpRequest) -> HttpResponse:
    form = QualityFilterForm(request.GET or None, user=request.user)
    selection = form.quality_selection(today=timezone.localdate())
    report = dashboard.report(user=request.user, selection=selection)
    summary = [
        _summary_row(selection, row.metrics, group=row, label=row.label, topics=row.topics) for row in report.groups
    ]
    total = _summary_row(selection, report.total, label="All", topics=report.topics[: dashboard.TOP_TOPICS_PER_GROUP])
    group_label = dict(GROUP_BY_CHOICES)[selection.group_by]
    context = {
        "form": form,
        "selection": selection,
        "period_label": dict(PERIODS)[str(selection.days)],
        "group_label": group_label,
        "summary_headers": SUMMARY_HEADERS,
        "summary": summary,
        "summary_total_rows": [total] if report.groups else None,
        "charts": [*_trend_charts(report), _group_score_chart(report, group_label)],
        "topic_chart": _topic_chart(report),
    }
    return render(request, "reviews/quality.html", context)
