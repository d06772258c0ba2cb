from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV_EXAMPLE = ROOT / "deploy" / "transcript-vault.env.example"


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "COMPLIANCE_", "DATABASE_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DEBUG", "maybe", "DEBUG must be one of"),
        ("GENESYS_RATE_LIMIT_PER_MINUTE", "lots", "GENESYS_RATE_LIMIT_PER_MINUTE must be an integer"),
        ("TRANSCRIPT_POLL_BASE_SECONDS", "-1", "TRANSCRIPT_POLL_BASE_SECONDS must be at least"),
        ("TRANSCRIPT_POLL_FRESH_SECONDS", "soon", "TRANSCRIPT_POLL_FRESH_SECONDS must be a number"),
        ("COMPLIANCE_LEASE_SECONDS", "5", "COMPLIANCE_LEASE_SECONDS must be at least 10"),
        ("GENESYS_REGION", "https://api.mypurecloud.com", "GENESYS_REGION must be a region domain"),
        ("GENESYS_API_URL", "api.mypurecloud.com", "GENESYS_API_URL must be an http(s) URL"),
        ("DATABASE_URL", "mysql://db/vault", "DATABASE_URL must start with postgres"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must start with redis://"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of"),
        ("COMPLIANCE_S3_MODE", "LEGAL", "COMPLIANCE_S3_MODE must be one of"),
        ("GENESYS_CLIENT_SECRET_FILE", "/nonexistent/secret", "GENESYS_CLIENT_SECRET_FILE points at"),
        ("GENESYS_TOKEN_CACHE", "memcached", "GENESYS_TOKEN_CACHE must be one of"),
        ("GENESYS_TOKEN_CACHE", "redis", "GENESYS_TOKEN_CACHE=redis needs REDIS_URL"),
        ("TRANSCRIPT_PART_WAIT_SECONDS", "an hour", "TRANSCRIPT_PART_WAIT_SECONDS must be a number"),
        ("AUDIO_WAIT_MAX_SECONDS", "0", "AUDIO_WAIT_MAX_SECONDS must be at least"),
        ("DISCOVERY_MAX_CALL_HOURS", "0", "DISCOVERY_MAX_CALL_HOURS must be at least"),
    ],
)
def test_it_names_the_variable_on_bad_values(tmp_path, variable, value, expected):
    result = run_manage("check", env={"DATA_DIR": str(tmp_path), variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert expected in result.stderr


def test_it_requires_a_whsec_secret_with_a_webhook(tmp_path):
    result = run_manage("check", env={"DATA_DIR": str(tmp_path), "COMPLIANCE_WEBHOOK_URL": "https://example.com/hook"})

    assert result.returncode != 0
    assert "COMPLIANCE_WEBHOOK_SECRET must be set to a whsec_" in result.stderr


def test_it_runs_with_no_environment_at_all(tmp_path):
    result = run_manage("check", env={"DATA_DIR": str(tmp_path / "fresh")})

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh").is_dir()


def test_it_uses_the_emulator_until_credentials_are_configured(settings):
    # The test run has no GENESYS_CLIENT_ID, so the embedded default applies.
    assert settings.GENESYS_API_URL == settings.EMULATOR_URL
    assert settings.GENESYS_CLIENT_ID == settings.EMULATOR_CLIENT_ID


def test_it_derives_api_and_login_hosts_from_the_region(tmp_path):
    code = "from django.conf import settings; print(settings.GENESYS_API_URL, settings.GENESYS_LOGIN_URL)"
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={"DATA_DIR": str(tmp_path), "GENESYS_CLIENT_ID": "id", "GENESYS_REGION": "usw2.pure.cloud"},
    )

    assert result.stdout.split() == ["https://api.usw2.pure.cloud", "https://login.usw2.pure.cloud"]


def _documented_production_env(tmp_path: Path) -> dict[str, str]:
    env = {}
    for line in PRODUCTION_ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for key, value in list(env.items()):
        if key.endswith("_FILE"):
            path = secrets_dir / Path(value).name
            content = {"COMPLIANCE_WEBHOOK_SECRET_FILE": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}.get(key, "x" * 64)
            path.write_text(content)
            env[key] = str(path)
    env["DATA_DIR"] = str(tmp_path / "data")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    # The documented hosts are not reachable here; the local servers stand in for them.
    env["DATABASE_URL"] = os.environ.get("CI_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    return env


def test_it_passes_the_deploy_check_with_the_documented_production_environment(tmp_path):
    secret = "k" * 10 + "".join(chr(ord("a") + i % 26) for i in range(60))
    env = _documented_production_env(tmp_path)
    Path(env["SECRET_KEY_FILE"]).write_text(secret)

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    if "could not connect" in result.stderr or "Connection refused" in result.stderr:
        pytest.skip("no PostgreSQL server at 127.0.0.1:5432 for the production settings check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
