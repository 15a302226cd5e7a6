"""State changes of connections and WhatsApp integrations, shared by every flow that makes them.

The API handlers, the sandbox pages and (with live providers) the provider callbacks all
move records through these functions, so a flow behaves the same whoever completes it.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets as token_source
import time
from typing import Any

import mongoengine as me

from core.auth import Caller
from core.errors import ConnectionExists, ConnectionInProgress, ConnectionNotFound, ConnectionNotReady, ProviderError, ProviderUnavailable
from core.services import Services
from core.settings import QR_PLATFORMS
from models.auth_attempt import AuthAttempt
from models.connection import Connection
from models.fields import utcnow
from models.whatsapp import WhatsAppIntegration
from providers.base import PLACEHOLDER_PREFIX, LinkStart

log = logging.getLogger(__name__)

# How long past the provider timeout a pending QR connection may wait for its creator's account.
LINK_GRACE = dt.timedelta(seconds=5)


def create_or_reuse_connection(
    services: Services, *, caller: Caller, platform: str, name: str, credentials: dict[str, Any] | None
) -> tuple[Connection, LinkStart, bool]:
    """Insert a pending connection (or take the pending twin) and start linking it at the provider."""
    flow = "qr" if platform in QR_PLATFORMS else "oauth"
    for _ in range(3):
        connection, created = _claim_slot(caller, platform, name, credentials)
        if created or flow == "oauth" or not services.providers.connections.is_placeholder(connection.connectionId):
            break
        # A QR account is created when linking starts: only one request may create it.
        connection = _await_account(services, connection)
        if connection is not None:
            break
    else:
        raise ConnectionInProgress()
    reference = AuthAttempt.start(
        purpose="connection", flow=flow, business_id=caller.business_id,
        target_id=str(connection.id), ttl_seconds=services.settings.auth_link_ttl_seconds,
    )
    known_account = None if services.providers.connections.is_placeholder(connection.connectionId) else connection.connectionId
    try:
        link = services.providers.connections.start_link(platform=platform, reference=reference, account_id=known_account)
    except Exception:
        AuthAttempt.discard_for(str(connection.id))
        if created:
            # Nothing half-written: a connection the provider never heard of is removed again.
            Connection.objects(__raw__={"_id": connection.id}).delete()
        raise
    if link.account_id and link.account_id != connection.connectionId:
        connection.connectionId = link.account_id
        connection.updatedAt = utcnow()
        connection.save()
    log.info("connection %s %s (%s, %s)", connection.id, "created" if created else "link refreshed", platform, flow)
    return connection, link, created


def _await_account(services: Services, twin: Connection) -> Connection | None:
    """Wait for the request that created this pending twin to record its provider account.

    Returns the twin once it has an account (or this request now owns creating one), None when
    the creator failed and removed it. A creator silent for longer than the provider timeout is
    presumed dead: the placeholder is swapped atomically, so exactly one waiter takes over.
    """
    lease = dt.timedelta(milliseconds=services.settings.unipile_read_timeout_ms) + LINK_GRACE
    deadline = time.monotonic() + lease.total_seconds()
    while True:
        current = Connection.objects(__raw__={"_id": twin.id}).first()
        if current is None:
            return None
        if current.status != "pending":
            raise ConnectionExists(f"A {current.platform} connection named '{current.name}' already exists")
        if not services.providers.connections.is_placeholder(current.connectionId):
            return current
        if utcnow() - current.updatedAt > lease:
            placeholder = PLACEHOLDER_PREFIX + token_source.token_hex(12)
            taken = Connection.objects(__raw__={"_id": current.id, "connectionId": current.connectionId}).modify(
                new=True, set__connectionId=placeholder, set__updatedAt=utcnow())
            if taken is not None:
                return taken
            continue
        if time.monotonic() > deadline:
            raise ConnectionInProgress()
        time.sleep(0.05)


def _claim_slot(caller: Caller, platform: str, name: str, credentials: dict[str, Any] | None) -> tuple[Connection, bool]:
    """The unique index on business/platform/name decides who creates; the others reuse or get 409."""
    for _ in range(3):
        now = utcnow()
        connection = Connection(
            connectionId=PLACEHOLDER_PREFIX + token_source.token_hex(12),
            platform=platform, name=name, nameKey=Connection.name_key(name), status="pending",
            businessId=caller.business_id, userId=caller.user_id, createdAt=now, updatedAt=now,
        )
        connection.credentials = credentials
        try:
            connection.save(force_insert=True)
            return connection, True
        except me.NotUniqueError:
            twin = Connection.find_pending_twin(caller.business_id, platform, name)
        if twin is None:
            continue  # placeholder collision or the twin was just deleted: try again
        if twin.status != "pending":
            raise ConnectionExists(f"A {platform} connection named '{twin.name}' already exists")
        if credentials is not None:
            twin.credentials = credentials
            twin.updatedAt = utcnow()
            twin.save()
        return twin, False
    raise ConnectionExists()


def set_connection_status(connection: Connection, status: str) -> Connection:
    """Switch between active and inactive; pending or error connections are not ready."""
    if connection.status == status:
        return connection
    updated = Connection.objects(
        __raw__={"_id": connection.id, "status": {"$in": ["active", "inactive"]}}
    ).modify(set__status=status, set__userInactive=status == "inactive", set__updatedAt=utcnow(), new=True)
    if updated is not None:
        return updated
    current = Connection.objects(__raw__={"_id": connection.id}).first()
    if current is None:
        raise ConnectionNotFound()
    if current.status == status:
        return current
    raise ConnectionNotReady(f"Connection is {current.status}; only active or inactive connections can be switched")


def delete_connection(services: Services, connection: Connection) -> None:
    """Remove the account at the provider, then our record; an outage leaves our record as it was."""
    if not services.providers.connections.is_placeholder(connection.connectionId):
        services.providers.connections.delete_account(connection.connectionId)
    if not Connection.objects(__raw__={"_id": connection.id}).delete():
        raise ConnectionNotFound()
    AuthAttempt.discard_for(str(connection.id))
    log.info("connection %s deleted", connection.id)


def mark_connection_linked(connection_id: Any, account_id: str | None) -> Connection | None:
    """The account is linked at the provider: record its id and make the connection active."""
    changes: dict[str, Any] = {"set__status": "active", "set__statusReason": None, "set__updatedAt": utcnow()}
    if account_id:
        changes["set__connectionId"] = account_id
    return Connection.objects(__raw__={"_id": connection_id}).modify(new=True, **changes)


def mark_connection_failed(connection_id: Any, reason: str) -> Connection | None:
    """Linking failed: the connection is in error with a reason the user can read."""
    return Connection.objects(__raw__={"_id": connection_id}).modify(
        new=True, set__status="error", set__statusReason=reason, set__updatedAt=utcnow()
    )


def start_whatsapp_activation(services: Services, *, caller: Caller) -> tuple[WhatsAppIntegration, LinkStart | None]:
    """The business's integration and how activation continues (None when already active)."""
    integration = _whatsapp_for(caller)
    if integration.status == "active":
        return integration, None
    mode = services.settings.whatsapp_mode
    reference = AuthAttempt.start(
        purpose="whatsapp", flow=mode, business_id=caller.business_id,
        target_id=str(integration.id), ttl_seconds=services.settings.auth_link_ttl_seconds,
    )
    try:
        # A fresh QR code for the account of an earlier attempt, not a second account (QR mode).
        link = services.providers.whatsapp.start_activation(
            business_id=caller.business_id, reference=reference, mode=mode, account_id=integration.unipileAccountId,
        )
    except Exception:
        AuthAttempt.discard_for(str(integration.id))
        raise
    WhatsAppIntegration.objects(__raw__={"_id": integration.id}).update(
        set__mode=mode, set__status="pending", set__updatedAt=utcnow()
    )
    _remember_whatsapp_account(services, integration, link)
    return integration, link


def _remember_whatsapp_account(services: Services, integration: WhatsAppIntegration, link: LinkStart) -> None:
    """Keep the Unipile account behind a QR activation; the unscanned account of an earlier attempt is removed."""
    if not link.account_id:
        return
    previous = integration.unipileAccountId
    WhatsAppIntegration.objects(__raw__={"_id": integration.id}).update(set__unipileAccountId=link.account_id)
    if previous and previous != link.account_id:
        try:
            services.providers.connections.delete_account(previous)
        except (ProviderError, ProviderUnavailable):
            log.warning("could not remove the earlier unscanned whatsapp account; it expires at the provider")


def _whatsapp_for(caller: Caller) -> WhatsAppIntegration:
    found = WhatsAppIntegration.find_for(caller.business_id)
    if found is not None:
        return found
    now = utcnow()
    try:
        return WhatsAppIntegration(businessId=caller.business_id, activatedBy=caller.user_id, createdAt=now, updatedAt=now).save(force_insert=True)
    except me.NotUniqueError:
        # A concurrent activation of the same business created it first.
        return WhatsAppIntegration.find_for(caller.business_id)


def mark_whatsapp_active(integration_id: Any, phone_number: str, access_token: str | None = None) -> WhatsAppIntegration | None:
    """Activation finished: the integration is active with its phone number."""
    integration = WhatsAppIntegration.objects(__raw__={"_id": integration_id}).first()
    if integration is None:
        return None
    integration.status, integration.phoneNumber, integration.statusReason = "active", phone_number, None
    if access_token is not None:
        integration.accessToken = access_token
    integration.updatedAt = utcnow()
    integration.save()
    return integration

