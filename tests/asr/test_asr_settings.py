"""The ASR_* settings (transcripts_site/settings.py) fail loudly at start-up."""

from __future__ import annotations

from tests.security.manage_command import run_manage


def test_it_refuses_to_let_speech_to_text_take_every_worker(tmp_path):
    result = run_manage("check", env={"DATA_DIR": str(tmp_path), "Q_CLUSTER_WORKERS": "2", "ASR_CONCURRENCY": "2"})

    assert result.returncode != 0
    assert "ASR_CONCURRENCY (2) must be below Q_CLUSTER_WORKERS (2)" in result.stderr


def test_it_runs_on_one_worker_with_speech_to_text_off(tmp_path):
    result = run_manage("check", env={"DATA_DIR": str(tmp_path), "Q_CLUSTER_WORKERS": "1", "ASR_ENABLED": "false"})

    assert result.returncode == 0, result.stderr
