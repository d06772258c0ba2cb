"""`manage.py check --deploy` is clean with the documented production environment (issue 11 acceptance).

The environment is deploy/transcript-vault.env.example, verbatim except for what only exists on the real machine:
the secret files (written here with valid contents) and the data directories. The database and Redis hosts stay
as documented: the checks connect to neither.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest

from tests.security.manage_command import ROOT, run_manage

PRODUCTION_ENV_EXAMPLE = ROOT / "deploy" / "transcript-vault.env.example"
SECRET_CONTENTS = {
    "SECRET_KEY_FILE": lambda: secrets.token_urlsafe(50),
    "VAULT_ENCRYPTION_KEY_FILE": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "COMPLIANCE_WEBHOOK_SECRET_FILE": lambda: "whsec_" + base64.b64encode(os.urandom(24)).decode(),
}


def documented_environment() -> dict[str, str]:
    env = {}
    for line in PRODUCTION_ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    env = documented_environment()
    for name, value in list(env.items()):
        if name.endswith("_FILE"):
            path = tmp_path / "secrets" / Path(value).name
            path.parent.mkdir(exist_ok=True)
            path.write_text(SECRET_CONTENTS.get(name, lambda: secrets.token_urlsafe(32))())
            env[name] = str(path)
    env["DATA_DIR"] = str(tmp_path / "data")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    return env


def test_it_passes_the_deploy_check_with_the_documented_production_environment(production_env):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_documents_a_broker_with_tls_and_a_password():
    redis_url = documented_environment()["REDIS_URL"]

    assert redis_url.startswith("rediss://:") and "@" in redis_url


@pytest.mark.parametrize("name", ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT"])
def test_it_warns_when_a_documented_protection_is_left_out(production_env, name):
    del production_env[name]

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)

    assert result.returncode != 0
