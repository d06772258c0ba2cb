"""JSON log lines (LOG_FORMAT=json) carrying Genesys contextId and conversation id, never transcript text."""

from __future__ import annotations

import json
import logging
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
