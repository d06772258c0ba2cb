"""The search page's hit list (templates/reviews/_search_hits.html), built in one pass.

Rendering twenty calls and their hits through the template engine (an include per call for its facts) was about
60% of a search request (issue 14 §3). Every value goes through escape() (format_html); the snippets are the
search's own escaped markup (SearchHit.snippet_html), so the joined markup is safe.
"""

from __future__ import annotations

from django import template
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst

from reviews.templatetags.transcript_tags import mmss, percent, side_label

register = template.Library()

STARTED = "D j M Y, H:i"


@register.simple_tag
def hit_groups(groups) -> SafeString:
    """One <article> per call: its start (a link), queue, agent, direction, facts and review status, then its hits,
    each a link to its moment, its side and its snippet (a vault transcript's hits are labelled as such)."""
    return mark_safe("".join(_group(group) for group in groups))


def _group(group) -> str:
    call = group.conversation
    url = reverse("conversation", args=[call.genesys_id])
    meta = [format_html("{} · {}", call.queue or "No queue", call.agent or "Unknown agent")]
    if call.direction:
        meta.append(format_html(" · {}", call.direction))
    if group.metrics:
        meta.append(format_html(" · {}", call_facts(group.metrics)))
    several_sources = bool(group.metrics) and len(group.metrics.transcript_sources) > 1
    hits = "".join(_hit(hit, url, several_sources) for hit in group.hits)
    return format_html(
        '<article class="hit-group"><header><a class="conv-link" href="{}">{}</a> <span class="meta">{}</span> '
        '<span class="badge review-{}">{}</span></header><ol class="hits">{}</ol></article>',
        url,
        format_date(timezone.localtime(call.started_at), STARTED),
        mark_safe("".join(meta)),
        call.review_status,
        call.get_review_status_display(),
        mark_safe(hits),
    )


def _hit(hit, url: str, several_sources: bool) -> str:
    # A machine transcript by the vault is never shown as if Genesys had transcribed the call; in a call with parts
    # of both, Genesys' hits say so too. The label sits in the snippet's cell (the row is a 3-column grid).
    if hit.is_vault_transcript:
        label = format_html(
            '<span class="badge source-vault-asr" title="Machine transcript by the vault ({}); Genesys did not '
            'transcribe this; accuracy is lower">{}</span> ',
            hit.asr_description,
            hit.transcript_source_label,
        )
    elif several_sources:
        label = format_html('<span class="chip source-genesys">{}</span> ', hit.transcript_source_label)
    else:
        label = ""
    at = mmss(hit.start_ms)
    return format_html(
        '<li data-source="{}"><a class="timestamp" href="{}?t={}#u-{}" title="Open the call at {}">{}</a> '
        '<span class="speaker speaker-{}">{}</span> <span class="snippet">{}{}</span></li>',
        hit.transcript_source,
        url,
        hit.start_ms,
        hit.utterance_id,
        at,
        at,
        hit.speaker,
        side_label(hit.speaker),
        label,
        hit.snippet_html,
    )


def call_facts(metrics) -> SafeString:
    """Duration, sentiment and confidence of one call (reviews/search/filters.py CallMetrics)."""
    duration = mmss(metrics.duration_ms) if metrics.duration_ms is not None else "–"
    if metrics.sentiment_label:
        sentiment = format_html(
            '<span class="chip sentiment-{}" title="Mean Genesys sentiment {}">{}</span>',
            metrics.sentiment_label,
            floatformat(metrics.sentiment, 2),
            capfirst(metrics.sentiment_label),
        )
    else:
        sentiment = mark_safe('<span class="muted" title="No sentiment events">No sentiment</span>')
    return format_html(
        '<span class="call-facts"><span title="Duration">{}</span> · {} · '
        '<span title="Mean word confidence">{}</span></span>',
        duration,
        sentiment,
        percent(metrics.confidence),
    )
