from __future__ import annotations

import pytest

from tests.security.manage_command import run_manage


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
        ("SESSION_IDLE_TIMEOUT_SECONDS", "soon", "SESSION_IDLE_TIMEOUT_SECONDS must be an integer"),
        ("SESSION_IDLE_TIMEOUT_SECONDS", "60", "SESSION_IDLE_TIMEOUT_SECONDS must be at least 120"),
        ("SESSION_IDLE_TIMEOUT_SECONDS", "86400", "must not exceed SESSION_COOKIE_AGE"),
        ("API_TOKEN_FAILURES_PER_MINUTE", "0", "API_TOKEN_FAILURES_PER_MINUTE must be at least 1"),
        ("ASR_LANGUAGE_MODEL", "whisper", "ASR_LANGUAGE_MODEL must be one of"),
        ("ASR_LANGUAGE_MODEL_MIN_SENTENCES", "60000", "must not exceed ASR_LANGUAGE_MODEL_SENTENCES (50000)"),
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
