"""JSON log lines on stderr."""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    """One JSON object per line; access-log records already are JSON and are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        message = record.getMessage()
        if record.name == "integrations.access":
            entry.update(json.loads(message))
        else:
            entry["message"] = message
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
