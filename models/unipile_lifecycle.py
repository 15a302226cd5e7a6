"""What Unipile tells us about accounts, applied to our records; also reconnecting an account.

The live callbacks (notify URL, account-status webhook) and the sandbox pages and events all
go through these functions, so the sandbox walks exactly the lifecycle production does.

Unipile's status events carry no timestamp, so order cannot be checked; instead every event
is applied so that retries and duplicates change nothing and a late event cannot undo what
matters: a removed record is never brought back (events for unknown accounts are ignored),
a user's `inactive` is never switched on by the provider, and CONNECTING (sent around
Unipile restarts, possibly after the success event) never downgrades an active connection.
"""
from __future__ import annotations

import logging
from typing import Any

import mongoengine as me
from bson import ObjectId

from core.errors import ConnectionExists, ConnectionNotReady, NotFound, ProviderUnavailable
from core.services import Services
from core.settings import QR_PLATFORMS
from models.auth_attempt import AuthAttempt
from models.connection import Connection
from models.fields import eq, utcnow
from models.lifecycle import mark_connection_failed, mark_connection_linked, mark_whatsapp_active
from models.whatsapp import WhatsAppIntegration
from providers.base import LinkStart

log = logging.getLogger(__name__)

ACTIVE_MESSAGES = frozenset({"OK", "CREATION_SUCCESS", "RECONNECTED", "SYNC_SUCCESS"})
ERROR_REASONS = {
    "CREDENTIALS": "The account's session ended or its credentials changed; reconnect it",
    "ERROR": "The messaging provider reported an error with this account; reconnect it",
    "STOPPED": "The messaging provider stopped syncing this account; reconnect it",
}
MESSAGES = ACTIVE_MESSAGES | set(ERROR_REASONS) | {"CONNECTING", "DELETED"}
NOTIFY_STATUSES = frozenset({"CREATION_SUCCESS", "RECONNECTED"})
_GONE = "This link is unknown, expired or already used"

# Outcomes reported back to the caller of an event (and asserted by tests).
APPLIED, UNCHANGED, IGNORED, REMOVED = "applied", "unchanged", "ignored", "removed"


def apply_account_status(services: Services, account_id: str, message: str) -> str:
    """Apply one account-status message to the connection or WhatsApp integration of that account."""
    if message not in MESSAGES:
        return IGNORED
    connection = Connection.objects(__raw__=eq(connectionId=account_id)).first()
    if connection is not None:
        outcome = _apply_to_connection(connection, message)
        log.info("account status %s for connection %s: %s", message, connection.id, outcome)
        return outcome
    integration = WhatsAppIntegration.objects(__raw__=eq(unipileAccountId=account_id)).first()
    if integration is not None:
        outcome = _apply_to_whatsapp(services, integration, account_id, message)
        log.info("account status %s for whatsapp integration %s: %s", message, integration.id, outcome)
        return outcome
    log.info("account status %s for an account we do not hold: ignored", message)
    return IGNORED


def _apply_to_connection(connection: Connection, message: str) -> str:
    if message == "DELETED":
        removed = Connection.objects(__raw__={"_id": connection.id}).delete()
        AuthAttempt.discard_for(str(connection.id))
        return REMOVED if removed else IGNORED
    if message in ACTIVE_MESSAGES:
        if connection.status == "inactive" or (connection.status == "active" and connection.statusReason is None):
            return UNCHANGED
        AuthAttempt.discard_for(str(connection.id))
        # Back from an error, a connection the user had switched off stays off.
        return _transition(connection, ["pending", "error", "active"], "inactive" if connection.userInactive else "active", None)
    if message == "CONNECTING":
        if connection.status != "error":
            return UNCHANGED
        return _transition(connection, ["error"], "pending", None)
    reason = ERROR_REASONS[message]
    if connection.status == "error" and connection.statusReason == reason:
        return UNCHANGED
    return _transition(connection, ["pending", "active", "inactive", "error"], "error", reason)


def _transition(connection: Connection, allowed_from: list[str], status: str, reason: str | None) -> str:
    """Move a connection atomically, only from the statuses given (a concurrent change wins)."""
    updated = Connection.objects(__raw__={"_id": connection.id, "status": {"$in": allowed_from}}).modify(
        new=True, set__status=status, set__statusReason=reason, set__updatedAt=utcnow()
    )
    return APPLIED if updated is not None else UNCHANGED


def _apply_to_whatsapp(services: Services, integration: WhatsAppIntegration, account_id: str, message: str) -> str:
    if message in ACTIVE_MESSAGES:
        if integration.status in ("active", "inactive"):
            return UNCHANGED
        phone = services.providers.connections.account_phone(account_id)
        if phone is None:
            # Answered 503 so Unipile repeats the event once the account reports its number.
            log.warning("whatsapp account linked but its phone number is not known yet")
            raise ProviderUnavailable("The messaging provider has not reported the phone number yet")
        mark_whatsapp_active(integration.id, phone)
        AuthAttempt.discard_for(str(integration.id))
        return APPLIED
    if message == "CONNECTING":
        return UNCHANGED
    if message == "DELETED":
        reason, unset = "The WhatsApp account was removed at the messaging provider; activate WhatsApp again", True
    else:
        reason, unset = ERROR_REASONS[message], False
    if integration.status == "error" and integration.statusReason == reason:
        return UNCHANGED
    changes: dict[str, Any] = {"set__status": "error", "set__statusReason": reason, "set__updatedAt": utcnow()}
    if unset:
        changes["set__unipileAccountId"] = None
    WhatsAppIntegration.objects(__raw__={"_id": integration.id}).update(**changes)
    return APPLIED


def link_from_notify(reference: str, account_id: str) -> Connection:
    """Unipile's notify call: the hosted-auth attempt named by our reference produced this account."""
    attempt = AuthAttempt.peek(reference)
    if attempt is None or attempt.purpose != "connection" or attempt.flow != "oauth":
        raise NotFound(_GONE)
    used = AuthAttempt.consume(reference)
    if used is None:
        raise NotFound(_GONE)
    return complete_link(used, account_id)


def complete_link(attempt: AuthAttempt, account_id: str) -> Connection:
    """The connection of a used attempt is linked to this account and becomes active."""
    target = ObjectId(attempt.targetId)
    holder = Connection.objects(__raw__=eq(connectionId=account_id)).only("id").first()
    taken = holder is not None and holder.id != target
    connection = None
    if not taken:
        try:
            connection = mark_connection_linked(target, account_id)
        except me.NotUniqueError:
            taken = True  # the unique index decided a race the lookup above could not see
    if taken:
        message = "This account is already linked as another connection"
        mark_connection_failed(target, message)
        AuthAttempt.discard_for(attempt.targetId)
        raise ConnectionExists(message) from None
    AuthAttempt.discard_for(attempt.targetId)
    if connection is None:
        raise NotFound("The connection this link was for no longer exists")
    log.info("connection %s linked", connection.id)
    return connection


def reconnect_connection(services: Services, connection: Connection) -> LinkStart:
    """A fresh QR code or hosted-auth reconnect link for a connection in error; same record, same id."""
    if connection.status != "error":
        raise ConnectionNotReady(f"Connection is {connection.status}; only a connection in error can be reconnected")
    flow = "qr" if connection.platform in QR_PLATFORMS else "oauth"
    reference = AuthAttempt.start(
        purpose="connection", flow=flow, business_id=connection.businessId,
        target_id=str(connection.id), ttl_seconds=services.settings.auth_link_ttl_seconds,
    )
    provider = services.providers.connections
    known_account = None if provider.is_placeholder(connection.connectionId) else connection.connectionId
    try:
        link = provider.start_link(platform=connection.platform, reference=reference, account_id=known_account)
    except Exception:
        AuthAttempt.discard_for(str(connection.id))
        raise
    if link.account_id and link.account_id != connection.connectionId:
        # Only a QR connection that never got an account gets one here; the record stays the same.
        Connection.objects(__raw__={"_id": connection.id}).update(set__connectionId=link.account_id, set__updatedAt=utcnow())
    log.info("connection %s reconnect started (%s)", connection.id, flow)
    return link

