"""A leaked card number, SSN, IBAN, e-mail and phone are masked on every path that reads transcript text.

The attack (issue 11): a supervisor scoped to one division opens conversations whose transcripts carry values the
Genesys masking missed, and reads the review page, its turn fragments, both exports, the JSON API, search snippets
and what the vault sends to compliance. None of them may show a value, digits-only forms included; each shows the
vault's mask token instead.
"""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from reviews.compliance.payload import build_payload
from reviews.models import AccessScope, ApiToken, AuditEvent, Division, OutboxMessage, Queue, Transcript, Utterance
from reviews.redaction import vault_mask_token
from reviews.search import SearchFilters, search
from tests.fixtures.accounts import sign_in
from tests.fixtures.leaky_transcripts import KINDS, ingest_leaky

pytestmark = pytest.mark.django_db

SEPARATORS = re.compile(r"[\s\-.()+/]")


@pytest.fixture
def division(db):
    return Division.objects.create(genesys_id="div-leaky", name="Leaky")


@pytest.fixture
def stored(division, caplog):
    queue = Queue.objects.create(genesys_id="queue-leaky", name="Payments", division=division)
    with caplog.at_level(logging.DEBUG):
        return ingest_leaky(division=division, queue=queue)


@pytest.fixture
def supervisor(division, django_user_model):
    user = django_user_model.objects.create_user("sue", password="pw")
    user.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
    AccessScope.objects.create(user=user).divisions.add(division)
    return user


@pytest.fixture
def supervisor_client(supervisor):
    return sign_in(supervisor)


def assert_masked(output: str, leaks, *, expect_mask: bool = True) -> None:
    """No form of any value in `output`, not even with every separator removed; the vault's masks instead."""
    squeezed = SEPARATORS.sub("", output)
    for leak in leaks:
        for form in leak.forms:
            assert form not in output, (leak.kind, "value shown")
            if len(re.sub(r"\D", "", form)) >= 7 and form.isdigit():
                assert form not in squeezed, (leak.kind, "digits shown")
    if expect_mask:
        assert all(vault_mask_token(leak.kind) in output for leak in leaks), "the vault's mask is shown"


def test_it_ingests_every_kind(stored):
    assert {leak.kind for _, leaks in stored for leak in leaks} == set(KINDS)
    for conversation, leaks in stored:
        masked = Utterance.objects.filter(conversation=conversation).exclude(sealed_original="")
        assert masked.exists(), leaks
        for utterance in masked:
            stored_text = utterance.text + " " + " ".join(str(word[0]) for word in utterance.words)
            assert_masked(stored_text, leaks)
            assert utterance.sealed_original.startswith("tv1:")


def test_it_masks_the_review_page(stored, supervisor_client):
    for conversation, leaks in stored:
        response = supervisor_client.get(f"/conversations/{conversation.genesys_id}/")
        assert response.status_code == 200
        body = response.content.decode()
        assert_masked(body, leaks)
        assert 'title="Masked by the vault: ' in body


def test_it_masks_the_turn_fragments(stored, supervisor_client):
    for conversation, leaks in stored:
        response = supervisor_client.get(
            f"/conversations/{conversation.genesys_id}/", {"chunk": "0", "direction": "later"}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
        assert_masked(response.content.decode(), leaks)


@pytest.mark.parametrize("fmt", ["txt", "json"])
def test_it_masks_both_exports(stored, supervisor_client, fmt):
    for conversation, leaks in stored:
        response = supervisor_client.get(f"/conversations/{conversation.genesys_id}/export.{fmt}")
        assert response.status_code == 200
        assert_masked(response.content.decode(), leaks)


def test_it_masks_the_json_api(stored, supervisor):
    _token, key = ApiToken.issue(user=supervisor, name="masking test")
    for conversation, leaks in stored:
        response = Client().get(f"/api/transcripts/{conversation.genesys_id}", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
        assert_masked(response.content.decode(), leaks)


@pytest.mark.parametrize(("query", "kind"), [("[card number]", "card_number"), ("[bank account]", "iban")])
def test_it_finds_vault_masks_by_their_kind_and_shows_them_masked_in_snippets(stored, supervisor, query, kind):
    all_leaks = [leak for _, leaks in stored for leak in leaks]
    page = search(user=supervisor, query=query, filters=SearchFilters())
    snippets = [hit.snippet_html for hit in page.results]
    assert any(vault_mask_token(kind) in re.sub(r"<[^>]+>", "", str(snippet)) for snippet in snippets)
    for snippet in snippets:
        assert_masked(str(snippet), all_leaks, expect_mask=False)
    _token, key = ApiToken.issue(user=supervisor, name="masking test")
    response = Client().post(
        "/api/transcripts/search",
        data=json.dumps({"query": query}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200
    assert_masked(response.content.decode(), all_leaks, expect_mask=False)
    assert response.json()["results"]


def test_it_finds_leaky_transcripts_with_the_redaction_filter(stored, supervisor):
    page = search(
        user=supervisor,
        query="[card number]",
        filters=SearchFilters(redaction_status=Transcript.RedactionStatus.LEAKS_FOUND),
    )
    shown = [re.sub(r"<[^>]+>", "", str(hit.snippet_html)) for hit in page.results]
    assert any("[card number*]" in text for text in shown)


def test_it_keeps_values_out_of_the_compliance_payload_and_outbox(stored):
    for conversation, leaks in stored:
        for transcript in conversation.transcripts.all():
            assert_masked(json.dumps(build_payload(transcript)), leaks, expect_mask=False)
        for message in OutboxMessage.objects.filter(transcript__conversation=conversation):
            assert_masked(json.dumps(message.payload), leaks, expect_mask=False)


def test_it_keeps_values_out_of_logs_and_audit_rows(stored, supervisor_client, caplog):
    all_leaks = [leak for _, leaks in stored for leak in leaks]
    with caplog.at_level(logging.DEBUG):
        for conversation, _leaks in stored:
            supervisor_client.get(f"/conversations/{conversation.genesys_id}/")
            supervisor_client.get(f"/conversations/{conversation.genesys_id}/export.json")
    assert_masked(caplog.text, all_leaks, expect_mask=False)
    audit = json.dumps(list(AuditEvent.objects.values("action", "object_id", "detail")), default=str)
    assert_masked(audit, all_leaks, expect_mask=False)


def test_it_keeps_values_out_of_the_search_index(stored):
    """Asks the index itself (FTS5 / tsvector) for each value as a phrase, and lists its terms."""
    all_leaks = [leak for _, leaks in stored for leak in leaks]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.utterance_terms USING fts5vocab(main, 'reviews_utterance_fts', 'row')"
            )
            cursor.execute("SELECT term FROM temp.utterance_terms")
            phrase_sql = "SELECT count(*) FROM reviews_utterance_fts WHERE reviews_utterance_fts MATCH %s"
        else:
            cursor.execute("SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM reviews_utterance")
            phrase_sql = "SELECT count(*) FROM reviews_utterance WHERE search_vector @@ phraseto_tsquery('english', %s)"
        terms = {row[0] for row in cursor.fetchall()}
        assert {"card", "number", "bank", "account"} <= terms  # the masks are indexed
        for leak in all_leaks:
            for form in leak.forms:
                words = re.findall(r"[0-9A-Za-z]+", form)
                cursor.execute(
                    phrase_sql, ['"' + " ".join(words) + '"' if connection.vendor == "sqlite" else " ".join(words)]
                )
                assert cursor.fetchone()[0] == 0, leak.kind
                if len(words) == 1:
                    assert words[0].lower() not in terms, leak.kind
