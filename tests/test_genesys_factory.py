from __future__ import annotations

from reviews import genesys_factory, tasks


def test_it_gives_every_task_of_a_process_the_same_client():
    assert tasks._client() is tasks._client() is genesys_factory.shared_client()


def test_it_builds_a_new_client_when_the_genesys_settings_change(settings):
    before = genesys_factory.shared_client()

    settings.GENESYS_CLIENT_SECRET = "rotated-secret"

    after = genesys_factory.shared_client()
    assert after is not before
    assert after.tokens.cache_key != before.tokens.cache_key


def test_it_never_hands_a_forked_worker_its_parents_client(monkeypatch):
    parent = genesys_factory.shared_client()

    monkeypatch.setattr(genesys_factory.os, "getpid", lambda: -1)

    assert genesys_factory.shared_client() is not parent
