"""JSON log lines (LOG_FORMAT=json) carrying Genesys contextId and conversation id, never transcript text;
request lines without their query strings (search terms travel in ?q=)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

# Extra attributes callers may attach with logger.info(..., extra={...}); anything else is dropped
# so a stray transcript value can never reach the log stream through `extra`.
ALLOWED_EXTRA = (
    "conversation_id",
    "communication_id",
    "context_id",
    "correlation_id",
    "endpoint",
    "status",
    "attempt",
    "state",
    "sink",
    "task",
    "duration_ms",
    "bytes",
    "retry_after",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ALLOWED_EXTRA:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(line, default=str)


_QUERY_STRING = re.compile(r"\?[^\s\"']*")


class QueryStringFilter(logging.Filter):
    """Drop query strings from a record's message (runserver's request lines, django.request's warnings).

    The search form sends its terms as ?q=..., and a term may be a card number someone pasted: the log keeps
    the path and loses the query. gunicorn's access log is configured the same way (gunicorn.conf.py).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = _QUERY_STRING.sub("", message), ()
        return True
