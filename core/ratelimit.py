"""Per-user rate limits with Flask-Limiter, answered in the error envelope."""
from __future__ import annotations

import flask
from connexion import context as connexion_context
from flask_limiter import Limiter, RateLimitExceeded

from core.errors import envelope
from core.settings import Settings

_CREATE_OPERATIONS = frozenset({"create_connection", "activate_whatsapp"})
# Load balancers probe these every few seconds from a handful of addresses: never limit them.
_PROBE_OPERATIONS = frozenset({"health", "ready"})


def _caller_key() -> str:
    token = connexion_context.context.get("token_info") or {}
    if token.get("sub"):
        return f"user:{token['businessId']}:{token['sub']}"
    return "ip:" + (flask.request.remote_addr or "unknown")


def build_limiter(flask_app: flask.Flask, settings: Settings) -> Limiter:
    """Attach a limiter: reads, writes and creations each have their own per-user limit."""

    def limit_for_request() -> str:
        operation = _operation()
        if operation in _CREATE_OPERATIONS:
            return settings.ratelimit_create
        if flask.request.method in ("POST", "PATCH", "PUT", "DELETE"):
            return settings.ratelimit_write
        return settings.ratelimit_default

    limiter = Limiter(
        key_func=_caller_key,
        app=flask_app,
        default_limits=[limit_for_request],
        default_limits_per_method=True,
        storage_uri=settings.ratelimit_storage_uri,
        headers_enabled=True,
        strategy="fixed-window",
        key_prefix="integrations",
    )
    limiter.request_filter(lambda: _operation() in _PROBE_OPERATIONS)
    flask_app.register_error_handler(RateLimitExceeded, _rate_limited)
    return limiter


def _operation() -> str:
    # Connexion prefixes the operationId with its router controller (handlers.connections.create_connection).
    return (getattr(connexion_context.operation, "operation_id", "") or "").rsplit(".", 1)[-1]


def _rate_limited(exc: RateLimitExceeded) -> flask.Response:
    message = f"Too many requests: limit is {exc.limit.limit}; try again later"
    return flask.Response(envelope(429, "RATE_LIMITED", message), status=429, mimetype="application/json")
