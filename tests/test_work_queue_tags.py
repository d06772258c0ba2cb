"""The rows of "My queue"'s lists (reviews/templatetags/work_queue_tags.py), on unsaved rows: no database."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User

from reviews.models import Agent, Conversation, Queue, ReviewAssignment, SamplingRule
from reviews.templatetags.work_queue_tags import assignable_rows, assignment_rows

DUE = dt.datetime(2026, 3, 11, 12, 30, tzinfo=dt.UTC)


def call(genesys_id="conv-1", **fields) -> Conversation:
    return Conversation(genesys_id=genesys_id, started_at=DUE - dt.timedelta(days=1), **fields)


def assignment(conversation, *, overdue=False, **fields) -> ReviewAssignment:
    row = ReviewAssignment(pk=7, conversation=conversation, assignee=User(username="rita"), due_at=DUE, **fields)
    row.overdue = overdue
    return row


def test_it_escapes_every_value_it_writes():
    hostile = '"><img src=x onerror=alert(1)>'
    conversation = call(hostile, queue=Queue(name=hostile), agent=Agent(name=hostile))
    row = assignment(conversation, rule=SamplingRule(name=hostile))

    html = assignment_rows([row], selectable=True, show_assignee=True, id_prefix="mine") + assignable_rows(
        [conversation]
    )

    # Checkbox value, its label, link text, queue, agent and rule of the assignment; the same but the rule for the
    # call to assign. The link's href is the URL-quoted id.
    assert "<img" not in html and html.count("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;") == 11


def test_it_marks_an_overdue_assignment_and_links_the_call():
    html = assignment_rows([assignment(call(), overdue=True)], selectable=False, show_assignee=False, id_prefix="x")

    assert html.startswith('<tr class="overdue"><td class="due">11 Mar 2026 12:30 <span class="badge overdue-badge">')
    assert '<a href="/conversations/conv-1/">conv-1</a>' in html
    assert "<input" not in html and "rita" not in html  # neither a checkbox nor the reviewer column


def test_it_labels_each_checkbox_and_says_who_chose_the_call():
    by_hand = assignment(call(), assigned_by=User(username="bob"))
    rows = assignment_rows([by_hand], selectable=True, show_assignee=True, id_prefix="team")

    assert 'id="team-7"><label class="visually-hidden" for="team-7">Select conv-1</label>' in rows
    assert "<td>rita</td><td>Assigned by bob</td>" in rows
    assert "<td>–</td><td>–</td>" in rows  # no queue, no agent
    assert 'id="assign-1"><label class="visually-hidden" for="assign-1">' in assignable_rows([call()])
    assert "Deleted rule" in assignment_rows([assignment(call())], selectable=False, show_assignee=False, id_prefix="x")
