"""Revealing a masked value: compliance officers only, with a reason, on a CSRF-protected POST, audited."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from reviews import encryption
from reviews.models import AccessScope, AuditEvent, Conversation, Division, Queue, Transcript, Utterance
from reviews.pipeline.masking import original_associated_data
from tests.fixtures.accounts import sign_in
from tests.fixtures.leaky_transcripts import ingest_leaky

pytestmark = pytest.mark.django_db

REASON = "Chargeback dispute 2291: confirm the card used"


@pytest.fixture
def division(db):
    return Division.objects.create(genesys_id="div-r", name="R")


@pytest.fixture
def queue(division):
    return Queue.objects.create(genesys_id="queue-r", name="Payments", division=division)


@pytest.fixture
def stored(division, queue):
    return ingest_leaky(division=division, queue=queue)


@pytest.fixture
def card_turn(stored):
    """A masked turn holding a card number typed as digits, and that value."""
    for conversation, leaks in stored:
        card = next((leak for leak in leaks if re.fullmatch(r"\d{4}( \d{4}){3}", leak.value)), None)
        if card is not None:
            utterance = conversation.utterances.exclude(sealed_original="").get()
            return utterance, card.value
    raise AssertionError("no typed card leak in the dataset")


def user(django_user_model, name: str, *, groups=(), division=None, queue=None, **flags):
    account = django_user_model.objects.create_user(name, password="pw", **flags)
    for group in groups:
        account.groups.add(Group.objects.get_or_create(name=group)[0])
    if division is not None or queue is not None:
        scope = AccessScope.objects.create(user=account)
        if division is not None:
            scope.divisions.add(division)
        if queue is not None:
            scope.queues.add(queue)
    return account


@pytest.fixture
def compliance(django_user_model):
    return user(django_user_model, "cora", groups=["Compliance"])


def url(utterance) -> str:
    return f"/conversations/{utterance.conversation.genesys_id}/utterances/{utterance.pk}/reveal"


def test_it_reveals_the_original_to_compliance_with_a_reason_and_audits_it(compliance, card_turn):
    utterance, value = card_turn
    response = sign_in(compliance).post(url(utterance), {"reason": REASON}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert value in body and "[card number*]" not in body
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVEAL)
    assert (event.user, event.object_type, event.object_id) == (compliance, "utterance", str(utterance.pk))
    assert event.detail["conversation"] == utterance.conversation.genesys_id
    assert event.detail["reason"] == REASON and event.detail["kinds"] == ["card_number"]
    audit_rows = json.dumps(list(AuditEvent.objects.values("detail", "object_id")))
    assert value not in audit_rows and re.sub(r"\D", "", value) not in re.sub(r"\D", "", audit_rows)


@pytest.mark.parametrize("reason", [None, "", "   ", "because"])
def test_it_refuses_a_reveal_without_a_reason(compliance, card_turn, reason):
    utterance, value = card_turn
    data = {} if reason is None else {"reason": reason}
    response = sign_in(compliance).post(url(utterance), data)
    assert response.status_code == 400
    assert value not in response.content.decode() and "at least 10 characters" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).exists()
    denied = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert denied.detail["reason"] == "reveal without a reason"


def test_it_masks_a_value_pasted_into_the_reason(compliance, card_turn):
    utterance, value = card_turn
    sign_in(compliance).post(url(utterance), {"reason": f"customer says it is {value}, check"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.REVEAL)
    assert value not in event.detail["reason"] and "[card number*]" in event.detail["reason"]


@pytest.mark.parametrize(
    "persona",
    [
        {"groups": ["Supervisor"], "scope": "division"},
        {"groups": ["Reviewer"], "scope": "queue"},
        {"is_staff": True},
        {"is_staff": True, "is_superuser": True},
    ],
)
def test_it_refuses_everyone_but_compliance_and_audits_it(django_user_model, division, queue, card_turn, persona):
    utterance, value = card_turn
    persona = dict(persona)
    scope = persona.pop("scope", None)
    account = user(
        django_user_model,
        "someone",
        groups=persona.pop("groups", ()),
        division=division if scope == "division" else None,
        queue=queue if scope == "queue" else None,
        **persona,
    )
    response = sign_in(account).post(url(utterance), {"reason": REASON})
    assert response.status_code == 403
    assert value not in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).exists()
    denied = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_DENIED)
    assert (denied.user, denied.object_type, denied.object_id) == (account, "utterance", str(utterance.pk))
    assert denied.detail["reason"] == "not a compliance officer"


def test_it_answers_404_for_an_utterance_of_another_conversation(compliance, stored, card_turn):
    utterance, value = card_turn
    other = next(conversation for conversation, _ in stored if conversation != utterance.conversation)
    client = sign_in(compliance)
    response = client.post(f"/conversations/{other.genesys_id}/utterances/{utterance.pk}/reveal", {"reason": REASON})
    assert response.status_code == 404 and value not in response.content.decode()
    missing = client.post(f"/conversations/no-such-call/utterances/{utterance.pk}/reveal", {"reason": REASON})
    assert missing.status_code == 404
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED).count() == 2
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).exists()


def test_it_answers_404_for_a_turn_the_vault_did_not_mask(compliance, card_turn):
    utterance, _ = card_turn
    clean = utterance.conversation.utterances.filter(sealed_original="").first()
    response = sign_in(compliance).post(url(clean), {"reason": REASON})
    assert response.status_code == 404


def test_it_refuses_get(compliance, card_turn):
    utterance, value = card_turn
    response = sign_in(compliance).get(url(utterance), {"reason": REASON})
    assert response.status_code == 405 and value not in response.content.decode()


def test_it_refuses_a_post_without_a_csrf_token(compliance, card_turn):
    utterance, value = card_turn
    response = sign_in(compliance, Client(enforce_csrf_checks=True)).post(url(utterance), {"reason": REASON})
    assert response.status_code == 403 and value not in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).exists()


def test_it_refuses_anonymous_users(card_turn):
    utterance, _ = card_turn
    response = Client().post(url(utterance), {"reason": REASON})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_escapes_the_original(compliance, division):
    conversation = Conversation.objects.create(
        genesys_id="conv-xss", state=Conversation.State.STORED, division=division, started_at="2026-01-01T00:00:00Z"
    )
    transcript = Transcript.objects.create(
        conversation=conversation, communication_id="c", sha256="a" * 64, size_bytes=1, raw_path="x"
    )
    original = {"text": '<script>alert("x")</script> 4111 1111 1111 1111', "words": []}
    sealed = encryption.seal(
        json.dumps(original).encode(),
        associated_data=original_associated_data(genesys_id="conv-xss", sha256="a" * 64, index=0),
    )
    utterance = Utterance.objects.create(
        transcript=transcript,
        conversation=conversation,
        index=0,
        speaker="external",
        start_ms=0,
        end_ms=1,
        text="[script] [card number*]",
        sealed_original=sealed,
    )
    body = sign_in(compliance).post(url(utterance), {"reason": REASON}).content.decode()
    assert "<script>alert" not in body and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body


def test_it_refuses_a_sealed_original_moved_to_another_row(compliance, card_turn):
    utterance, value = card_turn
    clean = utterance.conversation.utterances.filter(sealed_original="").first()
    Utterance.objects.filter(pk=clean.pk).update(sealed_original=utterance.sealed_original)
    response = sign_in(compliance).post(url(clean), {"reason": REASON})
    assert response.status_code == 500 and value not in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REVEAL).exists()


def test_it_offers_reveal_on_masked_turns_to_compliance_only(compliance, django_user_model, division, card_turn):
    utterance, _ = card_turn
    page = f"/conversations/{utterance.conversation.genesys_id}/"
    body = sign_in(compliance).get(page).content.decode()
    assert f'action="{url(utterance)}"' in body and f'hx-post="{url(utterance)}"' in body
    assert body.count('name="reason"') == utterance.conversation.utterances.exclude(sealed_original="").count()
    form = body[body.index('<details class="reveal">') : body.index("</details>")]
    assert "csrfmiddlewaretoken" in form
    assert "<script" not in form and not re.search(r"\son[a-z]+\s*=", form)  # CSP: no inline script or handler
    supervisor = user(django_user_model, "sam", groups=["Supervisor"], division=division)
    assert 'name="reason"' not in sign_in(supervisor).get(page).content.decode()
