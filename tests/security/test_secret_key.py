"""The published development SECRET_KEY is refused, and why (issue 11 §4).

django-q2 signs the pickled tasks it puts on the broker with SECRET_KEY and unpickles whatever verifies. With a
key anyone can read in the repository, anyone who can write to the broker (Redis, or the ORM queue table) forges
a task that runs code in the worker.
"""

from __future__ import annotations

import os
import stat

import pytest
from django.conf import settings
from django_q import core_signing
from django_q.conf import Conf
from django_q.signing import BadSignature, PickleSerializer, SignedPackage

from tests.security.manage_command import run_manage

PUBLISHED_KEY = "django-insecure-transcript-vault-local-development-key-do-not-deploy"
MARKER = "TV_FORGED_TASK_RAN"


class _Exploit:
    """Unpickling this runs code: the payload of a forged task."""

    def __reduce__(self):
        return exec, (f"import os; os.environ[{MARKER!r}] = 'ran'",)


@pytest.fixture
def forged_task(monkeypatch):
    """A task package as an attacker signs it: django-q2's format, salt (the cluster name) and the published key."""
    monkeypatch.delenv(MARKER, raising=False)
    task = {"id": "forged", "func": _Exploit(), "args": (), "kwargs": {}}
    return core_signing.dumps(task, key=PUBLISHED_KEY, salt=Conf.PREFIX, serializer=PickleSerializer)


def test_it_shows_that_a_worker_with_the_published_key_runs_a_forged_task(forged_task, monkeypatch):
    monkeypatch.setattr(Conf, "SECRET_KEY", PUBLISHED_KEY)

    SignedPackage.loads(forged_task)

    assert os.environ.pop(MARKER) == "ran"


def test_it_rejects_a_forged_task_with_the_configured_key(forged_task):
    assert Conf.SECRET_KEY == settings.SECRET_KEY
    assert settings.SECRET_KEY not in settings.PUBLISHED_SECRET_KEYS

    with pytest.raises(BadSignature):
        SignedPackage.loads(forged_task)
    assert MARKER not in os.environ


def test_it_refuses_to_start_with_the_published_key_when_debug_is_off(tmp_path):
    result = run_manage("check", env={"DATA_DIR": str(tmp_path), "SECRET_KEY": PUBLISHED_KEY})

    assert result.returncode != 0
    assert "SECRET_KEY is the published development key" in result.stderr


def test_it_allows_the_published_key_only_with_debug_on(tmp_path):
    result = run_manage("check", env={"DATA_DIR": str(tmp_path), "SECRET_KEY": PUBLISHED_KEY, "DEBUG": "true"})

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("given", "missing"),
    [({}, "SECRET_KEY"), ({"SECRET_KEY": "s" * 50}, "VAULT_ENCRYPTION_KEY")],
)
def test_it_requires_every_secret_when_processes_share_a_broker(tmp_path, given, missing):
    env = {"DATA_DIR": str(tmp_path), "REDIS_URL": "rediss://:password@redis.internal:6380/0", **given}

    result = run_manage("check", env=env)

    assert result.returncode != 0
    assert f"{missing} (or {missing}_FILE) must be set" in result.stderr
    assert not (tmp_path / "secrets").exists()


def test_it_generates_private_secrets_once_on_a_single_machine(tmp_path):
    show = "from django.conf import settings; print(settings.SECRET_KEY)"

    first = run_manage("shell", "--no-imports", "-c", show, env={"DATA_DIR": str(tmp_path)})
    second = run_manage("shell", "--no-imports", "-c", show, env={"DATA_DIR": str(tmp_path)})

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    assert first.stdout.strip() not in settings.PUBLISHED_SECRET_KEYS
    secrets_dir = tmp_path / "secrets"
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for name in ("secret_key", "vault_encryption_key"):
        assert stat.S_IMODE((secrets_dir / name).stat().st_mode) == 0o600
