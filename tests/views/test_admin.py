from __future__ import annotations

import pytest
from django.contrib import admin

from reviews.models import AccessScope, AuditEvent, OutboxMessage

pytestmark = pytest.mark.django_db


def test_it_opens_every_changelist(admin_client_, conversation):
    for model in admin.site._registry:
        if model._meta.app_label != "reviews":
            continue
        url = f"/admin/reviews/{model._meta.model_name}/"
        assert admin_client_.get(url).status_code == 200, url


def test_it_keeps_the_audit_log_read_only(admin_client_, alice_client, conversation):
    alice_client.get("/conversations/conv-q1/")
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW_TRANSCRIPT)
    assert admin_client_.get("/admin/reviews/auditevent/add/").status_code == 403
    assert admin_client_.post(f"/admin/reviews/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    page = admin_client_.get(f"/admin/reviews/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    filtered = admin_client_.get("/admin/reviews/auditevent/", {"action__exact": "view_transcript", "q": "conv-q1"})
    assert filtered.context["cl"].result_count == 1


def test_it_filters_conversations_by_state_and_redaction(admin_client_, conversation, other_conversation):
    response = admin_client_.get(
        "/admin/reviews/conversation/", {"state__exact": "stored", "review_status__exact": "new"}
    )
    assert response.context["cl"].result_count == 2


def test_it_audits_an_access_scope_change(admin_client_, admin_user, alice, q1, q2, d1):
    scope = AccessScope.objects.get(user=alice)
    response = admin_client_.post(
        f"/admin/reviews/accessscope/{scope.pk}/change/",
        {"user": alice.pk, "queues": [q1.pk, q2.pk], "divisions": [d1.pk]},
    )
    assert response.status_code == 302
    assert set(scope.queues.all()) == {q1, q2}
    event = AuditEvent.objects.get(action=AuditEvent.Action.ADMIN_CHANGE)
    assert (event.user, event.object_type, event.object_id) == (admin_user, "reviews.accessscope", str(scope.pk))
    assert event.detail["operation"] == "change"


def test_it_audits_an_admin_deletion(admin_client_, alice):
    scope = AccessScope.objects.get(user=alice)
    admin_client_.post(f"/admin/reviews/accessscope/{scope.pk}/delete/", {"post": "yes"})
    assert not AccessScope.objects.exists()
    assert AuditEvent.objects.get(action=AuditEvent.Action.ADMIN_CHANGE).detail == {"operation": "delete"}


def test_it_replays_dead_letters_from_the_admin(admin_client_, conversation):
    message = OutboxMessage.objects.get()
    OutboxMessage.objects.filter(pk=message.pk).update(state=OutboxMessage.State.DEAD, delivered_at=None, attempts=10)
    response = admin_client_.post(
        "/admin/reviews/outboxmessage/",
        {"action": "replay_dead_letters", "_selected_action": [message.pk]},
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxMessage.State.PENDING, 0)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REPLAY, object_id=str(message.pk)).exists()


def test_it_never_shows_the_shared_genesys_access_token(admin_client_, conversation):
    from reviews.models import OAuthToken

    OAuthToken.objects.create(key="k" * 64, token="secret-access-token-value")
    assert OAuthToken not in admin.site._registry
    assert admin_client_.get("/admin/reviews/oauthtoken/").status_code == 404
    index = admin_client_.get("/admin/").content.decode().lower()
    assert "oauth" not in index and "batch jobs" in index and "genesys findings" in index
    for model in admin.site._registry:
        if model._meta.app_label == "reviews":
            page = admin_client_.get(f"/admin/reviews/{model._meta.model_name}/").content
            assert b"secret-access-token-value" not in page, model


def test_it_shows_batch_jobs_and_findings_read_only(admin_client_):
    from django.utils import timezone

    from reviews.models import BatchJob, GenesysFinding

    job = BatchJob.objects.create(job_id="job-1", submitted_at=timezone.now(), state="lost", last_error="404")
    finding = GenesysFinding.objects.create(key="search.requires_language", value={"required": True})
    assert b"job-1" in admin_client_.get("/admin/reviews/batchjob/").content
    assert b"search.requires_language" in admin_client_.get("/admin/reviews/genesysfinding/").content
    for url in (f"/admin/reviews/batchjob/{job.pk}/change/", f"/admin/reviews/genesysfinding/{finding.pk}/change/"):
        page = admin_client_.get(url)
        assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client_.get("/admin/reviews/batchjob/add/").status_code == 403
    assert admin_client_.post(f"/admin/reviews/genesysfinding/{finding.pk}/delete/", {"post": "yes"}).status_code == 403


def test_it_shows_transcript_parts_in_the_admin(admin_client_, two_parts):
    changelist = admin_client_.get("/admin/reviews/transcript/").content.decode()
    assert "rec-consult" in changelist and "gzip" in changelist and "120000" in changelist
    page = admin_client_.get(f"/admin/reviews/conversation/{two_parts.conversation.pk}/change/").content.decode()
    assert "rec-customer" in page and "rec-consult" in page


def test_it_shows_outcome_error_count_and_new_states_of_conversations(admin_client_, q1, d1, d2, build):
    conversation = build.conversation(
        "conv-403", queue=q1, division=d1, state="restricted", outcome="missing conversation:view", error_count=3
    )
    conversation.divisions.add(d1, d2)
    changelist = admin_client_.get("/admin/reviews/conversation/", {"state__exact": "restricted"})
    assert changelist.context["cl"].result_count == 1
    body = changelist.content.decode()
    assert "missing conversation:view" in body and "Restricted" in body and "No transcript, no audio" in body
    page = admin_client_.get(f"/admin/reviews/conversation/{conversation.pk}/change/").content.decode()
    assert 'name="divisions"' not in page  # what Genesys said the call touched is not editable


def test_it_lists_a_multi_part_conversation_once_under_the_redaction_filter(admin_client_, two_parts):
    response = admin_client_.get("/admin/reviews/conversation/", {"transcripts__redaction_status": "verified"})
    assert response.context["cl"].result_count == 1


def test_it_renders_an_admin_form_whose_widgets_only_the_django_engine_has(admin_client_):
    # reviews/form_renderer.py renders widgets with Jinja2 and must fall back for the admin's own widget templates.
    page = admin_client_.get("/admin/reviews/accessscope/add/")

    assert page.status_code == 200
    assert "related-widget-wrapper" in page.content.decode()
