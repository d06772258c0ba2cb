"""The search page's hit list (reviews/templatetags/search_tags.py), on unsaved rows: no database."""

from __future__ import annotations

import datetime as dt

from django.utils.safestring import mark_safe

from reviews.models import Agent, Conversation, Queue, Transcript
from reviews.search.filters import CallMetrics
from reviews.search.types import ConversationHits, SearchHit
from reviews.templatetags.search_tags import hit_groups

STARTED = dt.datetime(2026, 3, 11, 12, 30, tzinfo=dt.UTC)
GENESYS, VAULT = Transcript.Source.GENESYS, Transcript.Source.VAULT_ASR


def call(**fields) -> Conversation:
    return Conversation(genesys_id="conv-1", started_at=STARTED, **fields)


def hit(conversation, *, source=GENESYS, start_ms=83_000, **fields) -> SearchHit:
    return SearchHit(
        conversation=conversation,
        utterance_id=41,
        communication_id="comm-1",
        speaker="external",
        start_ms=start_ms,
        snippet_html=mark_safe("my <mark>card</mark> number"),
        score=1.0,
        transcript_source=source,
        **fields,
    )


def group(conversation, hits, metrics=None) -> ConversationHits:
    return ConversationHits(conversation=conversation, hits=hits, score=1.0, metrics=metrics)


def test_it_escapes_every_value_it_writes_and_keeps_the_snippets_markup():
    hostile = '"><img src=x onerror=alert(1)>'
    conversation = call(queue=Queue(name=hostile), agent=Agent(name=hostile), direction=hostile)

    html = hit_groups([group(conversation, [hit(conversation, asr_engine=hostile, source=VAULT)])])

    assert "<img" not in html and html.count("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;") == 4
    assert "my <mark>card</mark> number" in html


def test_it_links_the_call_and_each_moment_with_the_calls_facts():
    conversation = call(direction="inbound")
    facts = CallMetrics(duration_ms=125_000, confidence=0.913, sentiment=-0.62)

    html = hit_groups([group(conversation, [hit(conversation)], facts)])

    assert '<a class="conv-link" href="/conversations/conv-1/">Wed 11 Mar 2026, 12:30</a>' in html
    assert '<span class="meta">No queue · Unknown agent · inbound · <span class="call-facts">' in html
    assert '<span title="Duration">02:05</span> · <span class="chip sentiment-negative" title="Mean Genesys ' in html
    assert 'sentiment -0.62">Negative</span> · <span title="Mean word confidence">91%</span>' in html
    assert 'href="/conversations/conv-1/?t=83000#u-41" title="Open the call at 01:23">01:23</a>' in html
    assert '<span class="speaker speaker-external">Customer</span>' in html
    assert "source-" not in html  # one source, Genesys': no label


def test_it_labels_a_vault_transcript_and_genesys_hits_beside_one():
    conversation = call()
    both = CallMetrics(duration_ms=None, confidence=None, sentiment=None, transcript_sources=(GENESYS, VAULT))

    html = hit_groups([group(conversation, [hit(conversation), hit(conversation, source=VAULT)], both)])

    assert '<span class="chip source-genesys">Genesys</span> my <mark>' in html
    assert '<span class="badge source-vault-asr" title="Machine transcript by the vault (engine not recorded)' in html
    assert (
        '<span title="Duration">–</span> · <span class="muted" title="No sentiment events">No sentiment</span>' in html
    )
