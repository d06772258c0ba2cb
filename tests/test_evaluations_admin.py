from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from reviews.models import AuditEvent, EvaluationForm, EvaluationFormVersion
from tests.fixtures.accounts import sign_in
from tests.test_evaluations_support import make_version

pytestmark = pytest.mark.django_db

VERSIONS = "/admin/reviews/evaluationformversion/"


@pytest.fixture
def admin_client_(db):
    return sign_in(User.objects.create_user("admin", password="pw", is_staff=True, is_superuser=True))


def _admin_changes(operation):
    return AuditEvent.objects.filter(action=AuditEvent.Action.ADMIN_CHANGE, detail__operation=operation)


def test_it_creates_a_form_with_its_first_draft_version(admin_client_):
    response = admin_client_.post(
        "/admin/reviews/evaluationform/add/",
        {
            "name": "Billing QA",
            "description": "",
            "active": "on",
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    form = EvaluationForm.objects.get(name="Billing QA")
    assert [(v.number, v.is_published) for v in form.versions.all()] == [(1, False)]
    assert _admin_changes("add").filter(object_type="reviews.evaluationform").exists()


def test_it_shows_a_published_version_read_only(admin_client_):
    version = make_version(questions=[{"text": "Greets the caller"}])
    page = admin_client_.get(f"{VERSIONS}{version.pk}/change/")

    assert page.status_code == 200
    assert 'name="pass_score"' not in page.content.decode()
    assert admin_client_.post(f"{VERSIONS}{version.pk}/change/", {"pass_score": "10"}).status_code == 403
    assert admin_client_.post(f"{VERSIONS}{version.pk}/delete/", {"post": "yes"}).status_code == 403
    version.refresh_from_db()
    assert version.pass_score == 80.0


def test_it_edits_a_draft_version(admin_client_):
    draft = make_version(questions=[{"text": "Greets the caller"}], publish=False)

    page = admin_client_.get(f"{VERSIONS}{draft.pk}/change/")

    assert page.status_code == 200
    assert 'name="pass_score"' in page.content.decode()
    assert 'name="questions-0-text"' in page.content.decode()


def test_it_publishes_from_the_admin_and_audits_it(admin_client_):
    draft = make_version(questions=[{"text": "Greets the caller"}], publish=False)

    admin_client_.post(VERSIONS, {"action": "publish_versions", "_selected_action": [draft.pk]})

    draft.refresh_from_db()
    assert draft.is_published
    assert _admin_changes("publish").get().object_id == str(draft.pk)


def test_it_makes_a_new_draft_from_a_published_version(admin_client_):
    version = make_version(questions=[{"text": "Greets the caller"}, {"text": "Offers help"}])

    admin_client_.post(VERSIONS, {"action": "new_draft_versions", "_selected_action": [version.pk]})

    draft = EvaluationFormVersion.objects.get(form=version.form, number=2)
    assert not draft.is_published
    assert list(draft.questions.values_list("text", flat=True)) == ["Greets the caller", "Offers help"]
    assert _admin_changes("new_draft").get().detail["from_version"] == version.pk


def test_it_lists_evaluations_read_only(admin_client_):
    assert admin_client_.get("/admin/reviews/evaluation/").status_code == 200
    assert admin_client_.get("/admin/reviews/evaluation/add/").status_code == 403


def test_it_refuses_to_delete_a_form_with_a_published_version(admin_client_):
    version = make_version(questions=[{"text": "Greets the caller"}])

    response = admin_client_.post(f"/admin/reviews/evaluationform/{version.form_id}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert EvaluationFormVersion.objects.filter(pk=version.pk).exists()
