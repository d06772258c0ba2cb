"""Run `python manage.py ...` in a fresh process with a chosen environment (settings are read at start-up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables of the surrounding run (CI passes a database, Redis and secrets) that would change what is tested.
_INHERITED_PREFIXES = ("GENESYS_", "COMPLIANCE_", "DATABASE_", "REDIS_", "SECRET_KEY", "VAULT_ENCRYPTION_", "DEBUG")


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {name: value for name, value in os.environ.items() if not name.startswith(_INHERITED_PREFIXES)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
