from __future__ import annotations

import json
import re

import pytest

from reviews.models import AsrJob, AuditEvent, Conversation, Escalation, ReviewNote, Transcript

pytestmark = pytest.mark.django_db


def test_it_shows_the_header_and_the_turns(alice_client, conversation):
    response = alice_client.get("/conversations/conv-q1/")
    body = response.content.decode()
    assert response.status_code == 200
    for text in ("Dana Agent", "Q1 Billing", "D1", "inbound", "03:25", "Leaks found"):
        assert text in body
    assert '<span class="speaker">IVR</span>' in body
    assert '<span class="speaker">Agent</span>' in body
    assert '<span class="speaker">Customer</span>' in body
    assert ">01:05<" in body  # the customer turn at 65 s


def test_it_marks_low_confidence_words_masks_sentiment_and_topics(alice_client, conversation):
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    assert '<span class="low-confidence" title="Low ASR confidence: 30%">can</span>' in body
    assert '<mark class="mask" title="Redacted by Genesys: card number">[card number]</mark>' in body
    assert "sentiment-positive" in body and "sentiment-negative" in body
    assert '<span class="chip topic">Refund</span>' in body


def test_it_records_a_view_audit_event(alice_client, alice, conversation):
    alice_client.get("/conversations/conv-q1/")
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW_TRANSCRIPT)
    assert (event.user, event.object_id) == (alice, "conv-q1")


def test_it_cues_the_requested_moment(alice_client, conversation):
    body = alice_client.get("/conversations/conv-q1/", {"t": "65000"}).content.decode()
    assert 'data-start-ms="65000"' in body
    assert "data-start-ms" not in alice_client.get("/conversations/conv-q1/", {"t": "soon"}).content.decode()


def test_it_plays_audio_from_our_own_view(alice_client, conversation, recording):
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    assert f'src="/conversations/conv-q1/audio/{recording.pk}"' in body
    assert "mypurecloud" not in body


def test_it_shows_finding_details_only_to_compliance(alice_client, carol_client, conversation):
    reviewer_page = alice_client.get("/conversations/conv-q1/").content.decode()
    compliance_page = carol_client.get("/conversations/conv-q1/").content.decode()
    assert "card_number" in reviewer_page and "has-leak" in reviewer_page
    assert "luhn-16" not in reviewer_page and "4111 **** **** 1111" not in reviewer_page
    assert "luhn-16" in compliance_page and "4111 **** **** 1111" in compliance_page


def test_it_shows_metrics_and_compliance_delivery(alice_client, conversation):
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    assert "1.5 min" in body  # availability latency 90 s
    assert "1.5 s" in body  # store latency
    assert "2.0 s" in body  # delivered 2 s after storing
    assert "82.0%" in body and "filesystem" in body and "Delivered" in body


def test_it_moves_a_review_forward_with_a_note(alice_client, alice, conversation):
    response = alice_client.post(
        "/conversations/conv-q1/review",
        {"status": "in_review", "note": "Checking the refund promise"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="review-panel"' in body and "Review saved." in body
    conversation.refresh_from_db()
    assert (conversation.review_status, conversation.reviewer) == ("in_review", alice)
    note = ReviewNote.objects.get()
    assert (note.body, note.status_from, note.status_to) == ("Checking the refund promise", "new", "in_review")
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVIEW)
    assert event.detail == {"from": "new", "to": "in_review", "note": True}


def test_it_refuses_a_transition_the_workflow_does_not_allow(alice_client, conversation):
    response = alice_client.post(
        "/conversations/conv-q1/review", {"status": "reviewed"}, headers={"HX-Request": "true"}
    )
    assert b"Select a valid choice" in response.content
    assert Conversation.objects.get(pk=conversation.pk).review_status == "new"
    assert not ReviewNote.objects.exists()


def test_it_finishes_a_review_and_stamps_the_time(alice_client, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(review_status="in_review")
    alice_client.post("/conversations/conv-q1/review", {"status": "escalated", "note": "Refund outside policy"})
    conversation.refresh_from_db()
    assert conversation.review_status == "escalated"
    assert conversation.reviewed_at is not None


def test_it_refuses_an_escalation_without_a_reason(alice_client, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(review_status="in_review")
    response = alice_client.post("/conversations/conv-q1/review", {"status": "escalated", "note": "  "})
    assert response.status_code == 302
    assert Conversation.objects.get(pk=conversation.pk).review_status == "in_review"
    assert not Escalation.objects.exists()
    assert not ReviewNote.objects.exists()


def test_it_rolls_the_status_back_when_the_escalation_cannot_be_opened(alice_client, conversation, monkeypatch):
    from reviews.views import escalations

    def broken(**_):
        raise RuntimeError("the escalation case could not be written")

    Conversation.objects.filter(pk=conversation.pk).update(review_status="in_review")
    monkeypatch.setattr(escalations.Escalation, "open_for", broken)
    alice_client.raise_request_exception = False
    response = alice_client.post("/conversations/conv-q1/review", {"status": "escalated", "note": "Refund promise"})
    assert response.status_code == 500
    assert Conversation.objects.get(pk=conversation.pk).review_status == "in_review"
    assert not ReviewNote.objects.exists()


def test_it_redirects_after_a_plain_form_post(alice_client, conversation):
    response = alice_client.post("/conversations/conv-q1/review", {"status": "new", "note": "just a note"})
    assert response.status_code == 302
    assert response["Location"] == "/conversations/conv-q1/"
    assert ReviewNote.objects.get().status_to == ""


def test_it_forbids_review_changes_to_read_only_roles(carol_client, conversation):
    response = carol_client.post("/conversations/conv-q1/review", {"status": "in_review"})
    assert response.status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).review_status == "new"
    assert b'hx-post="/conversations/conv-q1/review"' not in carol_client.get("/conversations/conv-q1/").content


def test_it_exports_text_as_an_attachment(alice_client, conversation):
    response = alice_client.get("/conversations/conv-q1/export.txt")
    assert response["Content-Disposition"] == 'attachment; filename="conv-q1.txt"'
    text = response.content.decode()
    assert "[00:04] Agent: how can I help with your refund" in text
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.detail == {"format": "txt"}


def test_it_exports_json_without_finding_details_for_reviewers(alice_client, carol_client, conversation):
    reviewer = json.loads(alice_client.get("/conversations/conv-q1/export.json").content)
    compliance = json.loads(carol_client.get("/conversations/conv-q1/export.json").content)
    assert [u["label"] for u in reviewer["utterances"]] == ["IVR", "Agent", "Customer"]
    assert reviewer["findings"] == [
        {"kind": "card_number", "start_ms": 65000, "utterance_id": reviewer["utterances"][2]["id"], "part": 1}
    ]
    assert compliance["findings"][0]["rule"] == "luhn-16"


def test_it_rejects_unknown_export_formats(alice_client, conversation):
    assert alice_client.get("/conversations/conv-q1/export.pdf").status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_it_explains_a_conversation_without_transcript(alice_client, q1, d1, build):
    build.conversation("conv-waiting", queue=q1, division=d1, state="awaiting_transcript")
    body = alice_client.get("/conversations/conv-waiting/").content.decode()
    assert "not in the archive yet" in body


def test_it_formats_offsets_and_rejoins_split_mask_tokens():
    from types import SimpleNamespace

    from reviews.templatetags.transcript_tags import mmss, utterance_html

    assert (mmss(0), mmss(65_999), mmss(3_725_000), mmss(None), mmss("junk")) == ("00:00", "01:05", "1:02:05", "", "")
    utterance = SimpleNamespace(text="", words=[["my", 0.9], ["[card", 0.5], ["number]", 0.5], ["ok", 0.2]])
    html = utterance_html(utterance, 0.6)
    assert '<mark class="mask" title="Redacted by Genesys: card number">[card number]</mark>' in html
    assert '<span class="low-confidence" title="Low ASR confidence: 20%">ok</span>' in html


def test_it_marks_vault_masks_apart_from_genesys_masks():
    from types import SimpleNamespace

    from reviews.templatetags.transcript_tags import utterance_html

    words = [
        ["card", 0.9],
        ["[card number*]", 0.4],
        ["and", 0.9],
        ["[card", 0.9],
        ["number]", 0.9],
        ["[laughter]", 0.9],
    ]
    html = utterance_html(SimpleNamespace(text="", words=words), 0.6)
    assert '<mark class="mask mask-vault" title="Masked by the vault: card number">[card number*]</mark>' in html
    assert '<mark class="mask" title="Redacted by Genesys: card number">[card number]</mark>' in html
    assert "[laughter]" in html and '<mark class="mask" title="Redacted by Genesys: laughter">' not in html
    text_html = utterance_html(SimpleNamespace(text="iban [bank account*] <b>x</b> <REDACTED>", words=[]), 0.6)
    assert '<mark class="mask mask-vault" title="Masked by the vault: bank account">[bank account*]</mark>' in text_html
    assert "&lt;b&gt;x&lt;/b&gt;" in text_html
    assert '<mark class="mask" title="Redacted by Genesys: redacted">&lt;REDACTED&gt;</mark>' in text_html


# ---------------------------------------------------------------- long calls: one window of turns at a time

CHUNK = 500


@pytest.fixture
def long_call(q1, d1, build, monkeypatch):
    """A call with n turns 4 s apart, built with bulk_create; REVIEW_PAGE_UTTERANCES is 500 for these tests."""
    from reviews.models import Utterance
    from reviews.views import review

    monkeypatch.setattr(review, "REVIEW_PAGE_UTTERANCES", CHUNK)

    def make(n: int = 1_200, genesys_id: str = "conv-long"):
        conversation = build.conversation(genesys_id, queue=q1, division=d1)
        transcript = build.transcript(conversation, [])
        Utterance.objects.bulk_create(
            [
                Utterance(
                    transcript=transcript,
                    conversation=conversation,
                    index=i,
                    speaker="external" if i % 2 else "internal",
                    participant_purpose="customer" if i % 2 else "agent",
                    start_ms=i * 4_000,
                    end_ms=i * 4_000 + 3_000,
                    text=f"turn number {i}",
                )
                for i in range(n)
            ],
            batch_size=500,
        )
        return conversation, list(conversation.utterances.order_by("start_ms", "transcript_id", "index"))

    return make


def _turn_count(body: str) -> int:
    return body.count('<li id="u-')


def test_it_renders_only_the_first_window_of_a_long_call(alice_client, long_call):
    _conversation, turns = long_call()
    body = alice_client.get("/conversations/conv-long/").content.decode()
    assert _turn_count(body) == CHUNK
    assert f'id="u-{turns[0].pk}"' in body and f'id="u-{turns[CHUNK].pk}"' not in body
    assert "Turns 1–500 of 1,200" in body
    assert "Later turns" in body and "Earlier turns" not in body
    # htmx loads the next chunk in place; without JS the same control is a plain link to that chunk
    assert 'href="/conversations/conv-long/?chunk=1"' in body
    assert 'hx-get="/conversations/conv-long/?chunk=1&amp;direction=later"' in body
    assert 'hx-swap="outerHTML"' in body


def test_it_renders_the_chunk_holding_the_requested_moment(alice_client, long_call):
    _conversation, turns = long_call()
    hit = turns[700]
    response = alice_client.get("/conversations/conv-long/", {"t": hit.start_ms})
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="u-{hit.pk}"' in body and f'data-start-ms="{hit.start_ms}"' in body
    assert f'id="u-{turns[0].pk}"' not in body and f'id="u-{turns[1_000].pk}"' not in body
    assert _turn_count(body) == CHUNK
    assert "Turns 501–1,000 of 1,200" in body
    assert "Earlier turns" in body and "Later turns" in body
    # a moment between two turns opens the chunk of the next turn; one past the end opens the last chunk
    assert f'id="u-{turns[500].pk}"' in alice_client.get("/conversations/conv-long/", {"t": 1_996_001}).content.decode()
    last = alice_client.get("/conversations/conv-long/", {"t": 10**9}).content.decode()
    assert f'id="u-{turns[-1].pk}"' in last and _turn_count(last) == 200 and "Later turns" not in last


def test_it_renders_a_chunk_as_a_full_page_without_htmx(alice_client, long_call):
    _conversation, turns = long_call()
    body = alice_client.get("/conversations/conv-long/", {"chunk": "2"}).content.decode()
    assert "<html" in body and 'id="review-panel"' in body
    assert _turn_count(body) == 200 and f'id="u-{turns[1_000].pk}"' in body
    assert 'href="/conversations/conv-long/?chunk=1"' in body and "Later turns" not in body


def test_it_returns_only_the_rows_of_a_chunk_to_htmx(alice_client, alice, long_call):
    _conversation, turns = long_call()
    response = alice_client.get("/conversations/conv-long/", {"chunk": "1"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "review-panel" not in body and 'id="turns"' not in body
    assert _turn_count(body) == CHUNK
    assert f'id="u-{turns[500].pk}"' in body and f'id="u-{turns[999].pk}"' in body
    assert f'id="u-{turns[499].pk}"' not in body and f'id="u-{turns[1_000].pk}"' not in body
    # a "later" fragment brings the loader for the chunk after it, and only that one
    assert 'hx-get="/conversations/conv-long/?chunk=2&amp;direction=later"' in body and "Earlier turns" not in body
    assert "HX-Request" in response["Vary"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW_TRANSCRIPT)
    assert (event.user, event.object_id, event.detail) == (alice, "conv-long", {"chunk": 1})


def test_it_brings_the_earlier_loader_with_an_earlier_chunk(alice_client, long_call):
    _conversation, turns = long_call()
    body = alice_client.get(
        "/conversations/conv-long/", {"chunk": "1", "direction": "earlier"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'hx-get="/conversations/conv-long/?chunk=0&amp;direction=earlier"' in body and "Later turns" not in body
    assert 'hx-trigger="click"' in body  # loading earlier turns never fires on scroll
    last = alice_client.get(
        "/conversations/conv-long/", {"chunk": "0", "direction": "earlier"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert _turn_count(last) == CHUNK and "turns-more" not in last


def test_it_denies_a_fragment_exactly_like_the_page(alice_client, other_conversation):
    for params in ({}, {"chunk": "0"}):
        page = alice_client.get("/conversations/conv-q2/", params)
        fragment = alice_client.get("/conversations/conv-q2/", params, HTTP_HX_REQUEST="true")
        assert page.status_code == fragment.status_code == 404
        assert b"zebra" not in fragment.content
    assert alice_client.get("/conversations/no-such-call/", {"chunk": "0"}, HTTP_HX_REQUEST="true").status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW_TRANSCRIPT).exists()


def test_it_answers_404_for_a_chunk_that_does_not_exist(alice_client, long_call):
    long_call()
    for chunk in ("3", "-1", "abc", "1.5", "", "١"):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = alice_client.get("/conversations/conv-long/", {"chunk": chunk}, **headers)
            assert response.status_code == 404, (chunk, headers)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW_TRANSCRIPT).exists()


def test_it_accepts_chunk_zero_of_a_call_without_turns(alice_client, q1, d1, build):
    build.conversation("conv-waiting", queue=q1, division=d1, state="awaiting_transcript")
    assert alice_client.get("/conversations/conv-waiting/", {"chunk": "0"}).status_code == 200
    fragment = alice_client.get("/conversations/conv-waiting/", {"chunk": "0"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and _turn_count(fragment.content.decode()) == 0


def test_it_links_findings_outside_the_window_to_their_chunk(alice_client, long_call):
    from reviews.models import RedactionFinding

    conversation, turns = long_call()
    transcript = conversation.transcripts.get()
    for turn in (turns[10], turns[900]):
        RedactionFinding.objects.create(
            transcript=transcript, utterance=turn, kind="card_number", rule="luhn-16", confidence=0.9,
            start_ms=turn.start_ms + 500, masked_excerpt="4111 **** **** 1111",
        )  # fmt: skip
    body = alice_client.get("/conversations/conv-long/").content.decode()
    assert f'href="#u-{turns[10].pk}"' in body
    # ?t= is the turn's own start, so the chunk loaded is the one holding that turn
    assert f'href="/conversations/conv-long/?t={turns[900].start_ms}#u-{turns[900].pk}"' in body
    assert body.count("has-leak") == 1  # only the turn in the window carries its finding
    fragment = alice_client.get("/conversations/conv-long/", {"chunk": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.count("has-leak") == 1 and "⚠ card_number" in fragment
    followed = alice_client.get(f"/conversations/conv-long/?t={turns[900].start_ms}").content.decode()
    assert f'id="u-{turns[900].pk}"' in followed and f'href="#u-{turns[900].pk}"' in followed


def test_it_escapes_turn_text_in_a_fragment(alice_client, long_call, build):
    from reviews.models import Utterance

    _conversation, turns = long_call()
    Utterance.objects.filter(pk=turns[600].pk).update(text=build.xss)
    body = alice_client.get("/conversations/conv-long/", {"chunk": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert build.xss not in body and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body


def test_it_does_not_query_more_for_a_longer_call(alice_client, long_call):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    alice_client.get("/search/")  # the session's first request also stores its activity time (idle timeout)
    for n in (600, 1_200):
        long_call(n, genesys_id=f"conv-{n}")
        for params, headers in (({}, {}), ({"t": "2100000"}, {}), ({"chunk": "1"}, {"HTTP_HX_REQUEST": "true"})):
            with CaptureQueriesContext(connection) as queries:
                assert alice_client.get(f"/conversations/conv-{n}/", params, **headers).status_code == 200
            counts[(n, tuple(params), bool(headers))] = len(queries)
    for (_n, params, htmx), count in counts.items():
        assert count == counts[(600, params, htmx)], counts
    assert max(counts.values()) <= 25


def test_it_never_loads_every_turn_of_a_long_call(alice_client, long_call, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    long_call()
    with CaptureQueriesContext(connection) as queries:
        alice_client.get("/conversations/conv-long/", {"t": "2100000"})
    turn_selects = [q["sql"] for q in queries if 'FROM "reviews_utterance"' in q["sql"] and "COUNT(" not in q["sql"]]
    assert len(turn_selects) == 1 and "LIMIT 500 OFFSET 500" in turn_selects[0]
    # On PostgreSQL the fragment's audit event also takes the audit chain's advisory lock (reviews/audit_chain.py).
    budget = 12 + (connection.vendor == "postgresql")
    with django_assert_max_num_queries(budget):
        alice_client.get("/conversations/conv-long/", {"chunk": "2"}, HTTP_HX_REQUEST="true")


# Several transcript parts and the final states


def _turn_ids(body: str) -> list[str]:
    import re

    return re.findall(r'<li id="u-(\d+)" class="turn', body)


def test_it_lists_every_part_in_time_order(alice_client, two_parts):
    body = alice_client.get("/conversations/conv-parts/").content.decode()
    first, second = body.index('id="part-1"'), body.index('id="part-2"')
    part_one, part_two = body[first:second], body[second : body.index("</tbody>", second)]
    # Created later but earlier in the call: part 1 is the customer leg's segment.
    assert "Customer" in part_one and "rec-customer" in part_one and "callback" in part_one
    assert ">aaaaaaaaaaaa<" in part_one
    assert "00:00" in part_one and "en-US" in part_one and "gzip" not in part_one
    assert "Agent · Sam Consult" in part_two and "rec-consult" in part_two and "02:00" in part_two
    assert "bbbbbbbbbbbb" in part_two and ">gzip<" in part_two and "en-GB" in part_two
    assert "Verified (markers, no leaks)" in part_two
    assert "<dt>Parts</dt><dd>2</dd>" in body
    assert body[body.index("<dt>Redaction</dt>") :].split("</dd>")[0].count("badge") == 1  # both verified


def test_it_merges_the_parts_turns_by_time_and_marks_where_each_part_begins(alice_client, two_parts):
    body = alice_client.get("/conversations/conv-parts/").content.decode()
    by_start = two_parts.conversation.utterances.order_by("start_ms")
    assert _turn_ids(body) == [str(u.pk) for u in by_start]
    opening = {u.transcript_id: u for u in reversed(by_start)}  # each part's first turn
    for part, number in ((two_parts.earlier, 1), (two_parts.later, 2)):
        turn = body[body.index(f'<li id="u-{opening[part.pk].pk}"') :].split("</li>")[0]
        assert "opens-part" in turn and f"Part {number}" in turn
    assert body.count(" opens-part") == 2


def test_it_marks_part_starts_in_a_loaded_chunk_too(alice_client, two_parts, monkeypatch):
    from reviews.views import review

    monkeypatch.setattr(review, "REVIEW_PAGE_UTTERANCES", 1)
    fragment = alice_client.get(
        "/conversations/conv-parts/", {"chunk": "1", "direction": "later"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert "opens-part" in fragment and "Part 2 · Agent · Sam Consult begins" in fragment


def test_it_shows_metrics_over_all_parts_and_per_part(alice_client, two_parts):
    body = alice_client.get("/conversations/conv-parts/").content.decode()
    combined = body[body.index("All 2 parts") :].split("</section>")[0]
    # Word-weighted: (0.9 * 100 + 0.6 * 300) / 400 = 67.5%; talk time sums to 6 s / 2 s.
    assert "67.5%" in combined and "400" in combined and "00:06" in combined and "00:02" in combined
    assert "Part 1 · Customer" in body and "Part 2 · Agent · Sam Consult" in body


def test_it_audits_a_multi_part_view_once(alice_client, alice, two_parts):
    alice_client.get("/conversations/conv-parts/")
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW_TRANSCRIPT)
    assert (event.user, event.object_id, event.detail) == (alice, "conv-parts", {"chunk": 0})


@pytest.mark.parametrize(
    ("state", "label"),
    [
        ("restricted", "Restricted"),
        ("archived", "Recording archived"),
        ("audio_unavailable", "No transcript, no audio"),
        ("failed", "Failed"),
    ],
)
def test_it_shows_why_a_conversation_ended_where_it_did_escaped(alice_client, q1, d1, build, state, label):
    outcome = f"missing recording:view in division D1 {build.xss}"
    build.conversation("conv-final", queue=q1, division=d1, state=state, outcome=outcome)
    body = alice_client.get("/conversations/conv-final/").content.decode()
    assert f'<span class="state state-{state}">{label}</span>' in body
    assert "missing recording:view in division D1 &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert build.xss not in body


def test_it_explains_a_restricted_conversation_without_transcript(alice_client, q1, d1, build):
    build.conversation("conv-403", queue=q1, division=d1, state="restricted", outcome="403")
    body = alice_client.get("/conversations/conv-403/").content.decode()
    assert "Genesys refused this conversation" in body and "not in the archive yet" not in body


def test_it_shows_the_note_of_a_stored_conversation(alice_client, two_parts):
    Conversation.objects.filter(pk=two_parts.conversation.pk).update(
        outcome="part comm-agent could not be read", needs_manual_review=True
    )
    body = alice_client.get("/conversations/conv-parts/").content.decode()
    assert "<strong>Stored:</strong> part comm-agent could not be read" in body


def test_it_hides_the_stale_outcome_of_a_conversation_being_worked(alice_client, q1, d1, build):
    build.conversation("conv-retried", queue=q1, division=d1, state="awaiting_transcript", outcome="old 403")
    assert "old 403" not in alice_client.get("/conversations/conv-retried/").content.decode()


def test_it_exports_every_part_as_text(alice_client, two_parts):
    text = alice_client.get("/conversations/conv-parts/export.txt").content.decode()
    assert "State: Stored" in text and "Parts: 2" in text
    assert (
        "\n  Part 1: Customer (communication comm-customer), recording rec-customer, callback, starts 00:00, "
        f"sha256 {'a' * 64}, en-US, Verified (markers, no leaks)\n"
    ) in text
    assert f"sha256 {'b' * 64}, served gzip, en-GB" in text
    lines = text.splitlines()
    turns = [line for line in lines if line.startswith(("[", "---"))]
    assert turns == [
        "--- Part 1: Customer (communication comm-customer) begins ---",
        "[00:00] Customer: customer leg hello",
        "--- Part 2: Agent · Sam Consult (communication comm-consult) begins ---",
        "[02:00] Agent: consult leg speaking",
        "[02:05] Agent: zebra refund pending",
        "[02:10] Agent: zebra refund approved",
    ]


def test_it_exports_every_part_as_json(carol_client, two_parts):
    document = json.loads(carol_client.get("/conversations/conv-parts/export.json").content)
    assert [(p["part"], p["communication_id"], p["recording_id"], p["sha256"][:1]) for p in document["parts"]] == [
        (1, "comm-customer", "rec-customer", "a"),
        (2, "comm-consult", "rec-consult", "b"),
    ]
    assert document["parts"][1]["content_encoding"] == "gzip" and document["parts"][0]["content_encoding"] is None
    assert [(u["start_ms"], u["part"]) for u in document["utterances"]] == [
        (0, 1),
        (120_000, 2),
        (125_000, 1),
        (130_000, 2),
    ]
    assert (document["state"], document["outcome"]) == ("stored", None)


def test_it_shows_each_redaction_status_once_worst_first(alice_client, two_parts):
    from reviews.models import Transcript

    Transcript.objects.filter(pk=two_parts.later.pk).update(redaction_status="leaks_found")
    body = alice_client.get("/conversations/conv-parts/").content.decode()
    header = body[body.index("<dt>Redaction</dt>") :].split("</dd>")[0]
    assert header.index("Leaks found") < header.index("Verified") and header.count("badge") == 2


def test_it_closes_the_work_queue_assignments_of_a_finished_review(alice_client, alice, conversation):
    from reviews.models import ReviewAssignment

    Conversation.objects.filter(pk=conversation.pk).update(review_status="in_review")
    assignment = ReviewAssignment.objects.create(
        conversation=conversation, assignee=alice, due_at=conversation.started_at
    )
    alice_client.post("/conversations/conv-q1/review", {"status": "reviewed", "note": ""})
    assignment.refresh_from_db()
    assert assignment.status == "done" and assignment.done_at is not None


# ---------------------------------------------------------------- issue 13 §6: moments, one-step review, keys, times


def test_it_pins_a_note_to_a_moment_and_links_back_to_it(alice_client, alice, conversation, build):
    response = alice_client.post(
        "/conversations/conv-q1/review",
        {"status": "new", "note": f"Promise at {build.xss}", "at": "1:05"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    note = ReviewNote.objects.get()
    assert (note.at_ms, note.author, note.status_to) == (65_000, alice, "")
    link = '<a class="note-moment" href="/conversations/conv-q1/?t=65000" data-moment="65000"'
    assert link in body and ">at 01:05</a>" in body
    assert build.xss not in body and "Promise at &lt;script&gt;" in body
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVIEW)
    assert event.detail == {"from": "new", "to": "new", "note": True, "at_ms": 65_000}
    assert link in alice_client.get("/conversations/conv-q1/").content.decode()  # and on the page itself


def test_it_keeps_notes_without_a_moment(alice_client, conversation):
    body = alice_client.post(
        "/conversations/conv-q1/review", {"status": "new", "note": "About the whole call", "at": ""},
        headers={"HX-Request": "true"},
    ).content.decode()  # fmt: skip
    assert ReviewNote.objects.get().at_ms is None
    assert "About the whole call" in body and "note-moment" not in body


def test_it_refuses_a_moment_it_cannot_read_or_one_without_a_note(alice_client, conversation):
    for values in ({"note": "x", "at": "1:75"}, {"note": "x", "at": "soon"}, {"note": "", "at": "0:10"}):
        response = alice_client.post(
            "/conversations/conv-q1/review", {"status": "new", **values}, headers={"HX-Request": "true"}
        )
        assert 'class="field-error"' in response.content.decode(), values
    assert not ReviewNote.objects.exists()
    assert alice_client.post("/conversations/conv-q1/review", {"status": "new", "note": "x", "at": "1:02:03"})
    assert ReviewNote.objects.get().at_ms == 3_723_000


def test_it_marks_a_new_call_reviewed_in_one_step(alice_client, alice, conversation):
    from reviews.models import ReviewAssignment

    assignment = ReviewAssignment.objects.create(
        conversation=conversation, assignee=alice, due_at=conversation.started_at
    )
    page = alice_client.get("/conversations/conv-q1/").content.decode()
    assert 'id="mark-reviewed"' in page and 'name="seen_status" value="new"' in page
    response = alice_client.post(
        "/conversations/conv-q1/review", {"action": "reviewed", "seen_status": "new"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    conversation.refresh_from_db()
    assert (conversation.review_status, conversation.reviewer) == ("reviewed", alice)
    assert conversation.reviewed_at is not None
    assert "Review saved." in body and 'id="mark-reviewed"' not in body  # nothing left to mark
    assignment.refresh_from_db()
    assert assignment.status == "done"
    note = ReviewNote.objects.get()
    assert (note.body, note.status_from, note.status_to, note.at_ms) == ("", "new", "reviewed", None)
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVIEW)
    # the walk is the work queue's (new -> in review -> reviewed), recorded as one step
    assert event.detail == {
        "from": "new",
        "to": "reviewed",
        "note": False,
        "via": "one_step",
        "path": ["in_review", "reviewed"],
    }


def test_it_does_not_overwrite_a_change_made_meanwhile_with_one_step(alice_client, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(review_status="escalated")
    body = alice_client.post(
        "/conversations/conv-q1/review", {"action": "reviewed", "seen_status": "in_review"},
        headers={"HX-Request": "true"},
    ).content.decode()  # fmt: skip
    assert "Someone else changed this review meanwhile" in body
    assert Conversation.objects.get(pk=conversation.pk).review_status == "escalated"
    assert not ReviewNote.objects.exists()


def test_it_takes_an_escalated_call_to_reviewed_in_one_step_but_not_a_reviewed_one_again(alice_client, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(review_status="escalated")
    alice_client.post("/conversations/conv-q1/review", {"action": "reviewed", "seen_status": "escalated"})
    assert Conversation.objects.get(pk=conversation.pk).review_status == "reviewed"
    again = alice_client.post(
        "/conversations/conv-q1/review",
        {"action": "reviewed", "seen_status": "reviewed"},
        headers={"HX-Request": "true"},
    )
    assert "Someone else changed this review meanwhile" in again.content.decode()
    assert ReviewNote.objects.count() == 1
    junk = alice_client.post("/conversations/conv-q1/review", {"action": "reviewed", "seen_status": "done!"})
    assert junk.status_code == 302 and ReviewNote.objects.count() == 1


def test_it_forbids_one_step_review_to_read_only_roles(carol_client, carol, conversation):
    response = carol_client.post("/conversations/conv-q1/review", {"action": "reviewed", "seen_status": "new"})
    assert response.status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).review_status == "new"
    denial = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert (denial.user, denial.detail["operation"]) == (carol, "review")
    page = carol_client.get("/conversations/conv-q1/").content.decode()
    assert 'id="mark-reviewed"' not in page and "data-note-at" not in page
    assert 'href="/conversations/conv-q1/?t=65000" data-copy-link' in page  # a link anyone who may read it can share


def test_it_gives_every_turn_a_moment_link_and_a_note_control(alice_client, conversation):
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    for start in (0, 4000, 65000):
        assert f'href="/conversations/conv-q1/?t={start}" data-copy-link' in body
        assert f'data-note-at="{start}"' in body
    assert 'aria-label="Note at 01:05"' in body and 'aria-label="Copy link to 01:05"' in body
    assert '<label for="id_at">At moment' in body and 'id="copy-status"' in body and 'role="status"' in body


def test_it_lists_every_key_in_a_labelled_help_dialog(alice_client, conversation):
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    dialog = body[body.index('<dialog id="keys-help"') : body.index("</dialog>")]
    assert 'aria-labelledby="keys-help-title"' in dialog and 'id="keys-help-title"' in dialog
    for key in ("Space", "←", "→", "j", "k", "n", "r", "?", "Esc"):
        assert f"<kbd>{key}</kbd>" in dialog, key
    assert 'aria-keyshortcuts="?"' in body and 'aria-keyshortcuts="r"' in body
    assert "<script>" not in body.split("</head>")[1].replace('<script src="', "")  # no inline script


def test_it_shows_the_text_as_genesys_wrote_it_for_people(alice_client, conversation):
    from reviews.models import Utterance

    Utterance.objects.filter(conversation=conversation, index=1).update(
        text="How can I help with your refund?",
        words=[["how", 0.9], ["can", 0.3], ["i", 0.9], ["help", 0.9], ["with", 0.9], ["your", 0.9], ["refund", 0.9]],
    )
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    assert (
        'How <span class="low-confidence" title="Low ASR confidence: 30%">can</span> I help with your refund?' in body
    )


def test_it_writes_absolute_times_in_utc_for_the_viewer_s_zone(alice_client, alice, conversation):
    from datetime import UTC

    ReviewNote.objects.create(conversation=conversation, author=alice, body="n")
    body = alice_client.get("/conversations/conv-q1/").content.decode()
    started = conversation.started_at.astimezone(UTC)
    assert f'<time datetime="{started:%Y-%m-%dT%H:%M:%SZ}" data-local="datetime">' in body
    assert f"{started:%H:%M:%S} UTC</time>" in body  # labelled UTC until static/js/review.js rewrites it
    assert body.count('data-local="') >= 3  # started, ended, the note


def test_it_gives_the_turns_of_a_loaded_chunk_the_same_controls(alice_client, carol_client, long_call):
    _conversation, turns = long_call()
    params, headers = {"chunk": "1"}, {"HTTP_HX_REQUEST": "true"}
    fragment = alice_client.get("/conversations/conv-long/", params, **headers).content.decode()
    turn = turns[600]
    assert f'href="/conversations/conv-long/?t={turn.start_ms}" data-copy-link' in fragment
    assert f'data-note-at="{turn.start_ms}"' in fragment
    assert "data-note-at" not in carol_client.get("/conversations/conv-long/", params, **headers).content.decode()


# The vault's own speech-to-text of an audio-only call (issue 15): never mistaken for Genesys' transcript

ASR = {"source": "vault-asr", "asr_engine": "pocketsphinx", "asr_model": "en-us (pocketsphinx 5.1.1)"}
BANNER = "Machine transcript by the vault (pocketsphinx, en-us (pocketsphinx 5.1.1))"


@pytest.fixture
def machine_call(q1, d1, build):
    """An audio-only call the vault transcribed itself: two turns, one word heard with low confidence."""
    conversation = build.conversation("conv-asr", queue=q1, division=d1, state="audio_fallback")
    turns = [
        {"speaker": "external", "start_ms": 0, "end_ms": 2_000, "text": "hello refund", "words": []},
        {
            "speaker": "external",
            "start_ms": 3_000,
            "end_ms": 5_000,
            "text": "please cancel",
            "words": [["please", 0.9, 3000, 400], ["cancel", 0.2, 3400, 500]],
        },
    ]
    build.transcript(conversation, turns, **ASR, redaction_status="verified")
    return conversation


def _turn_sources(body: str) -> list[str]:
    return re.findall(r'<span class="chip source-[^"]+" data-source="([^"]+)">', body)


def test_it_marks_a_vault_transcript_with_a_banner_naming_its_engine_and_model(alice_client, alice, machine_call):
    body = alice_client.get("/conversations/conv-asr/").content.decode()

    assert BANNER in body
    assert "Genesys did not transcribe this call" in body and "accuracy is lower" in body
    assert '<span class="low-confidence" title="Low ASR confidence: 20%">cancel</span>' in body
    assert _turn_sources(body) == ["vault-asr", "vault-asr"]  # every turn says so, in text
    assert '<span class="badge source-vault-asr">Vault speech-to-text</span>' in body  # the parts table
    assert "· pocketsphinx, en-us (pocketsphinx 5.1.1)</dd>" in body  # metrics card: engine and model
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW_TRANSCRIPT)  # viewing stays audited
    assert (event.user, event.object_id) == (alice, "conv-asr")


def test_it_shows_no_machine_marks_on_a_genesys_transcript(alice_client, conversation):
    body = alice_client.get("/conversations/conv-q1/").content.decode()

    assert "Machine transcript by the vault" not in body
    assert "source-vault-asr" not in body
    assert _turn_sources(body) == []  # a call Genesys transcribed alone needs no per-turn label


def test_it_labels_each_turn_of_a_mixed_call_by_its_source(alice_client, two_parts):
    Transcript.objects.filter(pk=two_parts.later.pk).update(**ASR)

    body = alice_client.get("/conversations/conv-parts/").content.decode()

    assert BANNER in body and "Genesys did not transcribe part 2 of this call" in body
    assert "Genesys did not transcribe this call" not in body
    # Time order: customer 00:00 (part 1), consult 02:00 (part 2), agent 02:05 (part 1), consult 02:10 (part 2).
    assert _turn_sources(body) == ["genesys", "vault-asr", "genesys", "vault-asr"]


def test_it_labels_the_turns_of_a_loaded_chunk_too(alice_client, machine_call, monkeypatch):
    monkeypatch.setattr("reviews.views.review.REVIEW_PAGE_UTTERANCES", 1)

    fragment = alice_client.get("/conversations/conv-asr/", {"chunk": 1}, HTTP_HX_REQUEST="true").content.decode()

    assert _turn_sources(fragment) == ["vault-asr"]


def test_it_exports_a_vault_part_as_a_machine_transcript(carol_client, two_parts):
    Transcript.objects.filter(pk=two_parts.later.pk).update(**ASR)

    text = carol_client.get("/conversations/conv-parts/export.txt").content.decode()
    document = json.loads(carol_client.get("/conversations/conv-parts/export.json").content)

    vault = "machine transcript by the vault (pocketsphinx, en-us (pocketsphinx 5.1.1)), not Genesys'"
    assert f"Part 2: Agent · Sam Consult (communication comm-consult), {vault}, recording rec-consult" in text
    assert f"--- Part 2: Agent · Sam Consult (communication comm-consult) begins ({vault}) ---" in text
    assert "Part 1: Customer (communication comm-customer), recording rec-customer" in text  # Genesys: as before
    assert [(p["source"], p["asr_engine"], p["asr_model"]) for p in document["parts"]] == [
        ("genesys", None, None),
        ("vault-asr", "pocketsphinx", "en-us (pocketsphinx 5.1.1)"),
    ]


@pytest.mark.parametrize(
    ("job", "shown"),
    [
        (None, "Vault speech-to-text:</strong> queued: the vault will transcribe the recording"),
        ({"outcome": "silent"}, "Vault speech-to-text:</strong> No speech found"),
        (
            {"outcome": "unreadable", "detail": "not a RIFF/WAVE file"},
            "Vault speech-to-text:</strong> Recording unreadable (not a RIFF/WAVE file)",
        ),
        (
            {"outcome": "failed", "attempts": 3, "detail": "engine crashed"},
            "Vault speech-to-text:</strong> Speech-to-text failed after 3 attempts (engine crashed)",
        ),
    ],
)
def test_it_says_where_speech_to_text_stands_on_an_audio_only_call(alice_client, q1, d1, build, job, shown):
    conversation = build.conversation("conv-audio", queue=q1, division=d1, state="audio_fallback")
    if job is not None:
        AsrJob.objects.create(conversation=conversation, **job)

    body = alice_client.get("/conversations/conv-audio/").content.decode()

    assert shown in body


def test_it_says_nothing_of_speech_to_text_once_transcribed_or_for_a_stored_call(
    alice_client, machine_call, conversation
):
    AsrJob.objects.create(conversation=machine_call, outcome="transcribed")

    assert "Vault speech-to-text:</strong>" not in alice_client.get("/conversations/conv-asr/").content.decode()
    assert "Vault speech-to-text:</strong>" not in alice_client.get("/conversations/conv-q1/").content.decode()
