"""Search terms (which may hold a pasted card number) never reach a request log in clear (issue 11 §3)."""

from __future__ import annotations

import datetime as dt
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.servers.basehttp import WSGIRequestHandler
from gunicorn.config import Config
from gunicorn.glogging import Logger

ROOT = Path(__file__).resolve().parents[2]
CARD = "4111111111111111"
SEARCH_URL = f"/search/?q={CARD}&speaker=external"


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def collect():
    """Attach a collecting handler to a logger for the test (runserver's logger does not propagate)."""
    attached = []

    def attach(logger: logging.Logger) -> Collect:
        handler = Collect()
        logger.addHandler(handler)
        attached.append((logger, handler))
        return handler

    yield attach
    for logger, handler in attached:
        logger.removeHandler(handler)


def test_it_keeps_query_strings_and_referers_out_of_gunicorns_access_log(collect):
    config = Config()
    config.set("access_log_format", runpy.run_path(str(ROOT / "gunicorn.conf.py"))["access_log_format"])
    config.set("accesslog", "-")
    logger = Logger(config)
    lines = collect(logger.access_log)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": SEARCH_URL,
        "PATH_INFO": "/search/",
        "QUERY_STRING": SEARCH_URL.split("?", 1)[1],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.5",
        "HTTP_REFERER": f"https://vault.example.com{SEARCH_URL}",
        "HTTP_USER_AGENT": "pytest",
    }
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])

    logger.access(response, SimpleNamespace(headers=[]), environ, dt.timedelta(milliseconds=12))

    [line] = lines.lines
    assert '"GET /search/ HTTP/1.1" 200 512' in line
    assert CARD not in line and "q=" not in line


def test_it_strips_query_strings_from_runservers_request_lines(collect):
    lines = collect(logging.getLogger("django.server"))
    handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
    handler.request = None
    handler.requestline = f"GET {SEARCH_URL} HTTP/1.1"
    handler.command, handler.path, handler.request_version = "GET", SEARCH_URL, "HTTP/1.1"

    handler.log_request(200, 512)

    [line] = lines.lines
    assert line == '"GET /search/ HTTP/1.1" 200 512'


def test_it_strips_query_strings_from_djangos_request_warnings(collect):
    lines = collect(logging.getLogger("django.request"))

    logging.getLogger("django.request").warning("Not Found: %s", SEARCH_URL)

    assert lines.lines == ["Not Found: /search/"]
