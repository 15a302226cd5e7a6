"""JSON log lines on stderr."""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any


class AccessLine:
    """An access-log message: its fields, rendered as one JSON object only when a handler asks for text."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return json.dumps(self.fields, ensure_ascii=True)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; access-log records already are JSON and are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if isinstance(record.msg, AccessLine) and not record.args:
            # Merged as fields: no JSON text built for the message only to be parsed again here.
            entry.update(record.msg.fields)
        elif record.name == "integrations.access":
            entry.update(json.loads(record.getMessage()))
        else:
            entry["message"] = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            # The exception type and a traceback stay in the server log only.
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True)


def configure_logging(level: str) -> None:
    """Send every log record to stderr as JSON (idempotent)."""
    root = logging.getLogger()
    if not any(getattr(h, "_integrations", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._integrations = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("connexion", "pymongo", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
