"""JSON log lines: access-log fields merged into the line, other messages as text."""
from __future__ import annotations

import json
import logging

from core.logs import AccessLine, JsonFormatter

FIELDS = {"event": "request", "requestId": "r1", "path": "/api/v1/x\u00e9", "status": 200, "latencyMs": 1.5, "userId": None}


def record(name: str, msg: object, *args: object) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or None, None)
    made.created = 1767225600.25
    return made


def test_access_line_merged_as_when_given_as_json_text():
    as_fields = JsonFormatter().format(record("integrations.access", AccessLine(dict(FIELDS))))
    as_text = JsonFormatter().format(record("integrations.access", json.dumps(FIELDS, ensure_ascii=True)))
    assert as_fields == as_text
    assert {k: v for k, v in json.loads(as_fields).items() if k != "time"} == {"level": "INFO", "logger": "integrations.access", **FIELDS}


def test_access_line_message_text_is_its_json():
    assert json.loads(record("integrations.access", AccessLine(dict(FIELDS))).getMessage()) == FIELDS


def test_other_messages_kept_as_text():
    assert json.loads(JsonFormatter().format(record("core.web", "rotated %s keys", 2)))["message"] == "rotated 2 keys"
