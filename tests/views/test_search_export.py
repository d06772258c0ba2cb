"""CSV export of the search page's list (reviews/views/search.py search_export)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from reviews.models import AuditEvent, Utterance
from reviews.views.search import EXPORT_COLUMNS

pytestmark = pytest.mark.django_db
EXPORT = "/search/export.csv"


def rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="transcript-vault-search-')
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert tuple(table[0]) == EXPORT_COLUMNS
    return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in table[1:]]


def test_it_exports_the_filtered_list_in_the_pages_order(alice_client, conversation, q1, d1, build):
    longer = build.conversation("conv-long", queue=q1, division=d1, review_status="escalated")
    longer.ended_at = longer.started_at + timedelta(minutes=30)
    longer.save()
    exported = rows(alice_client.get(EXPORT, {"sort": "duration_desc"}))
    assert [row["conversation_id"] for row in exported] == ["conv-long", "conv-q1"]
    first, second = exported
    assert (first["duration_seconds"], first["review_status"], first["best_match"]) == ("1800", "escalated", "")
    assert (second["duration_seconds"], second["sentiment"], second["confidence"]) == ("205", "neutral", "0.820")
    assert (second["queue"], second["agent"], second["redaction_status"]) == ("Q1 Billing", "Dana Agent", "leaks_found")
    assert second["url"] == "http://localhost:8000/conversations/conv-q1/"
    filtered = rows(alice_client.get(EXPORT, {"review_status": "escalated"}))
    assert [row["conversation_id"] for row in filtered] == ["conv-long"]


def test_it_exports_only_what_the_user_may_see(alice_client, conversation, other_conversation):
    assert [row["conversation_id"] for row in rows(alice_client.get(EXPORT))] == ["conv-q1"]
    assert rows(alice_client.get(EXPORT, {"q": "zebra"})) == []  # the other queue's call has the word


def test_it_exports_each_matching_call_with_its_best_match_as_the_page_shows_it(alice_client, conversation):
    (row,) = rows(alice_client.get(EXPORT, {"q": "refund"}))
    utterance = conversation.utterances.get(index=1)
    assert row["best_match"] == "how can I help with your refund"
    assert row["best_match_at"] == "00:04"
    assert row["url"].endswith(f"/conversations/conv-q1/?t=4000#u-{utterance.pk}")


def test_it_keeps_masked_values_masked_and_exports_no_other_transcript_text(alice_client, q1, d1, build):
    call = build.conversation("conv-masked", queue=q1, division=d1)
    build.transcript(
        call,
        [
            {"speaker": "external", "start_ms": 0, "end_ms": 1, "text": "my card is [card number*] thanks"},
            {"speaker": "internal", "start_ms": 5, "end_ms": 6, "text": "a private remark nobody searched"},
        ],
    )
    Utterance.objects.filter(conversation=call, index=0).update(sealed_original="sealed:4111111111111111")
    body = alice_client.get(EXPORT, {"q": "[card number]"}).content.decode()
    assert "card is [card number*] thanks" in body  # PostgreSQL's headline may drop the leading stop word
    assert "4111" not in body and "sealed" not in body and "private remark" not in body


def test_it_neutralises_cells_a_spreadsheet_would_run(alice_client, q1, d1, build):
    call = build.conversation("conv-formula", queue=q1, division=d1, agent_name="=HYPERLINK(1)")
    build.transcript(call, [{"speaker": "external", "start_ms": 0, "end_ms": 1, "text": "@SUM(1) refund"}])
    call.queue.name = "+Queue"
    call.queue.save()
    (row,) = rows(alice_client.get(EXPORT, {"q": "refund"}))
    assert row["agent"] == "'=HYPERLINK(1)" and row["queue"] == "'+Queue"
    # SQLite's snippet keeps the "@" (so it is neutralised); PostgreSQL's headline starts at the first word.
    assert row["best_match"] in ("'@SUM(1) refund", "SUM(1) refund")
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@"))


def test_it_audits_the_export(alice_client, alice, conversation):
    alice_client.get(EXPORT, {"q": "refund 4111 1111 1111 1111", "sort": "date_asc", "topic": "Refund"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.user == alice and event.object_type == "search"
    detail = event.detail
    assert (detail["format"], detail["sort"], detail["rows"], detail["shown"]) == ("csv", "date_asc", 0, [])
    assert detail["filters"] == {"topic": "Refund"}
    assert "4111 1111 1111 1111" not in detail["query"]  # the search terms are masked as for SEARCH events
    rows(alice_client.get(EXPORT, {"review_status": "new"}))
    listed = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).order_by("-id").first()
    assert (listed.detail["rows"], listed.detail["shown"]) == (1, ["conv-q1"])


def test_it_refuses_an_invalid_form_and_anonymous_users(alice_client, client, conversation):
    assert alice_client.get(EXPORT, {"confidence_min": "500"}).status_code == 400
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()
    response = client.get(EXPORT)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_exports_whose_transcript_each_call_and_best_match_is(alice_client, conversation, vault_call):
    exported = {row["conversation_id"]: row for row in rows(alice_client.get(EXPORT, {"q": "refund"}))}

    assert (exported["conv-asr"]["transcript_source"], exported["conv-asr"]["best_match_source"]) == (
        "vault-asr",
        "vault-asr",
    )
    assert (exported["conv-q1"]["transcript_source"], exported["conv-q1"]["best_match_source"]) == (
        "genesys",
        "genesys",
    )
    listed = rows(alice_client.get(EXPORT))
    assert {(row["conversation_id"], row["transcript_source"], row["best_match_source"]) for row in listed} == {
        ("conv-asr", "vault-asr", ""),
        ("conv-q1", "genesys", ""),
    }


def test_it_exports_only_the_chosen_transcript_source(alice_client, conversation, vault_call):
    for params in ({"q": "refund", "transcript_source": "vault-asr"}, {"transcript_source": "vault-asr"}):
        assert [row["conversation_id"] for row in rows(alice_client.get(EXPORT, params))] == ["conv-asr"]
    assert alice_client.get(EXPORT, {"transcript_source": "robot"}).status_code == 400
