"""The holds page (reviews/views/holds.py): compliance places, lists and releases holds; nobody else gets in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from reviews.models import Agent, AuditEvent, Conversation, LegalHold, PurgeTombstone, RetentionRule

pytestmark = pytest.mark.django_db


def place(client, **data):
    return client.post(reverse("holds-place"), {"reason": "litigation matter 2026-17", **data})


def test_it_lets_a_compliance_officer_place_a_hold_and_lists_it(carol_client, carol, conversation):
    response = place(carol_client, kind="conversation", conversation_id=conversation.genesys_id, owner=carol.pk)

    assert response.status_code == 302
    hold = LegalHold.objects.get()
    assert (hold.kind, hold.conversation_genesys_id, hold.owner) == ("conversation", conversation.genesys_id, carol)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LEGAL_HOLD, user=carol, object_id=str(hold.pk)).exists()
    page = carol_client.get(reverse("holds"))
    assert page.status_code == 200
    assert f"conversation {conversation.genesys_id}" in page.content.decode()
    assert "litigation matter 2026-17" in page.content.decode()


def test_it_places_agent_phone_and_date_range_holds(carol_client, carol, conversation):
    Agent.objects.create(genesys_id="agent-9", name="Robin")
    start = timezone.now().replace(microsecond=0) - timedelta(days=2)
    for data in (
        {"kind": "agent", "agent": "agent-9"},
        {"kind": "phone", "phone": "+1 317 555 0100"},
        {
            "kind": "date_range",
            "starts_at": f"{start:%Y-%m-%dT%H:%M}",
            "ends_at": f"{start + timedelta(days=1):%Y-%m-%dT%H:%M}",
        },
    ):
        assert place(carol_client, owner=carol.pk, **data).status_code == 302

    assert sorted(LegalHold.objects.values_list("kind", flat=True)) == ["agent", "date_range", "phone"]
    page = carol_client.get(reverse("holds")).content.decode()
    assert "phone number …0100" in page and "3175550100" not in page


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "conversation", "conversation_id": ""},
        {"kind": "phone", "phone": "not a number"},
        {"kind": "agent", "agent": "nobody"},
        {"kind": "conversation", "conversation_id": "c-1", "reason": "short"},
    ],
)
def test_it_answers_bad_input_with_the_form_and_writes_nothing(carol_client, carol, data):
    response = place(carol_client, owner=carol.pk, **data)

    assert response.status_code == 400
    assert not LegalHold.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LEGAL_HOLD).exists()


def test_it_releases_a_hold_with_a_reason_and_audits_it(carol_client, carol, conversation):
    place(carol_client, kind="conversation", conversation_id=conversation.genesys_id, owner=carol.pk)
    hold = LegalHold.objects.get()

    refused = carol_client.post(reverse("holds-release", args=[hold.pk]), {"reason": "no"})
    hold.refresh_from_db()
    assert refused.status_code == 302 and hold.is_active

    carol_client.post(reverse("holds-release", args=[hold.pk]), {"reason": "matter settled in court"})

    hold.refresh_from_db()
    assert not hold.is_active and hold.released_by == carol
    event = AuditEvent.objects.get(action=AuditEvent.Action.LEGAL_HOLD_RELEASE)
    assert (event.user, event.object_id, event.detail["reason"]) == (carol, str(hold.pk), "matter settled in court")


def test_it_shows_the_retention_rules_and_recent_tombstones(carol_client, q1, conversation, settings):
    settings.RETENTION_TRANSCRIPT_DAYS = 0
    RetentionRule.objects.create(queue=q1, transcript_days=90, audio_days=30, note="Billing policy 4.2")
    PurgeTombstone.objects.create(
        conversation=Conversation.objects.get(pk=conversation.pk),
        item="transcript",
        item_id="7a-purged",
        sha256="ab" * 32,
        conversation_started_at=conversation.started_at,
        due_at=conversation.started_at,
        rule="rule 1 (Q1 Billing)",
        run_id="run-1",
    )

    page = carol_client.get(reverse("holds")).content.decode()

    assert "Billing policy 4.2" in page and ">90<" in page
    assert "7a-purged" in page and "abababab" in page


@pytest.mark.parametrize("who", ["alice_client", "bob_client", "admin_client_"])
def test_it_refuses_everyone_but_compliance_and_audits_it(request, who, conversation):
    client = request.getfixturevalue(who)

    assert client.get(reverse("holds")).status_code == 403
    assert place(client, kind="conversation", conversation_id=conversation.genesys_id).status_code == 403
    assert not LegalHold.objects.exists()
    owner = User.objects.create_user("counsel")
    held = LegalHold.objects.create(kind="conversation", conversation_genesys_id="c-1", reason="x" * 12, owner=owner)
    release = client.post(reverse("holds-release", args=[held.pk]), {"reason": "I would like it gone"})
    held.refresh_from_db()
    assert release.status_code == 403 and held.is_active
    denials = AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_DENIED, object_type="legal_hold")
    assert sorted(denials.values_list("detail__operation", flat=True)) == ["list", "place", "release"]


def test_it_shows_the_nav_link_to_compliance_only(carol_client, alice_client):
    assert reverse("holds") in carol_client.get(reverse("search")).content.decode()
    assert reverse("holds") not in alice_client.get(reverse("search")).content.decode()


def test_it_needs_a_sign_in(client):
    response = client.get(reverse("holds"))
    assert response.status_code == 302 and "/login/" in response["Location"]
