"""gunicorn settings (loaded automatically from the working directory)."""

from __future__ import annotations

import os

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


def child_exit(server, worker):
    # With several processes, prometheus_client keeps per-process files; a dead worker's
    # live gauges must be dropped or /metrics reports them forever.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
