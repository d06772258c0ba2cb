"""GET /metrics adds up every process: gunicorn's web workers, the qcluster worker and the workers it forks.

Each process counts in its own memory; in prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR)
it writes the counts to a file per process instead, and the view adds the files up (reviews/views/metrics.py).
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

TOKEN = "s3cret-token"
ROOT = Path(__file__).resolve().parents[2]
# One process counting a download, then forking a worker that counts another, as qcluster's sentinel does.
PROCESS = """
import multiprocessing
from types import SimpleNamespace
from reviews.observability import genesys_request_hook

def count():
    genesys_request_hook(SimpleNamespace(
        endpoint="recording.download", method="GET", status=200, seconds=0.2, retry=False, bytes=100, context_id=None
    ))

if __name__ == "__main__":
    count()
    worker = multiprocessing.get_context("fork").Process(target=count)
    worker.start()
    worker.join()
    assert worker.exitcode == 0
"""


def scrape(client) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_it_adds_up_the_counters_of_processes_that_have_exited(client, settings, tmp_path):
    """Two processes that each forked a worker, all exited before the scrape: four downloads, not one or two."""
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _process in range(2):
        subprocess.run([sys.executable, "-c", PROCESS], env=environment, cwd=ROOT, check=True, timeout=60)
    settings.METRICS_BEARER_TOKEN = TOKEN
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)

    text = scrape(client)

    assert 'genesys_api_requests_total{endpoint="recording.download",status="200"} 4.0' in text
    assert "genesys_download_bytes_total 400.0" in text
    assert 'genesys_request_seconds_count{endpoint="recording.download"} 4.0' in text
    assert 'transcript_vault_conversations{state="stored"} 0.0' in text  # the database gauges come along


@pytest.fixture
def gunicorn_hooks():
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_it_gives_gunicorns_workers_a_shared_directory_when_none_is_set(gunicorn_hooks, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # restored after the test, like the rest of os.environ
    warnings = []
    server = SimpleNamespace(log=SimpleNamespace(warning=lambda *args: warnings.append(args)))

    gunicorn_hooks["on_starting"](server)

    private = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert private.is_dir() and not list(private.iterdir())
    assert "qcluster" in warnings[0][0]
    gunicorn_hooks["on_exit"](server)
    assert not private.exists()


def test_it_leaves_a_configured_directory_to_its_owner(gunicorn_hooks, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server = SimpleNamespace(log=SimpleNamespace(warning=lambda *args: pytest.fail("warned")))

    gunicorn_hooks["on_starting"](server)
    gunicorn_hooks["on_exit"](server)

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path) and tmp_path.is_dir()
