"""Helpers for tests that drive the Unipile callbacks and webhooks."""
from __future__ import annotations

import re
from typing import Any

from providers.unipile import notify_path_secret
from tests.conftest import UNIPILE_WEBHOOK_SECRET, auth

CONNECTIONS = "/api/v1/unipile/connections"
WEBHOOK = "/api/v1/unipile/webhooks"
NOTIFY = "/api/v1/unipile/notify/" + notify_path_secret(UNIPILE_WEBHOOK_SECRET)
SECRET_HEADER = "X-Unipile-Webhook-Secret"


class Matches:
    """Equal to any string matching a regular expression (for generated values in whole-body asserts)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(self.pattern.fullmatch(other))

    def __repr__(self) -> str:
        return f"Matches({self.pattern.pattern!r})"


TIMESTAMP = Matches(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
OBJECT_ID = Matches(r"[0-9a-f]{24}")
PNG = Matches(r"data:image/png;base64,[A-Za-z0-9+/=]+")
PLACEHOLDER = Matches(r"pending_[0-9a-f]{24}")


def create(client, platform: str = "whatsapp", name: str = "Sales line", **headers: Any):
    """POST a new connection for the test business."""
    return client.post(CONNECTIONS, headers=headers or auth(), json={"platform": platform, "name": name})


def webhook(client, account_id: str, message: str, *, secret: str | None = UNIPILE_WEBHOOK_SECRET, account_type: str = "WHATSAPP"):
    """Deliver one account-status event as Unipile would."""
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    body = {"AccountStatus": {"account_id": account_id, "account_type": account_type, "message": message}}
    return client.post(WEBHOOK, headers=headers, json=body)


def outcome(value: str) -> dict[str, Any]:
    """The whole body of a callback's answer."""
    return {"success": True, "data": {"outcome": value}}


def error(code: str, message: str) -> dict[str, Any]:
    """The whole error envelope."""
    return {"success": False, "message": message, "code": code}


def connection_body(connection_id: str, ref: str, *, platform: str = "whatsapp", name: str = "Sales line",
                    status: str = "active", reason: str | None = None) -> dict[str, Any]:
    """The whole body of GET /unipile/connections/{id}."""
    return {"success": True, "data": {
        "id": connection_id, "connectionId": ref, "platform": platform, "name": name, "status": status,
        "statusReason": reason, "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP,
    }}
