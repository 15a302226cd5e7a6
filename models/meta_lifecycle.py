"""WhatsApp activation through OAuth (Meta Embedded Signup), Meta's webhook events, and deactivation.

The OAuth callback and the sandbox consent page both finish an activation through
`complete_whatsapp_oauth`, so the sandbox walks the path production does.

The `state` of the authorisation URL is the single-use reference of an AuthAttempt: 192
random bits, stored only as a SHA-256 hash, bound on the server to the business and its
integration, expiring after AUTH_LINK_TTL_SECONDS. Nothing in it can be forged or
re-bound, so it needs no separate signature.

Concurrency: a completion first uses the attempt (atomic, once), then claims the
integration (atomic: only a `pending` integration nobody else is completing), and only
the holder of that claim talks to Meta and may make it `active`. So two callbacks, or a
callback racing a second activation, never register the number twice; a claim left by a
crashed worker expires once every Graph call of a completion could have timed out.
"""
from __future__ import annotations

import logging
import secrets as token_source
import time
from typing import Any

from bson import ObjectId

from core.errors import NotFound, ProviderError, ProviderUnavailable
from core.services import Services
from models.auth_attempt import AuthAttempt
from models.fields import eq, utcnow
from models.whatsapp import WhatsAppIntegration
from providers.meta_whatsapp import CONNECT_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

GRAPH_CALLS = 5  # exchange, token inspection, phone numbers, registration, subscription
EXPIRED = "The authorisation link expired before it was completed; activate WhatsApp again"
REPLAYED = "This authorisation link was already used; activate WhatsApp again"
DENIED = "Authorisation was denied"
UNAVAILABLE = "Meta was unavailable while finishing the activation; activate WhatsApp again"
# account_update events after which this app can no longer use the WhatsApp Business Account.
REVOKING_EVENTS = {
    "PARTNER_REMOVED": "The business removed this app's access to its WhatsApp Business Account; activate WhatsApp again",
    "PARTNER_APP_UNINSTALLED": "The business removed this app's access to its WhatsApp Business Account; activate WhatsApp again",
    "ACCOUNT_DELETED": "The WhatsApp Business Account was deleted at Meta; activate WhatsApp again",
}
BANNED = "Meta disabled the WhatsApp Business Account (policy enforcement); see WhatsApp Manager"

# Outcomes of a webhook delivery (shared with Unipile's, see models/unipile_lifecycle.py).
APPLIED, UNCHANGED, IGNORED = "applied", "unchanged", "ignored"


def complete_whatsapp_oauth(services: Services, *, state: str | None, code: str | None, error: str | None) -> bool:
    """Finish an OAuth activation from the callback's query; True when the integration became active."""
    attempt, condition = AuthAttempt.inspect(state) if state else (None, "unknown")
    if attempt is None or attempt.purpose != "whatsapp" or attempt.flow != "oauth":
        log.warning("whatsapp oauth callback with an unknown state")
        return False
    target = ObjectId(attempt.targetId)
    if condition != "live":
        # An expired link fails its pending activation; a used one (a replay) fails only an activation
        # nobody is completing, so an active integration or one in progress is never touched.
        _fail_unclaimed(target, EXPIRED if condition == "expired" else REPLAYED)
        log.warning("whatsapp oauth callback with a %s state", condition)
        return False
    claim = _claim(target, _claim_seconds(services))
    if claim is None:
        log.warning("whatsapp oauth for integration %s ignored: not pending or already being completed", target)
        return False
    if AuthAttempt.consume(state) is None:
        _release(target, claim)  # the same link was used concurrently: that use decides
        return False
    if error or not code:
        _release(target, claim, status="error", statusReason=DENIED)
        log.info("whatsapp oauth for integration %s denied at the provider", target)
        return False
    try:
        return _activate(services, target, claim, code)
    except (ProviderError, ProviderUnavailable) as exc:
        reason = exc.message if isinstance(exc, ProviderError) else UNAVAILABLE
        _release(target, claim, status="error", statusReason=reason, accessToken=None)
        log.warning("whatsapp oauth for integration %s failed: %s", target, type(exc).__name__)
        return False
    except Exception:
        _release(target, claim, status="error", statusReason="The activation failed unexpectedly; activate WhatsApp again", accessToken=None)
        raise


def _activate(services: Services, target: ObjectId, claim: int, code: str) -> bool:
    """Exchange, register with our PIN (kept before use, so a retry registers with the same one), subscribe, activate."""
    provider = services.providers.whatsapp
    signup = provider.finish_signup(code)
    integration = WhatsAppIntegration.objects(__raw__={"_id": target}).only("pin").first()
    pin = integration.pin if integration is not None and integration.pin else f"{token_source.randbelow(1_000_000):06d}"
    WhatsAppIntegration.objects(__raw__={"_id": target, "completingUntil": claim}).update(
        set__pin=pin, set__wabaId=signup.waba_id, set__phoneNumberId=signup.phone_number_id,
    )
    provider.register_number(signup, pin)
    provider.subscribe_app(signup)
    if not _release(target, claim, status="active", phoneNumber=signup.phone_number, statusReason=None, accessToken=signup.access_token):
        log.warning("whatsapp integration %s changed while it was being activated; left as it is", target)
        return False
    AuthAttempt.discard_for(str(target))
    log.info("whatsapp integration %s active", target)
    return True


def _claim_seconds(services: Services) -> int:
    """Longer than a completion can take: every Graph call at its connect and read timeouts, plus a margin."""
    return max(120, int(GRAPH_CALLS * (CONNECT_TIMEOUT_SECONDS + services.settings.meta_read_timeout_ms / 1000)) + 30)


def _claim(target: ObjectId, seconds: int) -> int | None:
    """Hold a pending integration for one completion; None when it is not pending or someone holds it."""
    until = int(time.time()) + seconds
    held = WhatsAppIntegration.objects(__raw__=_pending_unclaimed(target)).modify(
        new=True, set__completingUntil=until,
    )
    return until if held is not None else None


def _pending_unclaimed(target: ObjectId) -> dict[str, Any]:
    """The filter for a pending integration no completion holds (or whose holder's claim ran out)."""
    free = [{"completingUntil": {"$lt": int(time.time())}}, {"completingUntil": {"$exists": False}}]
    return {"_id": target, **eq(status="pending"), "$or": free}


def _release(target: ObjectId, claim: int, **fields: Any) -> bool:
    """Write the outcome of a completion, only while this completion still holds the integration."""
    changes = {f"set__{name}": value for name, value in fields.items()}
    updated = WhatsAppIntegration.objects(__raw__={"_id": target, "completingUntil": claim, **eq(status="pending")}).modify(
        new=True, set__completingUntil=0, set__updatedAt=utcnow(), **changes,
    )
    return updated is not None


def _fail_unclaimed(target: ObjectId, reason: str) -> None:
    """A pending integration nobody is completing goes to error with a reason."""
    WhatsAppIntegration.objects(__raw__=_pending_unclaimed(target)).update(
        set__status="error", set__statusReason=reason, set__updatedAt=utcnow(),
    )


def deactivate_whatsapp(services: Services, business_id: str) -> None:
    """Deactivate: stop the provider side first (an outage leaves everything as it was), then forget the secrets."""
    integration = WhatsAppIntegration.find_for(business_id)
    if integration is None:
        raise NotFound("This business has no WhatsApp integration")
    if integration.wabaId and integration.accessToken:
        services.providers.whatsapp.unsubscribe_app(waba_id=integration.wabaId, access_token=integration.accessToken)
    if integration.unipileAccountId:
        services.providers.connections.delete_account(integration.unipileAccountId)
    WhatsAppIntegration.objects(__raw__={"_id": integration.id}).update(
        set__status="inactive", set__statusReason=None, set__accessToken=None, set__pin=None, set__wabaId=None,
        set__phoneNumberId=None, set__unipileAccountId=None, set__completingUntil=0, set__updatedAt=utcnow(),
    )
    AuthAttempt.discard_for(str(integration.id))
    log.info("whatsapp integration %s deactivated", integration.id)


def apply_meta_event(entry: dict[str, Any]) -> str:
    """Apply one webhook entry of a WhatsApp Business Account: events that revoke our access put it in error."""
    waba_id = entry.get("id")
    reason = None
    for change in entry.get("changes") or []:
        if isinstance(change, dict) and change.get("field") == "account_update":
            reason = _revoking_reason(change.get("value")) or reason
    if reason is None or not isinstance(waba_id, str):
        return IGNORED
    integration = WhatsAppIntegration.objects(__raw__=eq(wabaId=waba_id)).first()
    if integration is None:
        return IGNORED
    if integration.status == "error" and integration.statusReason == reason:
        return UNCHANGED
    updated = WhatsAppIntegration.objects(__raw__={"_id": integration.id, "status": {"$in": ["active", "pending", "error"]}}).update(
        set__status="error", set__statusReason=reason, set__accessToken=None, set__updatedAt=utcnow(),
    )
    log.info("whatsapp integration %s lost access at meta", integration.id)
    return APPLIED if updated else UNCHANGED


def _revoking_reason(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    event = value.get("event")
    if event in REVOKING_EVENTS:
        return REVOKING_EVENTS[event]
    ban = value.get("ban_info")
    if event == "DISABLED_UPDATE" and isinstance(ban, dict) and ban.get("waba_ban_state") == "DISABLE":
        return BANNED
    return None
