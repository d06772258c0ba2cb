"""Browser-side defence in depth: CSP without inline script or eval, Permissions-Policy, no-store on everything
that carries transcript data, and no htmx history cache (issue 11 §4)."""

from __future__ import annotations

import hashlib
import html
import json
import re
from types import SimpleNamespace

import pytest
from django.test import Client

from reviews import blobs
from reviews.models import ApiToken, AudioRecording

pytestmark = pytest.mark.django_db

EXPECTED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


@pytest.fixture
def world(make_user, make_conversation):
    reviewer = make_user(groups=["Reviewer"], queues=["queue-mine"])
    conversation = make_conversation("a refund please", "refund issued", queue="queue-mine")
    data = b"RIFF....WAVEfmt " * 8
    sha256 = hashlib.sha256(data).hexdigest()
    with blobs.staging_file("audio") as (writer, path):
        writer.write(data)
        raw_path = blobs.promote(path, kind="audio", sha256=sha256)
    recording = AudioRecording.objects.create(
        conversation=conversation,
        recording_id="rec-1",
        sha256=sha256,
        size_bytes=len(data),
        content_type="audio/wav",
        raw_path=raw_path,
    )
    client = Client()
    client.force_login(reviewer)
    _token, key = ApiToken.issue(user=reviewer, name="test")
    return SimpleNamespace(client=client, conversation=conversation, recording=recording, bearer=f"Bearer {key}")


def _sensitive_responses(world) -> dict:
    client, cid = world.client, world.conversation.genesys_id
    api = {"headers": {"Authorization": world.bearer}}
    return {
        "transcript page": client.get(f"/conversations/{cid}/"),
        "turn fragment": client.get(f"/conversations/{cid}/?chunk=0", headers={"HX-Request": "true"}),
        "review update": client.post(
            f"/conversations/{cid}/review", {"status": "in_review"}, headers={"HX-Request": "true"}
        ),
        "search": client.get("/search/", {"q": "refund"}),
        "search fragment": client.get("/search/", {"q": "refund"}, headers={"HX-Request": "true"}),
        "text export": client.get(f"/conversations/{cid}/export.txt"),
        "json export": client.get(f"/conversations/{cid}/export.json"),
        "audio": client.get(f"/conversations/{cid}/audio/{world.recording.pk}", headers={"Range": "bytes=0-9"}),
        "api search": client.post(
            "/api/transcripts/search", data=json.dumps({"query": "refund"}), content_type="application/json", **api
        ),
        "api transcript": client.get(f"/api/transcripts/{cid}", **api),
        "denied transcript": client.get("/conversations/not-mine/"),
    }


def _policy(response) -> dict[str, str]:
    return dict(part.strip().split(None, 1) for part in response["Content-Security-Policy"].split(";"))


def test_it_forbids_caching_of_every_response_carrying_transcript_data(world):
    for kind, response in _sensitive_responses(world).items():
        assert response.status_code < 500, kind
        assert "no-store" in response["Cache-Control"], kind


def test_it_sends_a_strict_content_security_policy_on_pages(world):
    for url in ("/search/", f"/conversations/{world.conversation.genesys_id}/", "/charts/"):
        policy = _policy(world.client.get(url))
        assert {name: policy.get(name) for name in EXPECTED_DIRECTIVES} == EXPECTED_DIRECTIVES, url
        for name, value in policy.items():
            assert "unsafe-inline" not in value and "unsafe-eval" not in value, (url, name)


def test_it_sends_a_permissions_policy_that_turns_device_apis_off(world, client):
    for response in (world.client.get("/search/"), client.get("/login/")):
        features = dict(item.strip().split("=", 1) for item in response["Permissions-Policy"].split(","))
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert features[feature] == "()", feature


def test_it_renders_pages_without_inline_script_handlers_or_styles(world, client):
    pages = {
        "search": world.client.get("/search/", {"q": "refund"}),
        "conversation": world.client.get(f"/conversations/{world.conversation.genesys_id}/"),
        "charts": world.client.get("/charts/"),
        "login": client.get("/login/"),
    }
    for name, response in pages.items():
        body = response.content.decode()
        assert response.status_code == 200, name
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", body), name  # every script is a file
        assert not re.search(r"<style[\s>]", body), name
        assert not re.search(r"\s(on[a-z]+|style|hx-on[:\w-]*)\s*=", body), name
        assert "javascript:" not in body, name


def test_it_keeps_htmx_from_caching_pages_or_evaluating_code(world):
    body = world.client.get(f"/conversations/{world.conversation.genesys_id}/").content.decode()

    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", body)
    config = json.loads(html.unescape(meta.group(1)))
    assert config["historyCacheSize"] == 0
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert re.search(r"<body[^>]*\shx-history=\"false\"", body)


def test_it_lets_audio_keep_its_own_sandboxing_policy(world):
    response = _sensitive_responses(world)["audio"]

    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
