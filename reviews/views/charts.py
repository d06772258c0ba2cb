"""Latency and accuracy charts, filtered by queue and agent, drawn as inline SVG."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reviews import access, aggregates
from reviews.search import filters as call_filters

PERIODS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days")]


class ChartFilterForm(forms.Form):
    queue = forms.ChoiceField(required=False, label="Queue")
    agent = forms.ChoiceField(required=False, label="Agent")
    days = forms.TypedChoiceField(
        choices=PERIODS, coerce=int, empty_value=30, required=False, initial="30", label="Period"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        queues, agents = access.visible_queues(user), access.visible_agents(user)
        self.fields["queue"].choices = [("", "All queues"), *((q.genesys_id, str(q)) for q in queues)]
        self.fields["agent"].choices = [("", "All agents"), *((a.genesys_id, str(a)) for a in agents)]

    def selection(self) -> dict:
        """The aggregates' scope: the conversations the user may open that pass the chosen queue, agent and period,
        by the search's own filters (reviews/search/filters.py)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        days = data.get("days") or 30
        filters = call_filters.SearchFilters(
            queues=[data["queue"]] if data.get("queue") else (),
            agents=[data["agent"]] if data.get("agent") else (),
            date_from=timezone.now() - timedelta(days=days),
        )
        return {"conversations_qs": call_filters.conversations(user=self.user, filters=filters)}


def _latency_chart(rows: list[dict], prefix: str, title: str) -> dict:
    return {
        "title": title,
        "unit": "ms",
        "labels": [str(row["day"]) for row in rows],
        "series": [
            {"name": "p50", "css": "s1", "values": [row[f"{prefix}_p50_ms"] for row in rows]},
            {"name": "p95", "css": "s2", "values": [row[f"{prefix}_p95_ms"] for row in rows]},
        ],
    }


def _distribution_chart(buckets) -> dict:
    return {
        "title": "Transcripts by mean word confidence",
        "unit": "count",
        "labels": [f"{low * 100:.0f}–{high * 100:.0f}%" for low, high, _ in buckets],
        "series": [{"name": "transcripts", "css": "s1", "values": [count for _, _, count in buckets]}],
    }


def _accuracy_trend_chart(rows: list[dict]) -> dict:
    return {
        "title": "Mean confidence and low-confidence share per day",
        "unit": "ratio",
        "labels": [str(row["day"]) for row in rows],
        "series": [
            {"name": "mean confidence", "css": "s1", "values": [row["mean_confidence"] for row in rows]},
            {"name": "low-confidence share", "css": "s3", "values": [row["low_confidence_share"] for row in rows]},
        ],
    }


@login_required
@require_GET
def charts(request: HttpRequest) -> HttpResponse:
    form = ChartFilterForm(request.GET or None, user=request.user)
    selection = form.selection()
    # A user who may see no conversation has nothing to aggregate; the percentile SQL cannot even be built
    # over Django's empty queryset (EmptyResultSet), so it is not asked.
    sees_nothing = selection["conversations_qs"].query.is_empty()
    latency_rows = [] if sees_nothing else aggregates.latency_by_day(**selection)
    accuracy_rows = aggregates.accuracy_by_day(**selection)
    buckets = aggregates.accuracy_distribution(**selection)
    context = {
        "form": form,
        "latency_rows": latency_rows,
        "accuracy_rows": accuracy_rows,
        "buckets": buckets,
        "availability_chart": _latency_chart(
            latency_rows, "availability", "Availability latency (call end → last transcript part ready)"
        ),
        "store_chart": _latency_chart(latency_rows, "store", "Pipeline latency (transcript ready → stored)"),
        "deliver_chart": _latency_chart(latency_rows, "deliver", "Compliance delivery latency (stored → delivered)"),
        "distribution_chart": _distribution_chart(buckets),
        "trend_chart": _accuracy_trend_chart(accuracy_rows),
    }
    return render(request, "reviews/charts.html", context)
