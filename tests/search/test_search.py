from __future__ import annotations

import datetime as dt
import re

import pytest

from reviews.models import Conversation, Utterance
from reviews.search import SearchFilters, search, search_grouped
from reviews.search.pagination import encode_cursor

pytestmark = pytest.mark.django_db


def hit_texts(page) -> list[str]:
    texts = dict(Utterance.objects.values_list("id", "text"))
    return [texts[hit.utterance_id] for hit in page.results]


def run(user, query, **kwargs):
    return search(user=user, query=query, filters=kwargs.pop("filters", SearchFilters()), **kwargs)


def test_it_finds_utterances_containing_every_word(staff, make_conversation):
    make_conversation("I want a refund from the manager", "the manager is out", "refund please")
    page = run(staff, "refund manager")
    assert hit_texts(page) == ["I want a refund from the manager"]
    assert page.total == 1 and page.next_cursor is None and not page.total_capped


def test_it_stems_and_ignores_case(staff, make_conversation):
    make_conversation("REFUNDED twice")
    assert hit_texts(run(staff, "refund")) == ["REFUNDED twice"]


def test_it_matches_exact_phrases_only_in_order(staff, make_conversation):
    make_conversation("the delivery was late", "a late delivery again")
    assert hit_texts(run(staff, '"late delivery"')) == ["a late delivery again"]


def test_it_excludes_words_and_phrases(staff, make_conversation):
    make_conversation("refund by card", "refund by cheque", "refund call back later")
    assert hit_texts(run(staff, 'refund -cheque -"call back"')) == ["refund by card"]


def test_it_answers_an_exclusion_only_query_with_a_message(staff, make_conversation):
    make_conversation("refund by card")
    page = run(staff, "-refund")
    assert page.results == [] and page.total == 0 and "exclude" in page.message


def test_it_supports_or(staff, make_conversation):
    make_conversation("refund please", "chargeback filed", "nothing here")
    assert sorted(hit_texts(run(staff, "refund OR chargeback"))) == ["chargeback filed", "refund please"]


def test_it_ranks_better_matches_first(staff, make_conversation):
    make_conversation("refund", "a long sentence that mentions a refund once among many other words here")
    assert hit_texts(run(staff, "refund"))[0] == "refund"


def test_it_breaks_score_ties_by_recency(staff, make_conversation):
    older = make_conversation("refund now", started_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    newer = make_conversation("refund now", started_at=dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
    page = run(staff, "refund")
    assert [hit.conversation for hit in page.results] == [newer, older]


def test_it_fills_hit_fields(staff, make_conversation):
    conversation = make_conversation("hello", {"text": "refund me", "speaker": "external"})
    hit = run(staff, "refund").results[0]
    assert hit.conversation == conversation
    assert hit.communication_id == conversation.transcripts.get().communication_id
    assert (hit.speaker, hit.start_ms) == ("external", 1000)
    assert "<mark>refund</mark>" in hit.snippet_html and hit.score > 0


def test_it_escapes_transcript_markup_in_snippets(staff, make_conversation):
    make_conversation('refund <script>alert("x")</script> and <b>bold</b>')
    snippet = run(staff, "refund").results[0].snippet_html
    assert "<script" not in snippet and "<b>" not in snippet
    assert "<mark>refund</mark>" in snippet
    assert "&lt;" in snippet or "alert" in snippet  # PostgreSQL's headline parser drops tags; SQLite escapes them


@pytest.mark.parametrize("mask", ["[card number*]", "[card number]", "[Card Number]"])
def test_it_finds_masks_by_their_kind_and_shows_them_whole_in_snippets(staff, make_conversation, mask):
    # PostgreSQL's headline ends a fragment at its last word, cutting "*]" off a mask that ends the text.
    words = " ".join(f"word{n}" for n in range(40))
    make_conversation(f"{words} the customer gave {mask}")
    snippet = str(run(staff, "[card number]").results[0].snippet_html)
    assert mask in re.sub(r"</?mark>", "", snippet)
    assert "qqmask" not in snippet  # the index's marker never shows


# A word never matches inside a mask token (reviews/search/mask_index.py)

MASKED = [
    "please read me the [card number] now",
    "the vault masked [card number*] here",
    "and my [PHONE] is on file",
    "call me on [phone*] later",
    "it says <REDACTED> there",
    "the form says [REDACTED_PII] too",
    "expires [card expiry date] soon",
]


@pytest.mark.parametrize(
    "word", ["card", "number", "phone", "redacted", "pii", "expiry", "date", '"card number"', "numbers"]
)
def test_it_never_matches_a_word_inside_a_mask_token(staff, make_conversation, word):
    make_conversation(*MASKED)
    assert hit_texts(run(staff, word)) == []


def test_it_still_finds_the_same_words_said_on_the_call(staff, make_conversation):
    make_conversation("my card number is [card number]", "which phone? [phone]", "[card number*] only")
    assert hit_texts(run(staff, '"card number"')) == ["my card number is [card number]"]
    assert hit_texts(run(staff, "phone")) == ["which phone? [phone]"]
    snippet = str(run(staff, "card").results[0].snippet_html)
    # The mask's words are not marked (PostgreSQL's headline may drop the leading stop word).
    assert "<mark>card</mark> number is [card number]" in snippet and snippet.count("<mark>") == 1


def test_it_finds_a_mask_token_asked_for_in_brackets(staff, make_conversation):
    make_conversation(*MASKED, "my card number is 42")
    assert sorted(hit_texts(run(staff, "[card number]"))) == sorted(MASKED[:2])
    assert sorted(hit_texts(run(staff, "[phone]"))) == sorted(MASKED[2:4])
    assert sorted(hit_texts(run(staff, "[redacted]"))) == sorted(MASKED[4:6])
    assert hit_texts(run(staff, "[card expiry date]")) == [MASKED[6]]


def test_it_excludes_by_words_said_and_by_mask_tokens_apart(staff, make_conversation):
    make_conversation("refund to [card number]", "refund to my card", "refund by [phone]")
    # -card excludes what was said, not a mask token.
    assert sorted(hit_texts(run(staff, "refund -card"))) == ["refund by [phone]", "refund to [card number]"]
    assert hit_texts(run(staff, "refund -[card number] -[phone]")) == ["refund to my card"]


def test_it_keeps_the_mask_rule_through_updates_and_deletes(staff, make_conversation):
    conversation = make_conversation("pay by card")
    utterance = conversation.utterances.get()
    utterance.text = "pay by [card number]"
    utterance.save()
    assert run(staff, "card").total == 0 and run(staff, "[card number]").total == 1
    utterance.text = "pay by [Card Number] card"
    utterance.save()
    assert run(staff, "card").total == 1 and run(staff, "[card number]").total == 1
    conversation.delete()
    assert run(staff, "[card number]").total == 0


def test_it_keeps_the_sqlite_index_consistent(staff, make_conversation):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite FTS5 only")
    conversation = make_conversation(*MASKED)
    conversation.utterances.filter(index=0).update(text="changed [Card number] text")
    conversation.utterances.filter(index=1).delete()
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO reviews_utterance_fts(reviews_utterance_fts) VALUES ('integrity-check')")
        cursor.execute("INSERT INTO reviews_utterance_fts(reviews_utterance_fts) VALUES ('rebuild')")
    assert hit_texts(run(staff, "[card number]")) == ["changed [Card number] text"]
    assert run(staff, "card").total == 0


def test_it_filters_by_speaker_and_review_status(staff, make_conversation):
    make_conversation(
        {"text": "refund agent", "speaker": "internal"},
        {"text": "refund customer", "speaker": "external"},
        review_status=Conversation.ReviewStatus.ESCALATED,
    )
    make_conversation({"text": "refund other", "speaker": "external"})
    filters = SearchFilters(speaker="external", review_status="escalated")
    assert hit_texts(run(staff, "refund", filters=filters)) == ["refund customer"]


def test_it_counts_the_conversations_of_the_hits(staff, make_conversation):
    make_conversation("refund one", "refund two")
    make_conversation("refund three")
    page = run(staff, "refund", limit=1)
    assert (page.total, page.conversation_total) == (3, 2)


def test_it_filters_by_dates_queue_agent_and_redaction(staff, make_conversation):
    day = dt.datetime(2025, 3, 10, 23, 0, tzinfo=dt.UTC)
    make_conversation("refund wanted", queue="q1", agent="a1", started_at=day, redaction_status="leaks_found")
    make_conversation("refund other queue", queue="q2", agent="a1", started_at=day)
    make_conversation("refund old", queue="q1", agent="a1", started_at=day - dt.timedelta(days=30))
    filters = SearchFilters(date_from=dt.date(2025, 3, 10), date_to=dt.date(2025, 3, 10), queues=["q1"], agents=("a1",))
    assert hit_texts(run(staff, "refund", filters=filters)) == ["refund wanted"]
    assert hit_texts(run(staff, "refund", filters=SearchFilters(redaction_status="leaks_found"))) == ["refund wanted"]
    exact = SearchFilters(date_to=day)  # a datetime bound is exclusive
    assert hit_texts(run(staff, "refund", filters=exact)) == ["refund old"]


def test_it_pages_with_an_opaque_cursor(staff, make_conversation):
    make_conversation(*[f"refund number {n}" for n in range(5)])
    first = run(staff, "refund", limit=2)
    second = run(staff, "refund", limit=2, cursor=first.next_cursor)
    third = run(staff, "refund", limit=2, cursor=second.next_cursor)
    ids = [hit.utterance_id for page in (first, second, third) for hit in page.results]
    assert len(ids) == len(set(ids)) == 5
    assert first.total == 5 and third.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage!", "bm90OmE", encode_cursor(10**9), "x" * 100, "AAAA"])
def test_it_rejects_bad_cursors_clearly(staff, cursor):
    with pytest.raises(ValueError, match="cursor"):
        run(staff, "refund", cursor=cursor)


@pytest.mark.parametrize("limit", [0, 101, "20", True])
def test_it_rejects_bad_limits(staff, limit):
    with pytest.raises(ValueError, match="limit"):
        run(staff, "refund", limit=limit)


HOSTILE = [
    '"',
    '""',
    '"refund',
    'refund"',
    "NEAR(refund manager, 2)",
    "refund*",
    "*",
    "-",
    "--refund",
    "text:refund",
    "^refund",
    "(refund",
    "refund)",
    "((()))",
    "\\",
    "refund\\",
    "a" * 10_000,
    "refund " * 2_000,
    "😀 refund 🙃",
    "'; DROP TABLE reviews_utterance; --",
    "1' OR '1'='1",
    "refund & manager | !x <-> y",
    "refund:* & !",
    "AND OR NOT",
    "NOT refund",
    "\x00refund\x01\x02",
    "the of and",
    '-refund -"x y"',
    "ü" * 300,
    "café",
    "\u202erefund",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_it_never_errors_on_hostile_input(staff, make_conversation, query):
    make_conversation("refund manager NEAR text the café")
    page = run(staff, query)
    grouped = search_grouped(user=staff, query=query, filters=SearchFilters())
    assert page.total >= 0 and grouped.total >= 0


def test_it_finds_a_word_typed_with_operators_around_it(staff, make_conversation):
    make_conversation("refund manager")
    assert run(staff, "(refund* ^manager: \\").total == 1


def test_it_searches_only_conversations_in_scope(make_user, make_conversation):
    make_conversation("refund mine", queue="q-mine")
    make_conversation("refund theirs", queue="q-theirs")
    reviewer = make_user(groups=["Reviewer"], queues=["q-mine"])
    assert hit_texts(run(reviewer, "refund")) == ["refund mine"]
    assert run(make_user(), "refund").total == 0


def test_it_groups_hits_by_conversation(staff, make_conversation):
    busy = make_conversation(*[f"refund {n}" for n in range(5)])
    quiet = make_conversation("refund zebra", started_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    page = search_grouped(user=staff, query="refund", filters=SearchFilters(), limit=1)
    assert page.total == 2 and page.hit_total == 6
    assert [group.conversation for group in page.groups] == [busy]
    assert len(page.groups[0].hits) == 3
    second = search_grouped(user=staff, query="refund", filters=SearchFilters(), limit=1, cursor=page.next_cursor)
    assert [group.conversation for group in second.groups] == [quiet] and second.next_cursor is None


def test_it_keeps_the_index_in_sync_on_update_and_delete(staff, make_conversation):
    conversation = make_conversation("refund please")
    utterance = conversation.utterances.get()
    utterance.text = "chargeback please"
    utterance.save()
    assert run(staff, "refund").total == 0 and run(staff, "chargeback").total == 1
    conversation.delete()
    assert run(staff, "chargeback").total == 0


def test_it_caps_the_total(staff, make_conversation, monkeypatch):
    from reviews.search import service

    monkeypatch.setattr(service, "COUNT_CAP", 3)
    make_conversation(*[f"refund {n}" for n in range(6)])
    page = run(staff, "refund", limit=2)
    assert (page.total, page.total_capped) == (3, True) and page.message
    last = run(staff, "refund", limit=2, cursor=page.next_cursor)
    assert len(last.results) == 1 and last.next_cursor is None


def test_it_recreates_sqlite_triggers_lost_to_a_table_rebuild(staff, make_conversation):
    from django.db import connection

    from reviews.search.sqlite import ensure_triggers

    if connection.vendor != "sqlite":
        pytest.skip("SQLite FTS5 triggers only")
    with connection.cursor() as cursor:
        for suffix in ("ai", "ad", "au"):
            cursor.execute(f"DROP TRIGGER reviews_utterance_fts_{suffix}")
    ensure_triggers()
    make_conversation("refund after repair")
    assert run(staff, "repair").total == 1


@pytest.mark.parametrize("span_limit", [0, 2_000], ids=["row-by-row", "rowid-buckets"])
def test_selective_filters_give_the_same_hits_either_way(staff, make_conversation, monkeypatch, span_limit):
    """The SQLite rowid-bucket plan (few conversations left by the filters) equals the row-by-row plan, also when
    conversations' utterance ids interleave (a span then holds another conversation's rows)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reviews.search import service

    monkeypatch.setattr(service, "SPAN_MAX_CONVERSATIONS", span_limit)
    monkeypatch.setattr(service, "SPAN_MAX_SHARE", 1.0)
    monkeypatch.setattr(service, "SPAN_BUCKET_SHIFT", 1)  # buckets of 2 ids: several conversations share one
    day = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)
    inside = make_conversation("refund inside one", queue="q1", started_at=day)
    other = make_conversation("refund other queue", queue="q2", started_at=day)
    make_conversation("refund too old", queue="q1", started_at=day - dt.timedelta(days=40))
    # Interleave: more rows for `inside` after `other`'s rows, and more for `other` after those.
    for conversation, text in ((inside, "refund inside two"), (other, "refund other two"), (inside, "no match")):
        transcript = conversation.transcripts.get()
        Utterance.objects.create(
            transcript=transcript,
            conversation=conversation,
            index=transcript.utterances.count(),
            start_ms=0,
            end_ms=1,
            speaker="external",
            text=text,
        )
    filters = SearchFilters(date_from=dt.date(2025, 3, 1), date_to=dt.date(2025, 3, 31), queues=["q1"])
    with CaptureQueriesContext(connection) as queries:
        page = run(staff, "refund", filters=filters)
    bucketed = any("WITH RECURSIVE spans" in query["sql"] for query in queries.captured_queries)
    assert bucketed == (span_limit > 0 and connection.vendor == "sqlite")
    assert sorted(hit_texts(page)) == ["refund inside one", "refund inside two"] and page.total == 2
    grouped = search_grouped(user=staff, query="refund", filters=filters)
    assert [len(group.hits) for group in grouped.groups] == [2] and grouped.total == 1
    assert run(staff, "refund", filters=SearchFilters(queues=["nope"])).total == 0
