"""WhatsApp Business Platform activation."""
from __future__ import annotations

from typing import Any

from core.auth import caller_from
from core.errors import Forbidden
from handlers import services
from models.lifecycle import start_whatsapp_activation
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
