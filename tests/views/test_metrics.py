from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from reviews.observability import genesys_request_hook
from tests.fixtures.accounts import sign_in

pytestmark = pytest.mark.django_db


@dataclass
class Event:
    endpoint: str = "analytics.details.query"
    method: str = "POST"
    status: int | None = 200
    seconds: float = 0.1
    retry: bool = False
    bytes: int = 0
    context_id: str | None = "ctx-1"


def test_it_requires_the_bearer_token_when_one_is_set(client, settings):
    settings.METRICS_BEARER_TOKEN = "s3cret-token"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})

    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert "METRICS_BEARER_TOKEN" in missing.json()["error"]
    assert wrong.status_code == 401
    assert right.status_code == 200


def test_it_does_not_let_a_staff_session_replace_the_token(client, settings):
    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    sign_in(User.objects.create_user("ops", is_staff=True), client)

    assert client.get("/metrics").status_code == 401


def test_it_shows_genesys_requests_after_the_hook_is_called(client, settings):
    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    genesys_request_hook(Event())

    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})

    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'genesys_api_requests_total{endpoint="analytics.details.query",status="200"}' in text
    assert 'transcript_vault_conversations{state="stored"}' in text
    assert "transcript_vault_outbox_dead_letters" in text


def test_it_allows_only_staff_sessions_without_a_token(client, settings):
    settings.METRICS_BEARER_TOKEN = ""

    assert client.get("/metrics").status_code == 401
    client.force_login(User.objects.create_user("reviewer"))
    assert client.get("/metrics").status_code == 403
    ops = User.objects.create_user("ops", is_staff=True)
    client.force_login(ops)
    assert client.get("/metrics")["Location"].startswith("/account/enrol/")  # staff: second factor first
    sign_in(ops, client)
    assert client.get("/metrics").status_code == 200


def test_it_merges_other_processes_in_multiprocess_mode(client, settings, tmp_path):
    """A worker process records a request; the web process's /metrics reports it from the shared directory."""
    worker = (
        "from types import SimpleNamespace as E; from reviews.observability import genesys_request_hook as hook; "
        "hook(E(endpoint='recording.list', method='GET', status=202, seconds=0.3, retry=False, bytes=0, context_id=None))"
    )
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", worker], env=environment, cwd=settings.BASE_DIR, check=True, timeout=60)
    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    genesys_request_hook(Event(endpoint="sta.transcripts.search"))  # this test process is not in multiprocess mode

    text = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).content.decode()

    assert 'genesys_api_requests_total{endpoint="recording.list",status="202"} 1.0' in text
    assert "sta.transcripts.search" not in text  # only the shared directory is read
    assert "transcript_vault_outbox_dead_letters" in text


def test_it_serves_search_health_read_from_the_database(client, settings):
    from django.utils import timezone

    from reviews.models import GenesysFinding

    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    GenesysFinding.objects.create(
        key="search.health", value={"failures": 2, "failed_at": timezone.now().isoformat(), "last_error": "HTTP 500"}
    )
    text = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).content.decode()
    assert "transcript_vault_search_healthy 0.0" in text
    assert "transcript_vault_search_consecutive_failures 2.0" in text
    assert 'transcript_vault_conversations{state="restricted"} 0.0' in text


def test_it_serves_the_last_audit_chain_check(client, settings):
    from reviews import audit_chain
    from reviews.audit import record_event

    settings.METRICS_BEARER_TOKEN = "s3cret-token"
    text = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).content.decode()
    assert "transcript_vault_audit_chain_intact" not in text  # never checked: no made-up value
    event = record_event(request=None, action="search", object_type="search")
    audit_chain.check_and_record()
    text = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).content.decode()
    assert "transcript_vault_audit_chain_intact 1.0" in text
    assert "transcript_vault_audit_chain_checked_events 1.0" in text
    type(event).objects.filter(pk=event.pk).update(object_type="other")
    audit_chain.check_and_record()
    text = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).content.decode()
    assert "transcript_vault_audit_chain_intact 0.0" in text
    assert "transcript_vault_audit_chain_last_check_age_seconds" in text
