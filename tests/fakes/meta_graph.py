"""A local stand-in for Meta's Graph API: a real HTTP server on loopback, in a thread.

It implements the calls of Embedded Signup as documented (code exchange with single-use
codes, debug_token with granular scopes, phone_numbers, register with PIN errors 133005 and
133016, subscribed_apps) with Graph's error shape
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`, records every call,
and can be told to misbehave: slow answers, 5xx, malformed JSON, dropped connections, or any
Graph error on the next matching call.
"""
from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

from tests.fakes.http import Answer, Call, Fault, FakeServer

APP_ID = "100200300400500"
APP_SECRET = "fake-meta-app-secret-7c2e"
VERSION = "v21.0"
REDIRECT_URI = "http://testserver/api/v1/whatsapp/oauth/callback"
MAX_REGISTER_ATTEMPTS = 10


@dataclasses.dataclass
class Account:
    """A WhatsApp Business Account with its numbers, as the signup shares it."""

    waba_id: str
    phone_id: str
    display_phone_number: str
    subscribed: bool = False


class FakeGraph(FakeServer):
    """The fake server; `url` is its Graph base URL (calls are recorded by their path after the version)."""

    name = "fake-graph"
    malformed = b"{\"access_token\": "

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, Account] = {}
        self.revoked: set[str] = set()
        self.pins: dict[str, str] = {}
        self.register_attempts: dict[str, int] = {}
        super().__init__()

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.codes.clear()
            self.tokens.clear()
            self.revoked.clear()
            self.pins.clear()
            self.register_attempts.clear()

    def issue_code(self, *, phone: str = "+1 555-010-2030", granted: bool = True) -> str:
        """What the user finishing Embedded Signup causes: a single-use code for a new account and number."""
        code = "AQ" + secrets.token_urlsafe(32)
        account = Account(waba_id=_graph_id(), phone_id=_graph_id(), display_phone_number=phone)
        with self._lock:
            self.codes[code] = {"used": False, "account": account, "granted": granted}
        return code

    def account_of(self, code: str) -> Account:
        return self.codes[code]["account"]

    def token_of(self, code: str) -> str:
        """The access token the exchange of a code gave."""
        return self.codes[code]["token"]

    # -- request handling -------------------------------------------------------------

    def route(self, path: str) -> str:
        prefix = f"/{VERSION}/"
        return path[len(prefix) - 1:] if path.startswith(prefix) else "/unversioned" + path

    def fault_answer(self, fault: Fault) -> Answer:
        """An injected Graph error: a 5xx (code 2, transient) or any code given."""
        return _error(fault.status, "An unexpected error has occurred.", fault.details.get("code", 2), subcode=fault.details.get("subcode"))

    def handle(self, call: Call) -> Answer:
        """(status, JSON body, headers) of one call."""
        method, path, query, authorization, body = call.method, call.path, call.query, call.header("Authorization"), call.body
        if method == "GET" and path == "/oauth/access_token":
            return self._exchange(query)
        if method == "GET" and path == "/debug_token":
            return self._debug_token(query, authorization)
        account = self._bearer(authorization)
        if isinstance(account, tuple):
            return account
        match = re.fullmatch(r"/(\d+)/(phone_numbers|register|subscribed_apps)", path)
        if match is None:
            return _error(400, "Unsupported request - method type: " + method.lower(), 100, subcode=33)
        object_id, edge = match.groups()
        if edge == "phone_numbers" and method == "GET" and object_id == account.waba_id:
            return 200, {"data": [{"id": account.phone_id, "display_phone_number": account.display_phone_number,
                                   "verified_name": "Fake Business", "code_verification_status": "VERIFIED",
                                   "quality_rating": "GREEN"}], "paging": {"cursors": {"before": "x", "after": "y"}}}, {}
        if edge == "register" and method == "POST" and object_id == account.phone_id:
            return self._register(object_id, body)
        if edge == "subscribed_apps" and object_id == account.waba_id and method in ("POST", "DELETE"):
            account.subscribed = method == "POST"
            return 200, {"success": True}, {}
        return _error(400, f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist", 100, subcode=33)

    def _exchange(self, query: dict[str, str]) -> Answer:
        if query.get("client_id") != APP_ID or query.get("client_secret") != APP_SECRET:
            return _error(400, "Error validating client secret.", 1, kind="OAuthException")
        if query.get("redirect_uri") != REDIRECT_URI:
            return _error(400, "Error validating verification code. Please make sure your redirect_uri is identical", 100, subcode=36008)
        entry = self.codes.get(query.get("code", ""))
        if entry is None:
            return _error(400, "Invalid verification code format.", 100)
        if entry["used"]:
            return _error(400, "This authorization code has been used.", 100, subcode=36009)
        entry["used"] = True
        entry["token"] = "EAAG" + secrets.token_urlsafe(48)
        self.tokens[entry["token"]] = entry["account"]
        return 200, {"access_token": entry["token"], "token_type": "bearer"}, {}

    def _debug_token(self, query: dict[str, str], authorization: str | None) -> Answer:
        if authorization != f"Bearer {APP_ID}|{APP_SECRET}":
            return _error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        token = query.get("input_token", "")
        account = self.tokens.get(token)
        if account is None:
            return 200, {"data": {"is_valid": False, "error": {"code": 190, "message": "Invalid token"}}}, {}
        granted = next((e["granted"] for e in self.codes.values() if e.get("token") == token), True)
        scopes = [{"scope": "business_management"}]
        if granted:
            scopes += [{"scope": "whatsapp_business_management", "target_ids": [account.waba_id]},
                       {"scope": "whatsapp_business_messaging", "target_ids": [account.waba_id]}]
        return 200, {"data": {"app_id": APP_ID, "type": "SYSTEM_USER", "is_valid": token not in self.revoked,
                              "scopes": [s["scope"] for s in scopes], "granular_scopes": scopes}}, {}

    def _bearer(self, authorization: str | None) -> Account | Answer:
        token = (authorization or "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        if token in self.revoked:
            return _error(401, "Error validating access token: The session has been invalidated.", 190, subcode=460)
        return self.tokens[token]

    def _register(self, phone_id: str, body: Any) -> Answer:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp" or not re.fullmatch(r"\d{6}", str(body.get("pin"))):
            return _error(400, "(#100) Invalid parameter", 100)
        attempts = self.register_attempts.get(phone_id, 0) + 1
        self.register_attempts[phone_id] = attempts
        if attempts > MAX_REGISTER_ATTEMPTS:
            return _error(400, "Too many two step verification attempts", 133016, kind="OAuthException")
        known = self.pins.get(phone_id)
        if known is not None and known != body["pin"]:
            return _error(400, "Two step verification PIN Mismatch", 133005, kind="OAuthException")
        self.pins[phone_id] = body["pin"]
        return 200, {"success": True}, {}


def _graph_id() -> str:
    return str(100000000000000 + secrets.randbelow(899999999999999))


def _error(status: int, message: str, code: int, *, subcode: int | None = None, kind: str = "OAuthException") -> Answer:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "A" + secrets.token_hex(8)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return status, {"error": error}, {}
