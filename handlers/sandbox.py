"""Sandbox pages that complete QR and consent flows offline, as a phone or a provider would."""
from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from bson import ObjectId
from connexion import NoContent

from core.auth import caller_from
from core.errors import ConnectionNotFound, NotFound
from handlers import services
from models import AuthAttempt, Connection
from models.lifecycle import mark_connection_failed, mark_whatsapp_active
from models.meta_lifecycle import complete_whatsapp_oauth
from models.unipile_lifecycle import apply_account_status, complete_link
from providers.sandbox import sandbox_account_id, sandbox_phone_number

_HTML = {"Content-Type": "text/html", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_GONE = "This link is unknown, expired or already used"
SANDBOX_CODE = "sandbox-authorisation-code"


def scan_page(*, reference: str) -> tuple[str, int, dict]:
    """The page behind a sandbox QR code: one button that scans."""
    attempt = _live(reference, flow="qr")
    body = f"""<h1>Sandbox phone</h1>
<p>Scanning links {html.escape(_describe(attempt))}.</p>
<button id="scan" type="button">Scan QR code</button>
<p id="result" role="status"></p>
<script>
document.getElementById("scan").addEventListener("click", async () => {{
  const res = await fetch(window.location.pathname, {{method: "POST"}});
  const body = await res.json();
  document.getElementById("result").textContent = body.success ? "Linked: the account is now active." : body.message;
}});
</script>"""
    return _page("Sandbox QR scan", body), 200, _HTML


def scan(*, reference: str) -> tuple[dict, int]:
    """Complete a sandbox QR scan: the connection or WhatsApp integration becomes active."""
    attempt = _consume(reference, flow="qr")
    if attempt.purpose == "connection":
        # A scanned QR code is reported by Unipile's account-status webhook: the same path here.
        connection = Connection.objects(__raw__={"_id": ObjectId(attempt.targetId)}).only("connectionId", "status").first()
        _require(connection)
        message = "CREATION_SUCCESS" if connection.status == "pending" else "RECONNECTED"
        apply_account_status(services(), connection.connectionId, message)
    else:
        _require(mark_whatsapp_active(ObjectId(attempt.targetId), sandbox_phone_number()))
    AuthAttempt.discard_for(attempt.targetId)
    return {"success": True, "data": {"status": "active"}}, 200


def consent_page(*, reference: str) -> tuple[str, int, dict]:
    """The page behind a sandbox authUrl: approve or deny."""
    attempt = _live(reference, flow="oauth")
    body = f"""<h1>Sandbox authorisation</h1>
<p>An application asks to link {html.escape(_describe(attempt))}.</p>
<form method="post">
<button name="decision" value="approve" type="submit">Approve</button>
<button name="decision" value="deny" type="submit">Deny</button>
</form>"""
    return _page("Sandbox authorisation", body), 200, _HTML


def authorize(*, reference: str, body: dict[str, Any]) -> tuple[Any, int, dict]:
    """Approve or deny a sandbox authorisation and send the browser back to the frontend."""
    settings = services().settings
    approved = body["decision"] == "approve"
    attempt = _live(reference, flow="oauth")
    if attempt.purpose == "whatsapp" and attempt.flow == "oauth":
        # What Facebook's redirect to the OAuth callback does: the same completion, with a sandbox code.
        approved = complete_whatsapp_oauth(
            services(), state=reference, code=SANDBOX_CODE if approved else None, error=None if approved else "access_denied",
        )
        return NoContent, 303, {"Location": settings.frontend_success_url if approved else settings.frontend_failure_url,
                                "Cache-Control": "no-store"}
    attempt = _consume(reference, flow="oauth")
    target = ObjectId(attempt.targetId)
    # What Unipile's notify call does: attach the account (the known one on reconnect).
    if approved:
        record = complete_link(attempt, _account_of(target) or sandbox_account_id())
    else:
        record = mark_connection_failed(target, "Authorisation was denied")
    _require(record)
    AuthAttempt.discard_for(attempt.targetId)
    location = _with_query(settings.frontend_success_url if approved else settings.frontend_failure_url, {"connectionId": record.connectionId})
    return NoContent, 303, {"Location": location, "Cache-Control": "no-store"}


def send_sandbox_event(*, connectionId: str, body: dict[str, Any], token_info: dict[str, Any]) -> tuple[dict, int]:
    """Apply an account-status message to a connection exactly as Unipile's webhook would."""
    if not services().settings.sandbox:
        raise NotFound()
    caller = caller_from(token_info)
    caller.require_write()
    connection = Connection.find_for(caller.business_id, connectionId)
    if connection is None:
        raise ConnectionNotFound()
    return {"success": True, "data": {"outcome": apply_account_status(services(), connection.connectionId, body["message"])}}, 200


def complete_page(*, outcome: str = "success", connectionId: str | None = None) -> tuple[str, int, dict]:
    """Where browser flows land when no frontend URL is configured."""
    if outcome == "success":
        text = "The account is linked. You can close this page and return to the app."
        if connectionId:
            text = f"The account {connectionId} is linked. You can close this page and return to the app."
    else:
        text = "The account was not linked. Return to the app to try again."
    return _page("Sandbox: " + outcome, f"<h1>{html.escape(text)}</h1>"), 200, _HTML


def _live(reference: str, *, flow: str) -> AuthAttempt:
    """The live attempt of a reference made for this flow (a QR reference opens no consent page, and back)."""
    if not services().settings.sandbox:
        raise NotFound()
    attempt = AuthAttempt.peek(reference)
    if attempt is None or attempt.flow != flow:
        raise NotFound(_GONE)
    return attempt


def _consume(reference: str, *, flow: str) -> AuthAttempt:
    _live(reference, flow=flow)
    used = AuthAttempt.consume(reference)
    if used is None:
        raise NotFound(_GONE)
    return used


def _account_of(target: ObjectId) -> str | None:
    """The provider account a connection already has (a reconnect keeps it), None for a placeholder."""
    connection = Connection.objects(__raw__={"_id": target}).only("connectionId").first()
    if connection is None or services().providers.connections.is_placeholder(connection.connectionId):
        return None
    return connection.connectionId


def _require(record: Any) -> None:
    if record is None:
        raise NotFound("The account this link was for no longer exists")


def _describe(attempt: AuthAttempt) -> str:
    if attempt.purpose == "whatsapp":
        return "WhatsApp Business to your business"
    connection = Connection.objects(__raw__={"_id": ObjectId(attempt.targetId)}).only("platform", "name").first()
    if connection is None:
        return "an account"
    return f"the {connection.platform} account '{connection.name}'"


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}button{{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}}</style>
</head><body>{body}</body></html>"""
