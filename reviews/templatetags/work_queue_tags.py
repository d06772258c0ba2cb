"""The body rows of "My queue"'s lists (templates/reviews/work_queue.html), built in one pass.

A supervisor's landing page lists a hundred calls (their team's assignments and the calls to assign); each row
rendered through the template engine cost about half the page (bench/dashboard_load.py, the team queue). Every
value goes through escape() (format_html), so the joined markup is safe.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

WHEN = "j M Y H:i"
NOBODY = "–"


@register.simple_tag
def assignment_rows(rows, *, selectable: bool, show_assignee: bool, id_prefix: str) -> SafeString:
    """One <tr> per ReviewAssignment: a checkbox (when selectable), due (overdue marked), call, start, queue,
    agent, reviewer (when show_assignee), who chose it and its review status."""
    return mark_safe("".join(_assignment_row(row, selectable, show_assignee, id_prefix) for row in rows))


@register.simple_tag
def assignable_rows(calls) -> SafeString:
    """One <tr> per Conversation nobody has open: a checkbox, call, start, queue, agent and review status."""
    return mark_safe("".join(_assignable_row(call, n) for n, call in enumerate(calls, start=1)))


def _assignment_row(row, selectable: bool, show_assignee: bool, id_prefix: str) -> str:
    call = row.conversation
    cells = [_checkbox(call.genesys_id, f"{id_prefix}-{row.pk}")] if selectable else []
    overdue = ' <span class="badge overdue-badge">Overdue</span>' if row.overdue else ""
    cells.append(format_html('<td class="due">{}{}</td>', _when(row.due_at), mark_safe(overdue)))
    *call_cells, review_status = _call_cells(call)
    cells += call_cells
    if show_assignee:
        cells.append(format_html("<td>{}</td>", row.assignee.get_username()))
    cells.append(format_html("<td>{}</td>", _chosen_by(row)))
    cells.append(review_status)
    return ('<tr class="overdue">' if row.overdue else "<tr>") + "".join(cells) + "</tr>"


def _assignable_row(call, n: int) -> str:
    return "<tr>" + _checkbox(call.genesys_id, f"assign-{n}") + "".join(_call_cells(call)) + "</tr>"


def _call_cells(call) -> list[str]:
    """Call link, start, queue, agent, review status."""
    return [
        format_html(
            '<td class="mono"><a href="{}">{}</a></td>',
            reverse("conversation", args=[call.genesys_id]),
            call.genesys_id,
        ),
        format_html("<td>{}</td>", _when(call.started_at)),
        format_html("<td>{}</td>", call.queue or NOBODY),
        format_html("<td>{}</td>", call.agent or NOBODY),
        format_html(
            '<td><span class="badge review-{}">{}</span></td>', call.review_status, call.get_review_status_display()
        ),
    ]


def _checkbox(genesys_id: str, element_id: str) -> str:
    return format_html(
        '<td><input type="checkbox" name="conversation" value="{}" id="{}">'
        '<label class="visually-hidden" for="{}">Select {}</label></td>',
        genesys_id,
        element_id,
        element_id,
        genesys_id,
    )


def _chosen_by(row) -> str:
    if row.rule:
        return f"Rule: {row.rule.name}"
    if row.assigned_by:
        return f"Assigned by {row.assigned_by.get_username()}"
    return "Deleted rule"


def _when(value) -> str:
    return format_date(timezone.localtime(value), WHEN) if value else ""
