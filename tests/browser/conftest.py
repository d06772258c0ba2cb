"""What every browser test gets: one request at a time on SQLite's in-memory test database.

pytest-django's live server hands the test's own in-memory SQLite connection to every request thread (the
database exists only inside it). Two requests the browser sends together (the audio element and a lazy-loaded
panel, both writing audit events) would then run transactions on one connection at once, which SQLite answers
with "database table is locked". The vault itself never shares a connection (a file database in WAL mode with a
busy timeout, or PostgreSQL), so only this test setup is serialised; streamed bodies are still sent concurrently.
"""

from __future__ import annotations

import threading

import pytest


@pytest.fixture(autouse=True)
def _one_request_at_a_time_on_in_memory_sqlite(monkeypatch):
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        return
    lock = threading.Lock()
    handle = WSGIHandler.__call__

    def one_at_a_time(self, environ, start_response):
        with lock:
            return handle(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", one_at_a_time)
