"""The one filter implementation (reviews/search/filters.py), through every caller: the work list without words,
the grouped search with words, utterance search (the API's) and the ORM queryset (the charts')."""

from __future__ import annotations

import datetime as dt

import pytest

from reviews.models import AudioRecording, Conversation, RedactionFinding, Transcript, Utterance
from reviews.search import SearchFilters, list_conversations, search, search_grouped
from reviews.search import filters as call_filters
from reviews.search.pagination import encode_cursor
from reviews.views.parts import combined_metrics, ordered_parts

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(make_conversation):
    """make_conversation plus the call-level facts: transcript fields, end time, direction."""

    def make(*utterances, minutes: float = 5, direction: str = "inbound", transcript=None, **kwargs):
        conversation = make_conversation(*utterances, **kwargs)
        conversation.ended_at = conversation.started_at + dt.timedelta(minutes=minutes)
        conversation.direction = direction
        conversation.save(update_fields=["ended_at", "direction"])
        if transcript:
            Transcript.objects.filter(conversation=conversation).update(**transcript)
        return conversation

    return make


def listed(user, **filters) -> list[Conversation]:
    sort = filters.pop("sort", call_filters.DEFAULT_LISTING_SORT)
    page = list_conversations(user=user, filters=SearchFilters(**filters), sort=sort, limit=100)
    return [item.conversation for item in page.items]


def found(user, query, **filters) -> list[Conversation]:
    sort = filters.pop("sort", call_filters.RELEVANCE)
    page = search_grouped(user=user, query=query, filters=SearchFilters(**filters), sort=sort, limit=100)
    return [group.conversation for group in page.groups]


def both(user, query, **filters) -> tuple[set, set, set]:
    """The calls a filter keeps, three ways: work list, grouped search, the ORM queryset (charts)."""
    orm = set(call_filters.conversations(user=user, filters=SearchFilters(**filters)))
    return set(listed(user, **filters)), set(found(user, query, **filters)), orm


# The two old disagreements


def test_it_tests_confidence_on_the_call_with_and_without_words(staff, call):
    """The listing used the transcript mean and the search the utterance mean: now both use the call's."""
    sure = call({"text": "refund", "confidence": 0.2}, transcript={"confidence_mean": 0.9, "word_count": 10})
    call({"text": "refund", "confidence": 0.95}, transcript={"confidence_mean": 0.4, "word_count": 10})
    kept = {sure}
    assert both(staff, "refund", confidence_min=0.8) == (kept, kept, kept)
    assert [
        hit.conversation
        for hit in search(user=staff, query="refund", filters=SearchFilters(confidence_min=0.8)).results
    ] == [sure]


def test_it_lists_calls_by_speaker_alone(staff, call):
    """A speaker filter on its own listed every call; now the chosen side must have spoken."""
    spoken = call({"text": "hello there", "speaker": "external"}, {"text": "hi", "speaker": "internal"})
    call({"text": "press one", "speaker": "internal"})
    assert listed(staff, speaker="external") == [spoken]
    assert set(call_filters.conversations(user=staff, filters=SearchFilters(speaker="external"))) == {spoken}


def test_it_counts_only_the_chosen_sides_turns_as_hits(staff, call):
    both_sides = call({"text": "refund please", "speaker": "external"}, {"text": "refund done", "speaker": "internal"})
    page = search(user=staff, query="refund", filters=SearchFilters(speaker="internal"))
    assert [(hit.conversation, hit.speaker) for hit in page.results] == [(both_sides, "internal")]


# Each filter


def test_it_filters_by_duration_in_seconds(staff, call):
    short = call("refund", minutes=0.5)
    long = call("refund", minutes=20)
    middle = call("refund", minutes=5)
    open_ended = call("refund")
    Conversation.objects.filter(pk=open_ended.pk).update(ended_at=None)
    assert both(staff, "refund", duration_min_seconds=300) == ({long, middle},) * 3
    assert both(staff, "refund", duration_max_seconds=30) == ({short},) * 3
    assert both(staff, "refund", duration_min_seconds=60, duration_max_seconds=600) == ({middle},) * 3


def test_it_filters_by_direction(staff, call):
    outbound = call("refund", direction="outbound")
    call("refund", direction="inbound")
    assert both(staff, "refund", direction="outbound") == ({outbound},) * 3


@pytest.mark.parametrize(("sentiment", "expected"), [("negative", "angry"), ("neutral", "calm"), ("positive", "happy")])
def test_it_filters_by_the_calls_mean_sentiment(staff, call, sentiment, expected):
    calls = {
        "angry": call({"text": "refund", "sentiment": -1.0}, {"text": "ok", "sentiment": 0.0}),  # mean -0.5
        "calm": call({"text": "refund", "sentiment": -1.0}, {"text": "ok", "sentiment": 1.0}),  # mean 0
        "happy": call({"text": "refund", "sentiment": 1.0}, {"text": "ok"}),  # None does not count: mean 1
        "none": call({"text": "refund"}),
    }
    assert both(staff, "refund", sentiment=sentiment) == ({calls[expected]},) * 3


def test_it_puts_the_sentiment_boundaries_where_the_review_page_marks_them(staff, call):
    mark = call_filters.SENTIMENT_MARK
    at_mark = call({"text": "refund", "sentiment": -mark})
    assert listed(staff, sentiment="negative") == [at_mark]
    assert call_filters.sentiment_label(-mark) == "negative" and call_filters.sentiment_label(mark - 0.01) == "neutral"


def test_it_filters_by_a_topic_name_in_any_case_and_either_stored_form(staff, call):
    named = call({"text": "refund", "topics": ["Billing Dispute"]})
    as_object = call({"text": "other"}, {"text": "refund", "topics": [{"name": "billing dispute"}]})
    call({"text": "refund", "topics": ["Greeting"]})
    assert both(staff, "refund", topic="BILLING dispute") == ({named, as_object},) * 3


def test_it_filters_by_leak_kind(staff, call):
    leaked = call("refund")
    call("refund")
    transcript = leaked.transcripts.get()
    RedactionFinding.objects.create(
        transcript=transcript, kind="iban", rule="iban", confidence=1, start_ms=0, masked_excerpt="DE** ****"
    )
    assert both(staff, "refund", leak_kind="iban") == ({leaked},) * 3
    assert listed(staff, leak_kind="card_number") == []


def test_it_lists_audio_only_calls(staff, call):
    transcribed = call("refund")
    AudioRecording.objects.create(
        conversation=transcribed, recording_id="r1", sha256="a" * 64, size_bytes=1, content_type="audio/wav"
    )
    audio_only = call("gone")
    audio_only.transcripts.all().delete()
    AudioRecording.objects.create(
        conversation=audio_only, recording_id="r2", sha256="b" * 64, size_bytes=1, content_type="audio/wav"
    )
    nothing = call("gone too")
    nothing.transcripts.all().delete()
    assert listed(staff, audio_only=True) == [audio_only]
    assert found(staff, "refund", audio_only=True) == []  # no transcript, no words to find


def test_it_filters_by_the_worst_redaction_status_of_a_calls_parts(staff, call):
    clean = call("refund")
    mixed = call("refund", redaction_status="verified")
    Transcript.objects.create(
        conversation=mixed,
        communication_id="second-part",
        sha256="1" * 64,
        size_bytes=1,
        raw_path="x",
        redaction_status=Transcript.RedactionStatus.LEAKS_FOUND,
    )
    assert both(staff, "refund", redaction_status="leaks_found") == ({mixed},) * 3
    # One verified part does not make a call with a leaking part "verified".
    assert both(staff, "refund", redaction_status="verified") == ({clean},) * 3
    metrics = call_filters.call_metrics([clean.pk, mixed.pk])
    assert (metrics[clean.pk].redaction_status, metrics[mixed.pk].redaction_status) == ("verified", "leaks_found")


def test_it_keeps_the_existing_filters(staff, call):
    day = dt.datetime(2025, 3, 10, 23, 0, tzinfo=dt.UTC)
    wanted = call("refund", queue="q1", agent="a1", started_at=day, review_status="escalated")
    call("refund", queue="q2", agent="a1", started_at=day, review_status="escalated")
    call("refund", queue="q1", agent="a1", started_at=day - dt.timedelta(days=30), review_status="escalated")
    call("refund", queue="q1", agent="a1", started_at=day)
    kept = {
        "date_from": dt.date(2025, 3, 10),
        "date_to": dt.date(2025, 3, 10),
        "queues": ["q1"],
        "agents": ["a1"],
        "review_status": "escalated",
    }
    assert both(staff, "refund", **kept) == ({wanted},) * 3


def test_it_keeps_to_the_users_scope(make_user, call):
    mine = call("refund", queue="q-mine")
    call("refund", queue="q-theirs")
    reviewer = make_user(groups=["Reviewer"], queues=["q-mine"])
    assert both(reviewer, "refund") == ({mine},) * 3
    nobody = make_user()
    assert listed(nobody) == [] and not call_filters.conversations(user=nobody, filters=SearchFilters()).exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"speaker": "robot"},
        {"direction": "sideways"},
        {"sentiment": "furious"},
        {"leak_kind": "password"},
        {"redaction_status": "x"},
        {"review_status": "x"},
        {"transcript_source": "whisper"},
    ],
)
def test_it_refuses_unknown_filter_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SearchFilters(**bad)


def test_it_echoes_only_the_filters_that_are_set():
    filters = SearchFilters(topic="  Complaint ", audio_only=True, duration_min_seconds=0, queues="q1")
    assert filters.as_dict() == {"topic": "Complaint", "audio_only": True, "duration_min_seconds": 0, "queues": ["q1"]}
    assert not call_filters.is_narrowing(SearchFilters(topic="   "))


# Call-level values and sorting


def test_it_computes_the_calls_confidence_as_the_review_page_does(staff, two_parts_call):
    parts = ordered_parts(two_parts_call)
    expected = combined_metrics(two_parts_call, parts)["confidence_mean"]
    metrics = call_filters.call_metrics([two_parts_call.pk])[two_parts_call.pk]
    assert metrics.confidence == pytest.approx(expected)
    assert metrics.duration_ms == 5 * 60_000


@pytest.fixture
def two_parts_call(call):
    conversation = call("part one", transcript={"confidence_mean": 0.9, "word_count": 100})
    Transcript.objects.create(
        conversation=conversation,
        communication_id="consult",
        sha256="2" * 64,
        size_bytes=1,
        raw_path="y",
        redaction_status="verified",
        confidence_mean=0.6,
        word_count=300,
    )
    Transcript.objects.create(  # no words: does not weigh in
        conversation=conversation,
        communication_id="empty",
        sha256="3" * 64,
        size_bytes=1,
        raw_path="z",
        redaction_status="verified",
        confidence_mean=0.1,
        word_count=0,
    )
    return conversation


@pytest.fixture
def sortable(call):
    """Three calls whose order differs for every sort key; `unknown` lacks sentiment, confidence and an end."""
    base = dt.datetime(2025, 5, 1, 9, tzinfo=dt.UTC)
    # "refund" alone is the best match on both engines (bm25; ts_rank normalised by length): the others say more.
    first = call(
        {"text": "a question about a refund for an order", "sentiment": 1.0},
        started_at=base,
        minutes=10,
        transcript={"confidence_mean": 0.5, "word_count": 10},
    )
    second = call(
        {"text": "refund", "sentiment": -1.0},
        started_at=base + dt.timedelta(days=1),
        minutes=2,
        transcript={"confidence_mean": 0.9, "word_count": 10},
    )
    third = call(
        {"text": "asked whether the refund of the order went through", "sentiment": 0.0},
        started_at=base + dt.timedelta(days=2),
        minutes=5,
        transcript={"confidence_mean": 0.7, "word_count": 10},
    )
    unknown = call("the customer wanted to know when the refund arrives", started_at=base + dt.timedelta(days=3))
    Conversation.objects.filter(pk=unknown.pk).update(ended_at=None)
    return {"first": first, "second": second, "third": third, "unknown": unknown}


SORTED = {
    "date_desc": ["unknown", "third", "second", "first"],
    "date_asc": ["first", "second", "third", "unknown"],
    "duration_desc": ["first", "third", "second", "unknown"],
    "duration_asc": ["second", "third", "first", "unknown"],
    "sentiment_asc": ["second", "third", "first", "unknown"],
    "sentiment_desc": ["first", "third", "second", "unknown"],
    "confidence_asc": ["first", "third", "second", "unknown"],
    "confidence_desc": ["second", "third", "first", "unknown"],
}


@pytest.mark.parametrize("sort", SORTED)
def test_it_sorts_the_work_list_and_the_search_alike(staff, sortable, sort):
    expected = [sortable[name] for name in SORTED[sort]]
    assert listed(staff, sort=sort) == expected
    assert found(staff, "refund", sort=sort) == expected
    hits = search(user=staff, query="refund", filters=SearchFilters(), sort=sort).results
    assert list(dict.fromkeys(hit.conversation for hit in hits)) == expected


def test_it_ranks_by_relevance_only_with_words(staff, sortable):
    assert found(staff, "refund")[0] == sortable["second"]  # a phrase about nothing else: the best match
    with pytest.raises(ValueError, match="sort"):
        list_conversations(user=staff, sort="relevance")
    with pytest.raises(ValueError, match="sort"):
        search(user=staff, query="refund", sort="loudest")


def test_it_pages_the_work_list_with_a_total(staff, sortable):
    first = list_conversations(user=staff, sort="date_asc", limit=3)
    second = list_conversations(user=staff, sort="date_asc", limit=3, cursor=first.next_cursor)
    assert first.total == second.total == 4
    assert [i.conversation for i in first.items + second.items] == [sortable[n] for n in SORTED["date_asc"]]
    assert second.next_cursor is None
    past_the_end = list_conversations(user=staff, sort="date_asc", limit=3, cursor=encode_cursor(9))
    assert past_the_end.items == [] and past_the_end.total == 4


def test_it_lists_without_a_query_per_row(staff, call, django_assert_max_num_queries):
    for _ in range(15):
        call({"text": "refund", "sentiment": -1.0}, transcript={"confidence_mean": 0.5, "word_count": 3})
    with django_assert_max_num_queries(5):
        page = list_conversations(user=staff, sort="sentiment_asc", limit=20)
        rows = [(i.conversation.queue.name, i.conversation.agent.genesys_id, i.metrics.confidence) for i in page.items]
    assert len(rows) == 15 and page.total == 15


def test_it_reads_utterance_sentiment_not_transcript_metrics(staff, call):
    """Sentiment is the phrases' Genesys sentiment: deleting them removes the call's sentiment."""
    conversation = call({"text": "refund", "sentiment": -1.0})
    assert listed(staff, sentiment="negative") == [conversation]
    Utterance.objects.filter(conversation=conversation).update(sentiment=None)
    assert listed(staff, sentiment="negative") == []
    assert call_filters.call_metrics([conversation.pk])[conversation.pk].sentiment_label == ""


# Evaluations: the "evaluated" filter and the score sort


def _evaluate(conversation, version, *, kind, score, status="submitted", evaluator=None):
    from reviews.models import Evaluation

    return Evaluation.objects.create(
        conversation=conversation, form_version=version, kind=kind, status=status, score=score, evaluator=evaluator
    )


@pytest.fixture
def evaluated_calls(call, make_user):
    from tests.test_evaluations_support import make_version

    version = make_version(questions=[{"text": "Greeted?", "kind": "yes_no"}])
    person = make_user()
    calls = {
        "human": call("refund please"),
        "draft": call("refund later"),
        "disputed": call("refund disputed"),
        "automatic": call("refund automatic"),
        "none": call("refund nothing"),
    }
    _evaluate(calls["human"], version, kind="human", score=90, evaluator=person)
    _evaluate(calls["human"], version, kind="automatic", score=40)
    _evaluate(calls["draft"], version, kind="human", score=10, status="draft", evaluator=person)
    _evaluate(calls["draft"], version, kind="automatic", score=70)
    _evaluate(calls["disputed"], version, kind="human", score=60, status="disputed", evaluator=person)
    _evaluate(calls["automatic"], version, kind="automatic", score=80)
    return calls


def test_it_filters_by_whether_a_person_finished_an_evaluation(staff, evaluated_calls):
    c = evaluated_calls
    assert both(staff, "refund", evaluated="human") == ({c["human"], c["disputed"]},) * 3
    assert both(staff, "refund", evaluated="automatic") == ({c["human"], c["draft"], c["automatic"]},) * 3
    assert both(staff, "refund", evaluated="not_human") == ({c["draft"], c["automatic"], c["none"]},) * 3


def test_it_sorts_by_the_human_score_before_the_automatic_one(staff, evaluated_calls):
    c = evaluated_calls
    # human 90 (its automatic 40 ignored), automatic 80, draft: automatic 70 (the draft's 10 ignored), disputed 60.
    expected = [c["human"], c["automatic"], c["draft"], c["disputed"], c["none"]]
    assert listed(staff, sort="score_desc") == expected
    assert found(staff, "refund", sort="score_desc") == expected
    assert listed(staff, sort="score_asc") == [c["disputed"], c["draft"], c["automatic"], c["human"], c["none"]]


# Whose transcript: Genesys' or the vault's own speech-to-text (issue 15)

ASR = {"source": "vault-asr", "asr_engine": "pocketsphinx", "asr_model": "en-us (pocketsphinx 5.1.1)"}


def _vault_part(conversation, text: str) -> Transcript:
    part = Transcript.objects.create(
        conversation=conversation, communication_id="vault-part", sha256="9" * 64, size_bytes=1, raw_path="v", **ASR
    )
    Utterance.objects.create(
        transcript=part, conversation=conversation, index=0, speaker="external", start_ms=9_000, end_ms=9_500, text=text
    )
    return part


@pytest.fixture
def sourced(call):
    """A call Genesys transcribed, one the vault transcribed, and one with a part of each (both say "refund")."""
    genesys = call("refund from genesys")
    vault = call("refund from the machine", transcript=ASR)
    mixed = call("refund in the genesys part")
    _vault_part(mixed, "refund in the vault part")
    return {"genesys": genesys, "vault": vault, "mixed": mixed}


def test_it_filters_by_transcript_source_with_and_without_words(staff, sourced):
    with_vault = {sourced["vault"], sourced["mixed"]}
    with_genesys = {sourced["genesys"], sourced["mixed"]}
    assert both(staff, "refund", transcript_source="vault-asr") == (with_vault,) * 3
    assert both(staff, "refund", transcript_source="genesys") == (with_genesys,) * 3


def test_it_counts_only_the_chosen_sources_turns_as_hits(staff, sourced):
    """In a mixed call, only the turns of the chosen source's part are hits: none passes for the other's."""
    for source in ("genesys", "vault-asr"):
        page = search(user=staff, query="refund", filters=SearchFilters(transcript_source=source), limit=100)
        assert len(page.results) == 2
        assert {hit.transcript_source for hit in page.results} == {source}
    mixed = search_grouped(user=staff, query="part", filters=SearchFilters(transcript_source="genesys")).groups
    assert [hit.snippet_html for group in mixed for hit in group.hits] == ["refund in the genesys <mark>part</mark>"]


def test_it_names_each_hits_source_engine_and_model(staff, sourced):
    (hit,) = search(user=staff, query="machine").results
    assert (hit.transcript_source, hit.asr_engine, hit.asr_model) == (
        "vault-asr",
        "pocketsphinx",
        "en-us (pocketsphinx 5.1.1)",
    )
    assert hit.is_vault_transcript and hit.transcript_source_label == "Vault speech-to-text"
    assert hit.asr_description == "pocketsphinx, en-us (pocketsphinx 5.1.1)"
    # "genesys" is in the Genesys-only call and in the Genesys part of the mixed one (PostgreSQL drops "from").
    genesys_hits = search(user=staff, query="genesys").results
    assert len(genesys_hits) == 2 and not any(hit.is_vault_transcript for hit in genesys_hits)


def test_it_gives_every_listed_call_the_sources_of_its_parts(staff, sourced, call):
    untranscribed = call("gone")
    untranscribed.transcripts.all().delete()
    ids = [sourced["genesys"].pk, sourced["vault"].pk, sourced["mixed"].pk, untranscribed.pk]
    metrics = call_filters.call_metrics(ids)
    assert [metrics[pk].transcript_sources for pk in ids] == [
        ("genesys",),
        ("vault-asr",),
        ("genesys", "vault-asr"),
        (),
    ]
    assert [metrics[pk].has_vault_transcript for pk in ids] == [False, True, True, False]


def test_it_still_counts_a_call_the_vault_transcribed_as_audio_only(staff, call):
    """Genesys gave no transcript and the recording is the record: the vault's own transcript does not change that."""
    machine = call("refund from the machine", transcript=ASR)
    transcribed = call("refund")
    for conversation, recording_id in ((machine, "r1"), (transcribed, "r2")):
        AudioRecording.objects.create(
            conversation=conversation,
            recording_id=recording_id,
            sha256="a" * 64,
            size_bytes=1,
            content_type="audio/wav",
        )
    assert both(staff, "refund", audio_only=True) == ({machine},) * 3


def test_it_echoes_the_transcript_source_filter():
    assert SearchFilters(transcript_source="vault-asr").as_dict() == {"transcript_source": "vault-asr"}


def test_it_lets_the_search_plan_a_rare_source_as_selective(staff, sourced, monkeypatch):
    """transcript_source is also a call-level condition, so few vault-asr calls take the rowid-bucket plan (SQLite)
    instead of testing every match of a common word; the hits stay the chosen source's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviews.search import service

    monkeypatch.setattr(service, "SPAN_MAX_SHARE", 1.0)
    with CaptureQueriesContext(connection) as queries:
        page = search(user=staff, query="refund", filters=SearchFilters(transcript_source="vault-asr"))
    bucketed = any("WITH RECURSIVE spans" in query["sql"] for query in queries.captured_queries)
    assert bucketed == (connection.vendor == "sqlite")
    assert sorted(str(hit.snippet_html) for hit in page.results) == [
        "<mark>refund</mark> from the machine",
        "<mark>refund</mark> in the vault part",
    ]
