"""A local stand-in for Unipile's v1 REST API: a real HTTP server on loopback, in a thread.

It implements the calls this API makes (native connect, reconnect, hosted auth links, account
lookup and deletion) with Unipile's documented bodies and error shape
`{"status", "type", "title", "detail"}`, checks X-API-KEY, records every call, and can be told
to misbehave: slow answers, 429 with Retry-After, 5xx, 425, malformed JSON, dropped connections.
"""
from __future__ import annotations

import dataclasses
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "fake-unipile-key-9f3a1c"
EXPIRES_ON = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
HOSTED_KEYS = {"type", "providers", "api_url", "expiresOn", "name", "notify_url", "success_redirect_url", "failure_redirect_url", "reconnect_account"}
NATIVE = {"WHATSAPP", "TELEGRAM"}
HOSTED = {"INSTAGRAM", "LINKEDIN", "MESSENGER", "GOOGLE", "OUTLOOK", "MAIL", "WHATSAPP", "TELEGRAM"}


@dataclasses.dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    api_key: str | None
    body: Any


@dataclasses.dataclass
class Fault:
    """A misbehaviour for the next matching calls."""

    method: str
    path: str  # a regular expression matched against the whole path
    kind: str  # "slow", "status", "malformed", "drop"
    times: int = 1
    seconds: float = 0.0
    status: int = 500
    retry_after: str | None = None
    error_type: str = "errors/unexpected_error"


class FakeUnipile:
    """The fake server; `url` is its DSN."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.links: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.phone_number: str | None = "33612345678"
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-unipile", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeUnipile":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.accounts.clear()
            self.links.clear()
            self.faults.clear()
            self.phone_number = "33612345678"

    def fail(self, method: str, path: str, kind: str, **options: Any) -> None:
        """Misbehave on the next matching call(s)."""
        with self._lock:
            self.faults.append(Fault(method=method, path=path, kind=kind, **options))

    def calls_to(self, method: str, path: str) -> list[Call]:
        """The recorded calls of one method whose path matches a regular expression."""
        return [c for c in self.calls if c.method == method and re.fullmatch(path, c.path)]

    def complete_hosted(self, url: str) -> dict[str, Any]:
        """What a user finishing a hosted-auth link causes: the account exists and this is the notify body."""
        token = url.rsplit("/", 1)[-1]
        link = self.links[token]
        account_id = link.get("reconnect_account") or _new_id()
        self.accounts[account_id] = {"provider": link["providers"][0], "status": "OK"}
        return {"status": "RECONNECTED" if link["type"] == "reconnect" else "CREATION_SUCCESS", "account_id": account_id, "name": link["name"]}

    # -- request handling -------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and re.fullmatch(fault.path, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def handle(self, method: str, path: str, api_key: str | None, body: Any) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, headers) of one call."""
        if api_key != API_KEY:
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

    def _create(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or body.get("provider") not in NATIVE or set(body) != {"provider"}:
            return _error(400, "errors/invalid_parameters", "Invalid parameters", "provider must be WHATSAPP or TELEGRAM.")
        account_id = _new_id()
        self.accounts[account_id] = {"provider": body["provider"], "status": "CONNECTING"}
        return 201, _checkpoint(account_id), {}

    def _hosted(self, body: Any) -> tuple[int, Any, dict[str, str]]:
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


def _error(status: int, kind: str, title: str, detail: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"status": status, "type": kind, "title": title, "detail": detail}, {}


def _handler_for(fake: FakeUnipile):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return None

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            path = self.path.split("?", 1)[0]
            with fake._lock:
                fake.calls.append(Call(self.command, path, self.headers.get("X-API-KEY"), body))
            fault = fake._take_fault(self.command, path)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.seconds)
            if fault is not None and fault.kind == "malformed":
                self._send(200, b"{\"object\": \"Checkpoint\", ", {})
                return
            if fault is not None and fault.kind == "status":
                status, payload, headers = _error(fault.status, fault.error_type, "Provider error", "Injected failure.")
                if fault.retry_after is not None:
                    headers = {"Retry-After": fault.retry_after}
            else:
                with fake._lock:
                    status, payload, headers = fake.handle(self.command, path, self.headers.get("X-API-KEY"), body)
            self._send(status, json.dumps(payload).encode(), headers)

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (read timeout); nothing to answer

        do_GET = do_POST = do_DELETE = _serve

    return Handler
