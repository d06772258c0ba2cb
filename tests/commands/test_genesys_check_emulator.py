"""genesys_check against the built-in emulator: the login service and API a real org would answer with."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from genesys.emulator import Emulator, generate_dataset
from genesys.emulator.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


@pytest.fixture
def emulated_org(settings):
    """Serve an emulator with a role lacking `denied` permissions and point the settings at it."""

    @contextmanager
    def serve(*, denied: tuple[str, ...] = ()):
        now = datetime.now(UTC)
        dataset = generate_dataset(3, 5, now - timedelta(hours=3), now - timedelta(minutes=30))
        emulator = Emulator(dataset, denied_permissions=denied)
        with emulator.serve() as base_url:
            settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = base_url
            settings.GENESYS_CLIENT_ID = DEFAULT_CLIENT_ID
            settings.GENESYS_CLIENT_SECRET = DEFAULT_CLIENT_SECRET
            settings.GENESYS_MAX_RETRIES = 0
            settings.GENESYS_RATE_LIMIT_BACKEND = "memory"
            yield
        emulator.close()

    return serve


def run_check() -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("genesys_check", stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_it_passes_with_the_right_credentials(emulated_org):
    with emulated_org():
        table, error = run_check()

    assert error is None, table
    assert "FAIL" not in table
    assert table.count("PASS") >= 4


def test_it_fails_with_a_clear_table_on_wrong_credentials(emulated_org, settings):
    with emulated_org():
        settings.GENESYS_CLIENT_SECRET = "not-the-secret"
        table, error = run_check()

    assert error is not None
    assert "FAIL" in table
    assert "GENESYS_CLIENT_ID" in table or "GENESYS_CLIENT_SECRET" in table  # the fix names what to change
    assert "not-the-secret" not in table  # never echo the secret


def test_it_names_the_missing_permission(emulated_org):
    with emulated_org(denied=("recording:recording:view",)):
        table, error = run_check()

    assert error is not None
    assert "recording:recording:view" in table
