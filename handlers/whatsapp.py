"""WhatsApp Business Platform: activation, the OAuth callback, the integration, Meta's webhook."""
from __future__ import annotations

import hmac
from typing import Any

from connexion import NoContent

from core.auth import caller_from
from core.errors import Forbidden, NotFound
from handlers import services
from models import WhatsAppIntegration
from models.lifecycle import start_whatsapp_activation
from models.meta_lifecycle import APPLIED, IGNORED, UNCHANGED, apply_meta_event, complete_whatsapp_oauth, deactivate_whatsapp
from providers.base import qr_data_url


def activate_whatsapp(*, body: dict[str, Any], token_info: dict[str, Any]) -> tuple[dict, int]:
    """Start (or confirm) WhatsApp activation for the caller's business."""
    caller = caller_from(token_info)
    caller.require_write()
    if body["businessId"] != caller.business_id:
        raise Forbidden("businessId must be the business of your token")
    integration, link = start_whatsapp_activation(services(), caller=caller)
    if link is None:
        data = {"phoneNumber": integration.phoneNumber, "status": "active"}
    elif link.qr_text:
        data = {"qrCode": qr_data_url(link.qr_text), "phoneNumber": "pending"}
    else:
        data = {"authUrl": link.auth_url, "phoneNumber": "pending"}
    return {"success": True, "data": data}, 200


def whatsapp_oauth_callback(*, state: str | None = None, code: str | None = None, error: str | None = None) -> tuple[Any, int, dict[str, str]]:
    """Where Facebook sends the browser back: finish activation, then go to the frontend."""
    settings = services().settings
    activated = complete_whatsapp_oauth(services(), state=state, code=code, error=error)
    location = settings.frontend_success_url if activated else settings.frontend_failure_url
    return NoContent, 303, {"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def get_whatsapp_integration(*, token_info: dict[str, Any]) -> tuple[dict, int]:
    """The caller's business's WhatsApp integration, for polling after the redirect."""
    integration = WhatsAppIntegration.find_for(caller_from(token_info).business_id)
    if integration is None:
        raise NotFound("This business has no WhatsApp integration")
    return {"success": True, "data": integration.to_api()}, 200


def delete_whatsapp_integration(*, token_info: dict[str, Any]) -> tuple[dict, int]:
    """Deactivate WhatsApp: unsubscribe at the provider, forget the token and PIN, keep an inactive record."""
    caller = caller_from(token_info)
    caller.require_write()
    deactivate_whatsapp(services(), caller.business_id)
    return {"success": True, "message": "WhatsApp integration deactivated"}, 200


def verify_whatsapp_webhook(*, hubmode: str, hubverify_token: str, hubchallenge: str) -> tuple[str, int, dict[str, str]]:
    """Meta's subscription check: echo the challenge when the verify token is ours."""
    configured = services().settings.meta_verify_token
    given = hubverify_token.encode("utf-8", "replace")
    if hubmode != "subscribe" or not configured or not hmac.compare_digest(given, configured.encode()):
        raise Forbidden("Webhook verification failed: wrong hub.mode or hub.verify_token")
    return hubchallenge, 200, {"Content-Type": "text/plain"}


def whatsapp_webhook(*, body: dict[str, Any]) -> tuple[dict, int]:
    """Apply Meta's events; X-Hub-Signature-256 was checked over the raw body before parsing (core/web.py)."""
    entries = body.get("entry") if body.get("object") == "whatsapp_business_account" else None
    outcomes = {apply_meta_event(entry) for entry in entries or [] if isinstance(entry, dict)}
    outcome = next((o for o in (APPLIED, UNCHANGED) if o in outcomes), IGNORED)
    return {"success": True, "data": {"outcome": outcome}}, 200
