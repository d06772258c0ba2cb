"""gunicorn settings (loaded automatically from the working directory)."""

from __future__ import annotations

import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# Audio is streamed through the app; keep slow clients from pinning workers forever.
graceful_timeout = 30
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
# The combined format's request line (%(r)s) and referer (%(f)s) carry query strings, and search terms (which
# may hold a card number the caller pasted) travel in ?q=: log the path only (%(U)s) and no referer.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# /metrics must add up every worker's counters, or each scrape reads whichever worker answers and the counters
# jump: prometheus_client's multiprocess mode, with PROMETHEUS_MULTIPROC_DIR in the environment before a worker
# imports prometheus_client. Set it to a directory shared with the qcluster worker (docs/deploy.md, Metrics).
# Without it the web workers at least share a fresh private directory (removed when gunicorn exits) and only the
# worker's counters are missing. A hook, not module code: this file is also read outside gunicorn (tests), and
# with preload_app the app is loaded before on_starting, so there only the shared directory helps.
def on_starting(server):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        server.private_metrics_dir = tempfile.mkdtemp(prefix="transcript-vault-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = server.private_metrics_dir
        server.log.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: /metrics adds up the web workers (in %s) but not the qcluster "
            "worker; give both the same directory (docs/deploy.md, Metrics)",
            server.private_metrics_dir,
        )


def on_exit(server):
    private = getattr(server, "private_metrics_dir", "")
    if private:
        shutil.rmtree(private, ignore_errors=True)


def child_exit(server, worker):
    # With several processes, prometheus_client keeps per-process files; a dead worker's
    # live gauges must be dropped or /metrics reports them forever.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
