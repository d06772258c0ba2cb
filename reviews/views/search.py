"""Search as a work list: one GET form; words give hits grouped by conversation, filters alone list calls.

Both lists have a total, a sort order and a CSV export of the same list (search_export). The filters are
reviews/search/filters.py, shared with the JSON API and the charts.
"""

from __future__ import annotations

import csv
import html
import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from reviews import access, audit
from reviews import search as search_backend
from reviews.models import AuditEvent, Conversation, Transcript
from reviews.redaction import FINDING_KINDS
from reviews.redaction.masks import VAULT_MASK_LABELS
from reviews.search import filters as call_filters
from reviews.search import service
from reviews.spreadsheets import neutralise
from reviews.templatetags.transcript_tags import mmss
from reviews.views import work_queue

PAGE_SIZE = 20  # conversations per page; with words, each with its best few hits
EXPORT_MAX_ROWS = service.MAX_LISTING_OFFSET
EXPORT_CHUNK = 500
SECONDS_PER_MINUTE = 60


def _blank(choices, label: str = "Any") -> list[tuple[str, str]]:
    return [("", label), *choices]


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=500, label="Search transcripts")
    sort = forms.ChoiceField(
        required=False,
        choices=_blank(
            [(key, label) for key, label in call_filters.SORT_LABELS.items() if key != call_filters.RELEVANCE],
            "Best match (newest first without words)",
        ),
        label="Sort",
    )
    speaker = forms.ChoiceField(
        required=False, choices=_blank([("internal", "Agent / IVR"), ("external", "Customer")]), label="Speaker"
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    queue = forms.ChoiceField(required=False, label="Queue")
    agent = forms.ChoiceField(required=False, label="Agent")
    direction = forms.ChoiceField(
        required=False, choices=_blank([(d, d.title()) for d in call_filters.DIRECTIONS]), label="Direction"
    )
    duration_min = forms.DecimalField(
        required=False, min_value=0, max_value=1440, decimal_places=1, label="Duration from (min)"
    )
    duration_max = forms.DecimalField(required=False, min_value=0, max_value=1440, decimal_places=1, label="to (min)")
    sentiment = forms.ChoiceField(
        required=False, choices=_blank([(s, s.title()) for s in call_filters.SENTIMENTS]), label="Sentiment"
    )
    topic = forms.CharField(required=False, max_length=call_filters.MAX_TOPIC_CHARS, label="Topic")
    leak_kind = forms.ChoiceField(
        required=False,
        choices=_blank([(kind, VAULT_MASK_LABELS[kind].capitalize()) for kind in FINDING_KINDS]),
        label="Leak found",
    )
    redaction_status = forms.ChoiceField(
        required=False, choices=_blank(Transcript.RedactionStatus.choices), label="Redaction"
    )
    confidence_min = forms.IntegerField(required=False, min_value=0, max_value=100, label="Confidence from %")
    confidence_max = forms.IntegerField(required=False, min_value=0, max_value=100, label="to %")
    review_status = forms.ChoiceField(
        required=False, choices=_blank(Conversation.ReviewStatus.choices), label="Review status"
    )
    transcript_source = forms.ChoiceField(
        required=False, choices=_blank(Transcript.Source.choices), label="Transcript by"
    )
    audio_only = forms.BooleanField(required=False, label="Audio only (no Genesys transcript)")
    evaluated = forms.ChoiceField(
        required=False, choices=_blank(list(call_filters.EVALUATED.items())), label="Evaluation"
    )
    cursor = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only offer queues and agents the user can actually see conversations for.
        queues, agents = access.visible_queues(user), access.visible_agents(user)
        self.fields["queue"].choices = _blank([(q.genesys_id, str(q)) for q in queues])
        self.fields["agent"].choices = _blank([(a.genesys_id, str(a)) for a in agents])
        self.fields["topic"].widget.attrs["placeholder"] = "A Genesys topic name"

    def clean(self):
        cleaned = super().clean()
        for low_name, high_name in (("date_from", "date_to"), ("confidence_min", "confidence_max")):
            low, high = cleaned.get(low_name), cleaned.get(high_name)
            if low is not None and high is not None and low > high:
                self.add_error(high_name, "The upper bound is below the lower bound.")
        low, high = cleaned.get("duration_min"), cleaned.get("duration_max")
        if low is not None and high is not None and low > high:
            self.add_error("duration_max", "The upper bound is below the lower bound.")
        return cleaned

    @property
    def words(self) -> str:
        return self.cleaned_data["q"].strip()

    def sort_order(self) -> str:
        chosen = self.cleaned_data["sort"]
        if chosen:
            return chosen
        return call_filters.RELEVANCE if self.words else call_filters.DEFAULT_LISTING_SORT

    def to_filters(self) -> call_filters.SearchFilters:
        data = self.cleaned_data

        def ratio(percent):
            return None if percent is None else percent / 100

        def seconds(minutes: Decimal | None):
            return None if minutes is None else int(round(minutes * SECONDS_PER_MINUTE))

        return call_filters.SearchFilters(
            speaker=data["speaker"] or None,
            date_from=data["date_from"],
            date_to=data["date_to"],
            queues=[data["queue"]] if data["queue"] else (),
            agents=[data["agent"]] if data["agent"] else (),
            redaction_status=data["redaction_status"] or None,
            confidence_min=ratio(data["confidence_min"]),
            confidence_max=ratio(data["confidence_max"]),
            review_status=data["review_status"] or None,
            direction=data["direction"] or None,
            duration_min_seconds=seconds(data["duration_min"]),
            duration_max_seconds=seconds(data["duration_max"]),
            sentiment=data["sentiment"] or None,
            topic=data["topic"] or None,
            leak_kind=data["leak_kind"] or None,
            audio_only=data["audio_only"],
            evaluated=data["evaluated"] or None,
            transcript_source=data["transcript_source"] or None,
        )


def _is_partial_request(request: HttpRequest) -> bool:
    # A history restore after a cache miss also sends HX-Request but needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _next_page_url(request: HttpRequest, next_cursor: str | None) -> str:
    if not next_cursor:
        return ""
    params = request.GET.copy()
    params["cursor"] = next_cursor
    return f"{request.path}?{params.urlencode()}"


def _export_url(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("cursor", None)
    return f"{reverse('search-export')}?{params.urlencode()}"


def query_as_quoted(query: str) -> str:
    """The query as the page quotes it: a query that is one quoted phrase loses its own quotes (quoted once)."""
    text = query.strip()
    if len(text) > 1 and text[0] == text[-1] == '"' and '"' not in text[1:-1]:
        return text[1:-1]
    return text


def _search_transcripts(request: HttpRequest, form: SearchForm) -> dict:
    filters = form.to_filters()
    try:
        page = search_backend.search_grouped(
            user=request.user,
            query=form.cleaned_data["q"],
            filters=filters,
            limit=PAGE_SIZE,
            cursor=form.cleaned_data["cursor"] or None,
            sort=form.sort_order(),
        )
    except ValueError:
        # Only an expired or tampered cursor gets here; query text never raises.
        return {"search_error": "That page of results is no longer available. Run the search again."}
    audit.record_search(
        request=request, query=form.cleaned_data["q"], filters=filters, total=page.total, shown=page.groups
    )
    return {
        "page": page,
        "next_url": _next_page_url(request, page.next_cursor),
        "quoted_query": query_as_quoted(form.cleaned_data["q"]),
    }


def _work_list(request: HttpRequest, form: SearchForm) -> dict:
    """Calls without words: those matching the filters (e.g. every escalated call this week), or the newest."""
    filters = form.to_filters()
    narrowing = call_filters.is_narrowing(filters)
    try:
        page = search_backend.list_conversations(
            user=request.user,
            filters=filters,
            sort=form.sort_order(),
            limit=PAGE_SIZE,
            cursor=form.cleaned_data["cursor"] or None,
        )
    except ValueError:
        return {"search_error": "That page of results is no longer available. Run the search again."}
    if narrowing:
        audit.record_search(
            request=request, query="", filters=filters, total=page.total, shown=[i.conversation for i in page.items]
        )
    return {
        "listing": page,
        "listed_title": "Conversations matching the filters" if narrowing else "Recent conversations",
        "next_url": _next_page_url(request, page.next_cursor),
    }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where signing in lands: "My queue" for reviewers and supervisors, search for everyone else."""
    return redirect(work_queue.landing_url_name(request.user))


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET, user=request.user)
    context: dict = {"form": form}
    if form.is_valid():
        context.update(_search_transcripts(request, form) if form.words else _work_list(request, form))
        context["export_url"] = _export_url(request)
    template_name = "reviews/search.html"
    if _is_partial_request(request):
        template_name += "#results"
    response = render(request, template_name, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# CSV export of the list the page shows

EXPORT_COLUMNS = (
    "conversation_id",
    "started_at",
    "duration_seconds",
    "direction",
    "queue",
    "agent",
    "review_status",
    "redaction_status",
    "transcript_source",
    "sentiment",
    "sentiment_score",
    "confidence",
    "best_match_at",
    "best_match",
    "best_match_source",
    "url",
)


def _plain_snippet(snippet_html) -> str:
    """The snippet as the page shows it, as plain text: our <mark> tags out, the escaping undone."""
    return html.unescape(re.sub(r"</?mark>", "", str(snippet_html)))


def _export_row(conversation: Conversation, metrics: call_filters.CallMetrics, hit=None) -> list[str]:
    link = settings.SITE_ROOT + reverse("conversation", kwargs={"conversation_id": conversation.genesys_id})
    if hit is not None:
        link += f"?t={hit.start_ms}#u-{hit.utterance_id}"
    return [
        neutralise(conversation.genesys_id),
        conversation.started_at.astimezone(timezone.get_current_timezone()).isoformat(),
        "" if metrics.duration_ms is None else str(round(metrics.duration_ms / 1000)),
        neutralise(conversation.direction),
        neutralise(conversation.queue or ""),
        neutralise(conversation.agent or ""),
        conversation.review_status,
        metrics.redaction_status or "",
        # Every source of the call's parts ("genesys", "vault-asr", or both joined by "+"); the hit's own below.
        "+".join(metrics.transcript_sources),
        metrics.sentiment_label,
        "" if metrics.sentiment is None else f"{metrics.sentiment:.2f}",
        "" if metrics.confidence is None else f"{metrics.confidence:.3f}",
        "" if hit is None else mmss(hit.start_ms),
        "" if hit is None else neutralise(_plain_snippet(hit.snippet_html)),
        "" if hit is None else hit.transcript_source,
        neutralise(link),
    ]


def _export_rows(request: HttpRequest, form: SearchForm) -> tuple[list[list[str]], list[Conversation], int]:
    """(rows, their conversations, how many matched) of the list the page would show, all pages at once."""
    filters, sort = form.to_filters(), form.sort_order()
    if form.words:
        page = service.search_grouped_all(user=request.user, query=form.cleaned_data["q"], filters=filters, sort=sort)
        rows = [_export_row(g.conversation, g.metrics, g.hits[0]) for g in page.groups]
        return rows, [g.conversation for g in page.groups], page.total
    ids, total = service.conversation_ids(user=request.user, filters=filters, sort=sort, limit=EXPORT_MAX_ROWS)
    items = [
        item
        for start in range(0, len(ids), EXPORT_CHUNK)
        for item in service.work_items(ids[start : start + EXPORT_CHUNK])
    ]
    return [_export_row(i.conversation, i.metrics) for i in items], [i.conversation for i in items], total or 0


@login_required
@require_GET
def search_export(request: HttpRequest) -> HttpResponse:
    """The page's list (same filters, sort and access scope) as CSV; audited as an EXPORT."""
    form = SearchForm(request.GET, user=request.user)
    if not form.is_valid():
        return HttpResponseBadRequest("Check the search form: the export takes the same filters as the page.")
    rows, conversations, total = _export_rows(request, form)
    _record_export(request, form, rows=len(rows), total=total, conversations=conversations)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="transcript-vault-search-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(rows)
    return response


def _record_export(request: HttpRequest, form: SearchForm, *, rows: int, total: int, conversations) -> None:
    """An EXPORT event with what a SEARCH event holds (terms masked, filters, sort) and which calls were exported."""
    from reviews.redaction import mask_text

    masked = mask_text(form.cleaned_data["q"] or "")
    ids = [conversation.genesys_id for conversation in conversations]
    detail = {
        "format": "csv",
        "query": masked,
        "terms": search_backend.parse_query(masked).terms,
        "filters": form.to_filters().as_dict(),
        "sort": form.sort_order(),
        "rows": rows,
        "total": total,
        "shown": ids[: audit.MAX_SHOWN_CONVERSATIONS],
    }
    audit.record_event(request=request, action=AuditEvent.Action.EXPORT, object_type="search", detail=detail)
