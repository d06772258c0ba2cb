"""Search across transcripts: one GET form, results grouped by conversation."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from reviews import access, audit
from reviews import search as search_backend
from reviews.models import Agent, Conversation, Queue, Transcript

PAGE_SIZE = 20  # conversations per page, each with its best few hits
LISTED_CONVERSATIONS = 50


def _blank(choices) -> list[tuple[str, str]]:
    return [("", "Any"), *choices]


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=500, label="Search transcripts")
    speaker = forms.ChoiceField(
        required=False, choices=_blank([("internal", "Agent / IVR"), ("external", "Customer")]), label="Speaker"
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    queue = forms.ChoiceField(required=False, label="Queue")
    agent = forms.ChoiceField(required=False, label="Agent")
    redaction_status = forms.ChoiceField(
        required=False, choices=_blank(Transcript.RedactionStatus.choices), label="Redaction"
    )
    confidence_min = forms.IntegerField(required=False, min_value=0, max_value=100, label="Confidence from %")
    confidence_max = forms.IntegerField(required=False, min_value=0, max_value=100, label="to %")
    review_status = forms.ChoiceField(
        required=False, choices=_blank(Conversation.ReviewStatus.choices), label="Review status"
    )
    cursor = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)

    FILTER_FIELDS = (
        "speaker",
        "date_from",
        "date_to",
        "queue",
        "agent",
        "redaction_status",
        "confidence_min",
        "confidence_max",
        "review_status",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only offer queues and agents the user can actually see conversations for.
        visible = access.conversations_for(user)
        queues = Queue.objects.filter(conversations__in=visible).distinct().order_by("name", "genesys_id")
        agents = Agent.objects.filter(conversations__in=visible).distinct().order_by("name", "genesys_id")
        self.fields["queue"].choices = _blank([(q.genesys_id, str(q)) for q in queues])
        self.fields["agent"].choices = _blank([(a.genesys_id, str(a)) for a in agents])

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end date is before the start date.")
        low, high = cleaned.get("confidence_min"), cleaned.get("confidence_max")
        if low is not None and high is not None and low > high:
            self.add_error("confidence_max", "The upper bound is below the lower bound.")
        return cleaned

    def active_filters(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in self.FILTER_FIELDS
            if self.cleaned_data.get(name) not in ("", None)
        }

    def to_filters(self):
        data = self.cleaned_data

        def ratio(percent):
            return None if percent is None else percent / 100

        return search_backend.SearchFilters(
            speaker=data["speaker"] or None,
            date_from=data["date_from"],
            date_to=data["date_to"],
            queues=[data["queue"]] if data["queue"] else (),
            agents=[data["agent"]] if data["agent"] else (),
            redaction_status=data["redaction_status"] or None,
            confidence_min=ratio(data["confidence_min"]),
            confidence_max=ratio(data["confidence_max"]),
            review_status=data["review_status"] or None,
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


def _search_transcripts(request: HttpRequest, form: SearchForm) -> dict:
    filters = form.to_filters()
    try:
        page = search_backend.search_grouped(
            user=request.user,
            query=form.cleaned_data["q"],
            filters=filters,
            limit=PAGE_SIZE,
            cursor=form.cleaned_data["cursor"] or None,
        )
    except ValueError:
        # Only an expired or tampered cursor gets here; query text never raises.
        return {"search_error": "That page of results is no longer available. Run the search again."}
    audit.record_search(
        request=request, query=form.cleaned_data["q"], filters=filters, total=page.total, shown=page.groups
    )
    return {"page": page, "next_url": _next_page_url(request, page.next_cursor)}


def _filtered_conversations(request: HttpRequest, form: SearchForm) -> dict:
    """Filters without words list conversations (e.g. every escalated call this week)."""
    data = form.cleaned_data
    conversations = access.conversations_for(request.user).select_related("queue", "agent")
    if data["date_from"]:
        conversations = conversations.filter(started_at__date__gte=data["date_from"])
    if data["date_to"]:
        conversations = conversations.filter(started_at__date__lte=data["date_to"])
    if data["queue"]:
        conversations = conversations.filter(queue__genesys_id=data["queue"])
    if data["agent"]:
        conversations = conversations.filter(agent__genesys_id=data["agent"])
    if data["review_status"]:
        conversations = conversations.filter(review_status=data["review_status"])
    # The transcript conditions hold for one part together (a call with several parts is listed once when any
    # single part matches all of them), and the id subquery needs no DISTINCT over the conversation rows.
    part = {}
    if data["redaction_status"]:
        part["redaction_status"] = data["redaction_status"]
    if data["confidence_min"] is not None:
        part["confidence_mean__gte"] = data["confidence_min"] / 100
    if data["confidence_max"] is not None:
        part["confidence_mean__lte"] = data["confidence_max"] / 100
    if part:
        conversations = conversations.filter(pk__in=Transcript.objects.filter(**part).values("conversation_id"))
    listed = list(conversations[:LISTED_CONVERSATIONS])
    audit.record_search(request=request, query="", filters=form.to_filters(), total=len(listed), shown=listed)
    return {"listed": listed, "listed_title": "Conversations matching the filters"}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("search")


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None, user=request.user)
    context: dict = {"form": form}
    if form.is_bound and form.is_valid() and form.cleaned_data["q"].strip():
        context.update(_search_transcripts(request, form))
    elif form.is_bound and form.is_valid() and form.active_filters():
        context.update(_filtered_conversations(request, form))
    elif not form.errors:
        recent = access.conversations_for(request.user).select_related("queue", "agent")
        context.update(listed=recent[:LISTED_CONVERSATIONS], listed_title="Recent conversations")
    template_name = "reviews/search.html"
    if _is_partial_request(request):
        template_name += "#results"
    response = render(request, template_name, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
