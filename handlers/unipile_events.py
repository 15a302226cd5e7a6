"""Unipile's callbacks: the hosted-auth notify call and the account-status webhook (no bearer token)."""
from __future__ import annotations

import hmac
from typing import Any

from flask import request

from core.errors import Forbidden, NotFound
from handlers import services
from models.unipile_lifecycle import APPLIED, IGNORED, NOTIFY_STATUSES, apply_account_status, link_from_notify
from providers.unipile import notify_path_secret

SECRET_HEADER = "X-Unipile-Webhook-Secret"


def unipile_notify(*, secret: str, body: dict[str, Any]) -> tuple[dict, int]:
    """Attach the account a hosted-auth link created to the connection named by our reference."""
    configured = services().settings.unipile_webhook_secret
    if not configured or not hmac.compare_digest(secret.encode(), notify_path_secret(configured).encode()):
        raise NotFound()
    if body["status"] not in NOTIFY_STATUSES:
        return _result(IGNORED)
    link_from_notify(body["name"], body["account_id"])
    return _result(APPLIED)


def unipile_webhook(*, body: dict[str, Any]) -> tuple[dict, int]:
    """Apply one account-status event; retries and duplicates change nothing."""
    configured = services().settings.unipile_webhook_secret
    given = request.headers.get(SECRET_HEADER, "")
    if not configured or not hmac.compare_digest(given.encode("utf-8", "replace"), configured.encode()):
        raise Forbidden("Missing or wrong webhook secret")
    event = body.get("AccountStatus")
    if event is None:
        return _result(IGNORED)
    return _result(apply_account_status(services(), event["account_id"], event["message"]))


def _result(outcome: str) -> tuple[dict, int]:
    return {"success": True, "data": {"outcome": outcome}}, 200
