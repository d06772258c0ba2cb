"""The 403, 404 and 500 pages: styled like the rest of the vault, and the 500 page without request or database.

templates/403.html extends base.html (the top bar with the reader's links). templates/500.html is rendered with
no context at all, since whatever failed may be the database or the request itself; 404.html extends it, so a
conversation outside the reader's scope gets the bytes a missing one gets (base.html's CSRF token differs).
"""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory
from django.urls import path, reverse
from django.views.defaults import server_error


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom)]  # for the full-stack 500 test (pytest.mark.urls)


def assert_styled(content: str) -> None:
    assert '<link rel="stylesheet" href="/static/css/app.css">' in content
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in content
    assert '<header class="topbar">' in content
    assert "<script>" not in content and "style=" not in content  # the CSP allows neither inline


def test_it_links_a_favicon_that_exists():
    assert finders.find("favicon.svg")


@pytest.mark.django_db
def test_it_shows_a_missing_page_in_the_vaults_frame(alice_client):
    response = alice_client.get("/no-such-page/")

    content = response.content.decode()
    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "500.html"]
    assert_styled(content)
    assert "Page not found" in content and "Back to search" in content


@pytest.mark.django_db
def test_it_answers_a_conversation_out_of_scope_like_a_missing_one(alice_client, other_conversation):
    out_of_scope = alice_client.get(reverse("conversation", args=[other_conversation.genesys_id]))
    missing = alice_client.get(reverse("conversation", args=["no-such-conversation"]))

    assert out_of_scope.status_code == missing.status_code == 404
    assert out_of_scope.content == missing.content  # no oracle, to the byte
    assert "Page not found" in out_of_scope.content.decode()


@pytest.mark.django_db
def test_it_offers_a_stranger_the_sign_in(client):
    content = client.get("/no-such-page/").content.decode()

    assert "Page not found" in content and "Sign in" in content


@pytest.mark.django_db
def test_it_says_why_access_was_refused(alice_client):
    response = alice_client.get(reverse("operations"))

    content = response.content.decode()
    assert response.status_code == 403
    assert response.templates[0].name == "403.html"
    assert_styled(content)
    assert "You do not have access to this page" in content and "Log out" in content  # the usual top bar
    assert "Operations is for staff, supervisors and compliance officers." in content  # the view's reason


def test_it_renders_the_server_error_page_without_request_context_or_database():
    """No django_db mark: a query here raises. server_error passes no request to the template."""
    response = server_error(RequestFactory().get("/"))

    content = response.content.decode()
    assert response.status_code == 500
    assert_styled(content)
    assert "Something went wrong on our side" in content
    assert 'href="/"' in content


@pytest.mark.urls(__name__)
def test_it_serves_the_styled_page_when_a_view_fails(settings):
    client = Client(raise_request_exception=False)

    response = client.get("/boom/")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
