"""ASGI plumbing around Connexion: request ids, access log, CORS, input guards, error envelopes."""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any, Callable, Iterable, Mapping

from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette.concurrency import run_in_threadpool

from core import metrics
from core.logs import AccessLine
from core.errors import AppError, MethodNotAllowed, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationError, envelope, to_app_error

log = logging.getLogger(__name__)
access_log = logging.getLogger("integrations.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SECRET_PATH = re.compile(r"(/sandbox/(?:scan|authorize)/|/unipile/notify/)[^/]+")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
METRICS_PATH = "/metrics"
_EXPOSED = "X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"


class RouteTable:
    """The methods the contract allows on each path, for the Allow header of a 405."""

    def __init__(self, base_path: str, paths: dict[str, dict[str, Any]]) -> None:
        self._routes = []
        for template, item in paths.items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(base_path + template))
            methods = sorted(m.upper() for m in item if m in ("get", "put", "post", "delete", "patch", "head"))
            self._routes.append((re.compile(f"^{pattern}$"), methods))

    def allowed(self, path: str) -> list[str]:
        """The allowed methods for a concrete path ([] when the path is unknown)."""
        for pattern, methods in self._routes:
            if pattern.match(path):
                return methods
        return []


def make_error_handler(routes: RouteTable, *, browser_failures: Mapping[str, str] | None = None):
    """The Connexion error handler: any exception becomes the envelope with the right status.

    `browser_failures` maps paths a browser is sent to (OAuth callbacks) to the page it goes to
    when the request is invalid: a redirect there, never a JSON error page.
    """
    browser_failures = dict(browser_failures or {})

    def handle(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        error = to_app_error(exc)
        if isinstance(error, ValidationError) and request.url.path in browser_failures:
            return ConnexionResponse(status_code=303, headers={
                "Location": browser_failures[request.url.path], "Cache-Control": "no-store"})
        headers = dict(error.headers)
        if isinstance(error, MethodNotAllowed):
            allowed = routes.allowed(request.url.path)
            if not allowed:
                error, headers = NotFound(), {}
            else:
                headers = {"Allow": ", ".join(allowed)}
        headers.pop("content-type", None)
        headers.pop("Content-Type", None)
        return ConnexionResponse(
            status_code=error.status_code,
            body=envelope(error.status_code, error.code, error.message),
            content_type="application/json",
            mimetype="application/json",
            headers=headers,
        )

    return handle


class LastResortMiddleware(ServerErrorMiddleware):
    """Outermost guard: even a crash inside our own middleware answers with the envelope."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, handler=self._crash)

    @staticmethod
    async def _crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error outside the handlers: %s", type(exc).__name__, exc_info=exc)
        return Response(envelope(500, "INTERNAL_ERROR", "Internal server error"), status_code=500, media_type="application/json")


class RequestContextMiddleware:
    """Request id, CORS, security headers and one JSON access-log line per request."""

    def __init__(self, app: ASGIApp, *, services: Any) -> None:
        self.app = app
        self.services = services
        self.origins = frozenset(services.settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["services"] = self.services
        context = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        headers = Headers(scope=scope)
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        origin = headers.get("origin")
        allowed_origin = origin if origin in self.origins else None
        started = time.perf_counter()
        status = 500

        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            status = 204
            response_headers = {"X-Request-ID": request_id, "Vary": "Origin"}
            if allowed_origin:
                response_headers.update({
                    "Access-Control-Allow-Origin": allowed_origin,
                    "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS",
                    "Access-Control-Allow-Headers": headers.get("access-control-request-headers", "Authorization, Content-Type"),
                    "Access-Control-Max-Age": "600",
                })
            await Response(status_code=204, headers=response_headers)(scope, receive, send)
            self._log(scope, status, started, request_id, context)
            return

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = MutableHeaders(scope=message)
                out["X-Request-ID"] = request_id
                if status not in (429, 503) and "retry-after" in out:
                    # Flask-Limiter adds Retry-After to every response; it only means something on 429/503.
                    del out["retry-after"]
                out.setdefault("X-Content-Type-Options", "nosniff")
                if allowed_origin:
                    out["Access-Control-Allow-Origin"] = allowed_origin
                    out["Access-Control-Expose-Headers"] = _EXPOSED
                    out.append("Vary", "Origin")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._log(scope, status, started, request_id, context)

    @staticmethod
    def _log(scope: Scope, status: int, started: float, request_id: str, context: dict) -> None:
        elapsed = time.perf_counter() - started
        operation = scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
        # Connexion prefixes the operationId with its router controller (handlers.connections.list_connections).
        metrics.observe_request(operation.rsplit(".", 1)[-1] if operation else "unmatched", status, elapsed)
        token = context.get("token_info") or {}
        access_log.info(AccessLine({
            "event": "request",
            "requestId": request_id,
            "method": scope["method"],
            "path": _SECRET_PATH.sub(r"\1***", scope.get("path", ""))[:300],
            "status": status,
            "latencyMs": round(elapsed * 1000, 2),
            "businessId": token.get("businessId"),
            "userId": token.get("sub"),
            "operation": operation,
        }))


class MetricsEndpoint:
    """GET /metrics in Prometheus' text format, answered ahead of the API (not logged, not counted)."""

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled or scope.get("path") != METRICS_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):
            # Reading every worker's sample files is blocking I/O: keep it off the event loop.
            response = Response(await run_in_threadpool(metrics.exposition), media_type=metrics.CONTENT_TYPE)
        else:
            response = Response(envelope(405, "METHOD_NOT_ALLOWED", "Method not allowed"), status_code=405,
                                media_type="application/json", headers={"Allow": "GET, HEAD"})
        await response(scope, receive, send)


BodyCheck = Callable[[bytes, Headers], None]


class InputGuardMiddleware:
    """Rejects what must never reach routing, validation or the database: odd paths, oversize or broken JSON bodies.

    `signed` maps paths to checks of a signature over the raw body (e.g. Meta's X-Hub-Signature-256):
    they run on the exact bytes received, before anything parses or re-serialises them.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, ui_prefix: str, signed: Mapping[str, BodyCheck] | None = None,
                 json_by_default: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.ui_prefix = ui_prefix
        self.signed = dict(signed or {})
        # Provider callbacks whose senders may leave Content-Type out: their bodies are JSON all the same.
        self.json_by_default = json_by_default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if _CONTROL.search(path) or "\\" in path or "//" in path:
            # An empty segment (a doubled or an encoded slash) names nothing; Flask would redirect it.
            raise NotFound()
        if path == self.ui_prefix.removesuffix("/ui/"):
            # The API's root is no resource; Starlette would redirect it to a Location built from the Host header.
            raise NotFound()
        if path.endswith("/") and len(path) > 1 and not path.startswith(self.ui_prefix):
            raise NotFound("Resource not found (paths have no trailing slash)")
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise ValidationError("Content-Length is invalid")
            if int(declared) > self.max_body_bytes:
                raise PayloadTooLarge(f"Request body must be at most {self.max_body_bytes} bytes")
        body = await self._read_body(receive)
        if scope["method"] == "POST" and path in self.signed:
            self.signed[path](body, headers)
        content_type = headers.get("content-type", "")
        if body and not content_type.strip():
            if not path.startswith(self.json_by_default):
                raise UnsupportedMediaType("Content-Type is required with a request body")
            content_type = "application/json"
        if body and _is_json(content_type):
            check_json_body(body)
        _settle_body_headers(scope, body, content_type)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"Request body must be at most {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _settle_body_headers(scope: Scope, body: bytes, content_type: str) -> None:
    """Describe the body as read: its exact length (a chunked body has none) and a lowercase media type."""
    headers = MutableHeaders(scope=scope)
    if "transfer-encoding" in headers:
        del headers["transfer-encoding"]
    headers["content-length"] = str(len(body))
    if content_type:
        media, sep, params = content_type.partition(";")
        headers["content-type"] = media.strip().lower() + sep + params


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _checked_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, _ in pairs:
        if key.startswith("$") or "\x00" in key:
            raise ValidationError("JSON keys must not start with '$' or contain NUL characters")
    return dict(pairs)


def check_json_body(body: bytes) -> None:
    """Raise a 400 unless the body is UTF-8 JSON the rest of the stack can handle safely."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("Request body must be UTF-8 encoded JSON") from None
    if not text.strip():
        return
    try:
        parsed = json.loads(text, object_pairs_hook=_checked_pairs, parse_constant=_reject_constant)
    except RecursionError:
        raise ValidationError("Request body is nested too deeply") from None
    except ValueError:
        raise ValidationError("Request body is not valid JSON") from None
    for value in _strings(parsed):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Request body contains invalid Unicode (unpaired surrogates)") from None


def _strings(value: Any) -> Iterable[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
