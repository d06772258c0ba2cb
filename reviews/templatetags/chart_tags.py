"""Small server-rendered SVG charts (no JS, no build step).

A chart is a plain dict built by the view: {"title", "labels", "series": [{"name", "css", "values"}],
"unit": "ms" | "ratio" | "count" | "score"}, optionally an "id". Every value also lands in an SVG <title> so a
hover or a screen reader gets the number; the page renders the same data as a <table> under the chart.
Each SVG is one image (role="img") named by its own <title> (aria-labelledby), so two charts never share a name
as long as their titles differ; the table beside it is a region named "<title>: values".
"""

from __future__ import annotations

import math

from django import template
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

register = template.Library()

WIDTH, HEIGHT = 720, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 28, 16, 40
MAX_X_LABELS = 8


@register.filter
def format_value(value, unit: str = "ms") -> str:
    if value is None:
        return "–"
    value = float(value)
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "score":  # an evaluation score, 0-100
        return f"{value:.1f}"
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    if value < 3_600_000:
        return f"{value / 60_000:.1f} min"
    return f"{value / 3_600_000:.1f} h"


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):  # each divides into four readable gridlines
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _y_max(chart: dict) -> float:
    if chart.get("unit") == "ratio":
        return 1.0
    if chart.get("unit") == "score":
        return 100.0
    values = [v for series in chart["series"] for v in series["values"] if v is not None]
    if chart.get("unit") == "count":  # four whole-number gridlines
        return max(4, math.ceil(max(values, default=0) / 4) * 4)
    return _nice_ceiling(max(values, default=0))


def _frame(chart: dict, y_max: float) -> list[SafeString]:
    unit = chart.get("unit", "ms")
    plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM
    parts = []
    for tick in range(5):
        y = PAD_TOP + plot_height - plot_height * tick / 4
        parts.append(
            format_html(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                PAD_LEFT,
                WIDTH - PAD_RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                PAD_LEFT - 6,
                f"{y + 4:.1f}",
                format_value(y_max * tick / 4, unit),
            )
        )
    return parts


def _x_positions(count: int) -> list[float]:
    plot_width = WIDTH - PAD_LEFT - PAD_RIGHT
    if count == 1:
        return [PAD_LEFT + plot_width / 2]
    return [PAD_LEFT + plot_width * i / (count - 1) for i in range(count)]


def _tick_text(label: str) -> str:
    # ISO days read fine as MM-DD on an axis; the <title> and the table keep the full date.
    return label[5:] if len(label) == 10 and label[4] == "-" and label[7] == "-" else label


def _x_labels(labels: list[str], xs: list[float], *, limit: int = MAX_X_LABELS) -> list[SafeString]:
    every = max(1, math.ceil(len(labels) / limit))
    return [
        format_html(
            '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
            f"{x:.1f}",
            HEIGHT - 14,
            _tick_text(label),
        )
        for i, (label, x) in enumerate(zip(labels, xs, strict=True))
        if i % every == 0
    ]


def chart_id(chart: dict) -> str:
    """The chart's element id: its own "id", else one made from its title (unique while titles are)."""
    return chart.get("id") or "chart-" + (slugify(chart["title"]) or "untitled")


def _svg(chart: dict, body: list[SafeString]) -> SafeString:
    title_id = f"{chart_id(chart)}-title"
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}" preserveAspectRatio="xMidYMid meet">'
        '<title id="{}">{}</title>{}</svg>',
        WIDTH,
        HEIGHT,
        title_id,
        title_id,
        chart["title"],
        format_html_join("", "{}", ((part,) for part in body)),
    )


@register.filter
def table_label(chart: dict) -> str:
    """The accessible name of the values table beside a chart: distinct for each chart on a page."""
    return f"{chart['title']}: values"


def _empty(chart: dict) -> SafeString:
    return _svg(
        chart,
        [format_html('<text class="empty" x="{}" y="{}" text-anchor="middle">No data</text>', WIDTH / 2, HEIGHT / 2)],
    )


@register.simple_tag
def line_chart(chart: dict) -> SafeString:
    labels = [str(label) for label in chart["labels"]]
    if not labels:
        return _empty(chart)
    unit = chart.get("unit", "ms")
    y_max = _y_max(chart)
    plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM
    xs = _x_positions(len(labels))
    body = _frame(chart, y_max) + _x_labels(labels, xs)
    for series in chart["series"]:
        points = [
            (x, PAD_TOP + plot_height * (1 - min(value / y_max, 1)), label, value)
            for x, label, value in zip(xs, labels, series["values"], strict=True)
            if value is not None
        ]
        if len(points) > 1:
            body.append(
                format_html(
                    '<polyline class="line {}" points="{}"/>',
                    series["css"],
                    " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points),
                )
            )
        body.extend(
            format_html(
                '<circle class="point {}" cx="{}" cy="{}" r="3.5"><title>{} · {}: {}</title></circle>',
                series["css"],
                f"{x:.1f}",
                f"{y:.1f}",
                label,
                series["name"],
                format_value(value, unit),
            )
            for x, y, label, value in points
        )
    return _svg(chart, body)


@register.simple_tag
def bar_chart(chart: dict) -> SafeString:
    labels = [str(label) for label in chart["labels"]]
    values = chart["series"][0]["values"] if chart["series"] else []
    if not labels or not any(values):
        return _empty(chart)
    unit = chart.get("unit", "count")
    y_max = _y_max(chart)
    plot_width = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_width / len(labels)
    body = _frame(chart, y_max)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_height = plot_height * min((value or 0) / y_max, 1)
        body.append(
            format_html(
                '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
                chart["series"][0]["css"],
                f"{PAD_LEFT + slot * i + slot * 0.1:.1f}",
                f"{PAD_TOP + plot_height - bar_height:.1f}",
                f"{slot * 0.8:.1f}",
                f"{bar_height:.1f}",
                label,
                format_value(value, unit),
            )
        )
    centers = [PAD_LEFT + slot * (i + 0.5) for i in range(len(labels))]
    body.extend(_x_labels(labels, centers, limit=10))
    return _svg(chart, body)


@register.filter
def seconds_value(value) -> str:
    return format_value(None if value is None else float(value) * 1000, "ms")


@register.simple_tag
def table_rows(rows) -> SafeString:
    """The body rows of a chart's (or a summary's) table, built in one pass (a page has a thousand cells).

    A cell is {"text", "url", "header"}: a <td>, or a <th scope="row"> for the row's own name, its text a link
    when there is a url; or {"is_topics": True, "topics": [{"name", "count", "url"}]}: a short list. Every text
    and url goes through escape() (_linked), so the joined markup is safe.
    """
    return mark_safe("".join("<tr>" + "".join(_cell_html(cell) for cell in row) + "</tr>" for row in rows))


def _cell_html(cell: dict) -> str:
    if cell.get("is_topics"):
        if not cell["topics"]:
            return "<td>–</td>"
        items = "".join(
            f"<li>{_linked(topic['name'], topic['url'])} ({int(topic['count'])})</li>" for topic in cell["topics"]
        )
        return f'<td><ul class="quality-topics">{items}</ul></td>'
    content = _linked(cell["text"], cell.get("url"))
    return f'<th scope="row">{content}</th>' if cell.get("header") else f"<td>{content}</td>"


def _linked(text, url) -> str:
    """Escaped text, as a link when there is a url (escaped too)."""
    return f'<a href="{escape(url)}">{escape(text)}</a>' if url else str(escape(text))
