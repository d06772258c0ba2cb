from __future__ import annotations

import uuid

import pytest

pytest_plugins = ["tests.fixtures.archive_world"]


def pytest_collection_modifyitems(config, items):
    """The long runs (marked slow) first: the two xdist workers then start on them and the short tests fill in
    behind, instead of one worker running a two-minute test alone at the end (the suite's wall time, CI's budget).
    The sort is stable, so every other test keeps its order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _fast_isolated_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A token cached in Redis would outlive the test (and be seen by a parallel one); the database cache is
    # rolled back with the test. tests/test_token_cache.py exercises the Redis cache itself.
    settings.GENESYS_TOKEN_CACHE = "database"
    # Whatever else is cached (audio fetch status, API token lookups) gets a key prefix of its own per test: with
    # Redis (the PostgreSQL leg) a value would otherwise outlive its test and steer the next one.
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    settings.DATA_DIR = tmp_path / "data"
    settings.COMPLIANCE_ARCHIVE_DIR = tmp_path / "data" / "compliance"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


class TaskQueue(list):
    """The django-q tasks a test's code queued, as (func, args), whichever broker the settings name."""

    def take(self) -> list[tuple[str, tuple]]:
        taken = list(self)
        self.clear()
        return taken


@pytest.fixture
def task_queue(monkeypatch) -> TaskQueue:
    """Catches `django_q.tasks.async_task` at its seam: the test plays the worker (the ORM broker is not the
    Redis one of the PostgreSQL leg, so reading a broker's table would test the settings, not the code)."""
    queue = TaskQueue()

    def enqueue(func, *args, **kwargs) -> str:
        queue.append((func, args))
        return f"task-{len(queue)}"

    monkeypatch.setattr("django_q.tasks.async_task", enqueue)
    return queue
