"""Unipile connections of the caller's business."""
from __future__ import annotations

import json
from typing import Any

from core.auth import Caller, caller_from
from core.errors import ConnectionNotFound, Forbidden, ValidationError
from handlers import services
from models import Connection
from models.paging import decode_cursor, encode_cursor
from models.lifecycle import create_or_reuse_connection, delete_connection as remove_connection, set_connection_status
from models.unipile_lifecycle import reconnect_connection as start_reconnect
from providers.base import LinkStart, qr_data_url


def list_connections(*, token_info: dict[str, Any], limit: int | None = None, cursor: str | None = None) -> tuple[dict, int]:
    """All connections of the caller's business, newest first; one page of them when limit is given."""
    caller = caller_from(token_info)
    if limit is None and cursor is None:
        return {"success": True, "data": Connection.list_for(caller.business_id)}, 200
    page, more = Connection.page_for(caller.business_id, limit, decode_cursor(cursor) if cursor is not None else None)
    next_cursor = encode_cursor(*page[-1].position) if more else None
    return {"success": True, "data": [c.to_api() for c in page], "nextCursor": next_cursor}, 200


def get_connection(*, connectionId: str, token_info: dict[str, Any]) -> tuple[dict, int]:
    """One connection of the caller's business."""
    return {"success": True, "data": _find(caller_from(token_info), connectionId).to_api()}, 200


def create_connection(*, body: dict[str, Any], token_info: dict[str, Any]) -> tuple[dict, int]:
    """Create a pending connection, or refresh the link of the pending one with the same name."""
    caller = caller_from(token_info)
    caller.require_write()
    _require_own_ids(caller, body)
    name = body["name"].strip()
    if not name:
        raise ValidationError("name must contain at least one non-space character")
    credentials = body.get("credentials")
    limit = services().settings.max_credentials_bytes
    if credentials is not None and len(json.dumps(credentials, separators=(",", ":"), ensure_ascii=False).encode()) > limit:
        raise ValidationError(f"credentials must be at most {limit} bytes as JSON")
    connection, link, created = create_or_reuse_connection(
        services(), caller=caller, platform=body["platform"], name=name, credentials=credentials
    )
    return {"success": True, "data": _link_data(connection, link)}, 201 if created else 200


def reconnect_connection(*, connectionId: str, token_info: dict[str, Any]) -> tuple[dict, int]:
    """A fresh QR code or reconnect link for a connection in error; same record, same id."""
    caller = caller_from(token_info)
    caller.require_write()
    connection = _find(caller, connectionId)
    link = start_reconnect(services(), connection)
    connection.connectionId = link.account_id or connection.connectionId
    return {"success": True, "data": _link_data(connection, link)}, 200


def _link_data(connection: Connection, link: LinkStart) -> dict[str, Any]:
    """How the user continues: the QR code as a PNG data URL, or the URL to open."""
    data: dict[str, Any] = {"id": str(connection.id), "connectionId": connection.connectionId}
    if link.qr_text:
        data["checkpoint"] = {"type": "QRCODE", "qrcode": qr_data_url(link.qr_text)}
    else:
        data["authUrl"] = link.auth_url
    data["status"] = connection.status
    return data


def delete_connection(*, connectionId: str, token_info: dict[str, Any]) -> tuple[dict, int]:
    """Delete a connection here and its account at the provider."""
    caller = caller_from(token_info)
    caller.require_write()
    remove_connection(services(), _find(caller, connectionId))
    return {"success": True, "message": "Connection deleted successfully"}, 200


def update_connection_status(*, connectionId: str, body: dict[str, Any], token_info: dict[str, Any]) -> tuple[dict, int]:
    """Switch a connection between active and inactive (idempotent)."""
    caller = caller_from(token_info)
    caller.require_write()
    connection = set_connection_status(_find(caller, connectionId), body["status"])
    return {"success": True, "data": {"id": str(connection.id), "connectionId": connection.connectionId, "status": connection.status}}, 200


def _find(caller: Caller, reference: str) -> Connection:
    found = Connection.find_for(caller.business_id, reference)
    if found is None:
        raise ConnectionNotFound()
    return found


def _require_own_ids(caller: Caller, body: dict[str, Any]) -> None:
    if body.get("businessId", caller.business_id) != caller.business_id:
        raise Forbidden("businessId must be the business of your token")
    if body.get("userId", caller.user_id) != caller.user_id:
        raise Forbidden("userId must be the user of your token")
