from __future__ import annotations

import json

import pytest

from reviews.models import AuditEvent, Conversation, ReviewNote

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
    alice_client.post("/conversations/conv-q1/review", {"status": "escalated", "note": ""})
    conversation.refresh_from_db()
    assert conversation.review_status == "escalated"
    assert conversation.reviewed_at is not None


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
        {"kind": "card_number", "start_ms": 65000, "utterance_id": reviewer["utterances"][2]["id"]}
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
