from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.archive_world"]


@pytest.fixture(autouse=True)
def _fast_isolated_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A token cached in Redis would outlive the test (and be seen by a parallel one); the database cache is
    # rolled back with the test. tests/test_token_cache.py exercises the Redis cache itself.
    settings.GENESYS_TOKEN_CACHE = "database"
    settings.DATA_DIR = tmp_path / "data"
    settings.COMPLIANCE_ARCHIVE_DIR = tmp_path / "data" / "compliance"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
