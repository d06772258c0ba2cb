from __future__ import annotations

import os
import uuid

import pytest

pytest_plugins = ["tests.fixtures.archive_world"]


# The pure-Python layers: the Genesys client and emulator (no Django models), the PII detectors, the speech engine.
# .ci/run's second leg (PostgreSQL + Redis) sets LEAVE_OUT_DATABASE_FREE_TESTS=1: the first leg ran these already,
# and a test that touches neither database nor Redis cannot behave differently in the second.
DATABASE_FREE_PATHS = (
    "tests/genesys/",
    "tests/emulator/",
    "tests/redaction/",
    "tests/asr/test_engine.py",
    "tests/asr/test_language_model.py",
    "tests/asr/test_document.py",
    "tests/asr/test_child.py",
)
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}
)


def leaving_out_database_free_tests() -> bool:
    return os.environ.get("LEAVE_OUT_DATABASE_FREE_TESTS") == "1"


def is_database_free(item) -> bool:
    """In a pure-Python layer, and asks for no database (marker or fixture) and no Redis."""
    path = item.nodeid.split("::", 1)[0]
    if not path.startswith(DATABASE_FREE_PATHS):
        return False
    if item.get_closest_marker("django_db") or item.get_closest_marker("redis"):
        return False
    return not DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config, items):
    """The long runs (marked slow) first: the two xdist workers then start on them and the short tests fill in
    behind, instead of one worker running a two-minute test alone at the end (the suite's wall time, CI's budget).
    The sort is stable, so every other test keeps its order."""
    if leaving_out_database_free_tests():
        left_out = [item for item in items if is_database_free(item)]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if not is_database_free(item)]
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
