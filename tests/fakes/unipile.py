"""A local stand-in for Unipile's v1 REST API: a real HTTP server on loopback, in a thread.

It implements the calls this API makes (native connect, reconnect, hosted auth links, account
lookup and deletion) with Unipile's documented bodies and error shape
`{"status", "type", "title", "detail"}`, checks X-API-KEY, records every call, and can be told
to misbehave: slow answers, 429 with Retry-After, 5xx, 425, malformed JSON, dropped connections.
"""
from __future__ import annotations

import re
import secrets
from typing import Any

from tests.fakes.http import Answer, Call, Fault, FakeServer

API_KEY = "fake-unipile-key-9f3a1c"
EXPIRES_ON = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
HOSTED_KEYS = {"type", "providers", "api_url", "expiresOn", "name", "notify_url", "success_redirect_url", "failure_redirect_url", "reconnect_account"}
NATIVE = {"WHATSAPP", "TELEGRAM"}
HOSTED = {"INSTAGRAM", "LINKEDIN", "MESSENGER", "GOOGLE", "OUTLOOK", "MAIL", "WHATSAPP", "TELEGRAM"}


class FakeUnipile(FakeServer):
    """The fake server; `url` is its DSN."""

    name = "fake-unipile"
    malformed = b"{\"object\": \"Checkpoint\", "

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.links: dict[str, dict[str, Any]] = {}
        self.phone_number: str | None = "33612345678"
        super().__init__()

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.accounts.clear()
            self.links.clear()
            self.phone_number = "33612345678"

    def complete_hosted(self, url: str) -> dict[str, Any]:
        """What a user finishing a hosted-auth link causes: the account exists and this is the notify body."""
        token = url.rsplit("/", 1)[-1]
        link = self.links[token]
        account_id = link.get("reconnect_account") or _new_id()
        self.accounts[account_id] = {"provider": link["providers"][0], "status": "OK"}
        return {"status": "RECONNECTED" if link["type"] == "reconnect" else "CREATION_SUCCESS", "account_id": account_id, "name": link["name"]}

    # -- request handling -------------------------------------------------------------

    def fault_answer(self, fault: Fault) -> Answer:
        """An injected error, in Unipile's error shape (with Retry-After when asked)."""
        status, payload, _ = _error(fault.status, fault.details.get("error_type", "errors/unexpected_error"), "Provider error", "Injected failure.")
        retry_after = fault.details.get("retry_after")
        return status, payload, {"Retry-After": retry_after} if retry_after is not None else {}

    def handle(self, call: Call) -> Answer:
        """(status, JSON body, headers) of one call."""
        method, path, body = call.method, call.path, call.body
        if call.header("X-API-KEY") != API_KEY:
            return _error(401, "errors/missing_credentials", "Missing credentials", "The API key is missing or invalid.")
        if method == "POST" and path == "/api/v1/accounts":
            return self._create(body)
        if method == "POST" and path == "/api/v1/hosted/accounts/link":
            return self._hosted(body)
        match = re.fullmatch(r"/api/v1/accounts/([^/]+)", path)
        if match:
            account_id = match.group(1)
            if account_id not in self.accounts:
                return _error(404, "errors/resource_not_found", "Resource not found.", "The account does not exist.")
            if method == "GET":
                return 200, self._account(account_id), {}
            if method == "DELETE":
                del self.accounts[account_id]
                return 200, {"object": "AccountDeleted"}, {}
            if method == "POST":
                if not isinstance(body, dict) or body.get("provider") != self.accounts[account_id]["provider"]:
                    return _error(400, "errors/invalid_parameters", "Invalid parameters", "provider must match the account.")
                return 201, _checkpoint(account_id), {}
        return _error(404, "errors/not_found", "Not found", "No such route.")

    def _create(self, body: Any) -> Answer:
        if not isinstance(body, dict) or body.get("provider") not in NATIVE or set(body) != {"provider"}:
            return _error(400, "errors/invalid_parameters", "Invalid parameters", "provider must be WHATSAPP or TELEGRAM.")
        account_id = _new_id()
        self.accounts[account_id] = {"provider": body["provider"], "status": "CONNECTING"}
        return 201, _checkpoint(account_id), {}

    def _hosted(self, body: Any) -> Answer:
        problems = []
        if not isinstance(body, dict):
            problems.append("body must be an object")
            body = {}
        if set(body) - HOSTED_KEYS:
            problems.append("unknown fields")
        if body.get("type") not in ("create", "reconnect"):
            problems.append("type")
        providers = body.get("providers")
        if not isinstance(providers, list) or not providers or not set(providers) <= HOSTED:
            problems.append("providers")
        if body.get("api_url") != self.url:
            problems.append("api_url")
        if not isinstance(body.get("expiresOn"), str) or not EXPIRES_ON.match(body["expiresOn"]):
            problems.append("expiresOn")
        for key in ("name", "notify_url", "success_redirect_url", "failure_redirect_url"):
            if not isinstance(body.get(key), str) or not body[key]:
                problems.append(key)
        if body.get("type") == "reconnect" and body.get("reconnect_account") not in self.accounts:
            problems.append("reconnect_account")
        if problems:
            return _error(400, "errors/invalid_parameters", "Invalid parameters", ", ".join(problems))
        token = secrets.token_urlsafe(12)
        self.links[token] = body
        return 201, {"object": "HostedAuthURL", "url": f"https://account.unipile.com/{token}"}, {}

    def _account(self, account_id: str) -> dict[str, Any]:
        account = self.accounts[account_id]
        params: dict[str, Any] = {"im": {"id": "im_" + account_id}}
        if self.phone_number is not None:
            params["im"]["phone_number"] = self.phone_number
        return {
            "object": "Account", "id": account_id, "type": account["provider"], "name": "Fake account",
            "created_at": "2026-01-01T00:00:00.000Z", "sources": [{"id": account_id + "_MESSAGING", "status": account["status"]}],
            "connection_params": params,
        }


def _new_id() -> str:
    return "acc_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def _checkpoint(account_id: str) -> dict[str, Any]:
    return {"object": "Checkpoint", "account_id": account_id, "checkpoint": {"type": "QRCODE", "qrcode": "2@" + secrets.token_urlsafe(40)}}


def _error(status: int, kind: str, title: str, detail: str) -> Answer:
    return status, {"status": status, "type": kind, "title": title, "detail": detail}, {}
