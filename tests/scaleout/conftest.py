from __future__ import annotations

import os

import pytest

# Several qcluster processes against PostgreSQL and Redis are the production path: they run in the
# PostgreSQL + Redis leg of .ci/run (DATABASE_URL set), which keeps `make test` on SQLite fast.
PRODUCTION_LEG = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config, items):
    if PRODUCTION_LEG or os.environ.get("SCALEOUT_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="scale-out tests run in the PostgreSQL + Redis leg (set SCALEOUT_TESTS=1 to run)")
    for item in items:
        if "tests/scaleout/" in str(item.fspath):
            item.add_marker(skip)
