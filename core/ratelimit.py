"""Rate limits: per user with Flask-Limiter, and per client IP for requests that fail (ASGI)."""
from __future__ import annotations

import logging
import math
import time

import flask
from connexion import context as connexion_context
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, WindowStats, parse
from limits.errors import StorageError
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import STRATEGIES, FixedWindowRateLimiter
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import envelope
from core.settings import Settings

log = logging.getLogger(__name__)

_CREATE_OPERATIONS = frozenset({"create_connection", "activate_whatsapp"})
# Providers post these from a few addresses and give up after a few retries; the browser pages are
# reached through single-use links. None of them may be throttled per client IP.
EXEMPT_PREFIXES = (
    "/api/v1/unipile/notify/", "/api/v1/unipile/webhooks", "/api/v1/whatsapp/webhook",
    "/api/v1/whatsapp/oauth/callback", "/api/v1/sandbox/scan/", "/api/v1/sandbox/authorize/",
    "/api/v1/sandbox/complete",
    # Load balancers probe from one address: failures of others there must never fail the probes.
    "/api/v1/health", "/api/v1/ready",
)
# Failures that happen before or instead of real work: bad tokens, bad input, probing for ids or paths.
FAILED_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 415, 431})


def exempt(path: str) -> bool:
    """Whether a path is a provider callback, sandbox page or probe (never limited per client IP)."""
    return path.startswith(EXEMPT_PREFIXES)


def client_ip(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The client address: the peer, or the entry of X-Forwarded-For that the trusted proxies added."""
    if trusted_hops and forwarded_for:
        hops = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        # Each trusted proxy appends the address it saw; entries further left are client-supplied.
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops][:64]
    return peer or "unknown"


def _caller_key() -> str:
    token = connexion_context.context.get("token_info") or {}
    if token.get("sub"):
        return f"user:{token['businessId']}:{token['sub']}"
    return "ip:" + (connexion_context.context.get("client_ip") or flask.request.remote_addr or "unknown")


# INCRBY with the expiry set on a window's first hit (as limits' own script) that also returns the
# key's TTL, so the X-RateLimit-* headers need no further round trips.
_INCR_EXPIRE_TTL = """
local current = redis.call("incrby", KEYS[1], tonumber(ARGV[2]))
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""
FIXED_WINDOW_ONE_TRIP = "integrations-fixed-window"


class OneTripFixedWindow(FixedWindowRateLimiter):
    """Flask-Limiter's fixed window, with the window read for the headers in the same Redis call as the hit.

    Flask-Limiter hits the counter and then reads the window again (GET and TTL) for the
    X-RateLimit-* headers: three round trips per request. With plain Redis storage the hit returns the
    count and TTL it saw, and the request's header read takes them from there. Other storages (and
    any read without a hit of the same key earlier in the request) behave as the library's strategy.
    """

    def __init__(self, storage) -> None:
        super().__init__(storage)
        self._script = storage.get_connection().register_script(_INCR_EXPIRE_TTL) if type(storage) is RedisStorage else None

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        if self._script is None or not flask.has_request_context():
            return super().hit(item, *identifiers, cost=cost)
        key = item.key_for(*identifiers)
        try:
            count, ttl = self._script([self.storage.prefixed_key(key)], [item.get_expiry(), cost])
        except self.storage.base_exceptions as exc:
            # As the library's storage methods do.
            if self.storage.wrap_exceptions:
                raise StorageError(exc) from exc
            raise
        windows = flask.g.setdefault("_ratelimit_windows", {})
        windows[key] = WindowStats(max(int(ttl), 0) + time.time(), max(0, item.amount - int(count)))
        return int(count) <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        windows = flask.g.get("_ratelimit_windows") if flask.has_request_context() else None
        window = windows.pop(item.key_for(*identifiers), None) if windows else None
        return window or super().get_window_stats(item, *identifiers)


STRATEGIES[FIXED_WINDOW_ONE_TRIP] = OneTripFixedWindow  # type: ignore[assignment]


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
        strategy=FIXED_WINDOW_ONE_TRIP,
        key_prefix="integrations",
        # A rate-limit store that is down must not take the API down with it: requests go through (logged).
        swallow_errors=True,
    )
    # Callbacks and probes carry no token: they would otherwise share one per-IP limit.
    limiter.request_filter(lambda: exempt(flask.request.path) and not connexion_context.context.get("token_info"))
    flask_app.register_error_handler(RateLimitExceeded, _rate_limited)
    return limiter


def _operation() -> str:
    # Connexion prefixes the operationId with its router controller (handlers.connections.create_connection).
    return (getattr(connexion_context.operation, "operation_id", "") or "").rsplit(".", 1)[-1]


def _rate_limited(exc: RateLimitExceeded) -> flask.Response:
    message = f"Too many requests: limit is {exc.limit.limit}; try again later"
    return flask.Response(envelope(429, "RATE_LIMITED", message), status=429, mimetype="application/json")


class ClientIpLimitMiddleware:
    """Limits failed requests per client IP, including those Connexion rejects before Flask runs.

    Every response with a status in FAILED_STATUSES counts one hit for the client's address; once
    the limit is reached, that address gets 429 for every request until the window ends, so a
    flood of guessed tokens or ids stops early. Callbacks and sandbox pages are exempt.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.item = parse(settings.ratelimit_ip_failures)
        self.trusted_hops = settings.trusted_proxy_hops
        # The same storage as the per-user limits: with Redis every worker and instance shares the count.
        self.limiter = FixedWindowRateLimiter(storage_from_string(settings.ratelimit_storage_uri))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        address = client_ip((scope.get("client") or (None,))[0], headers.get("x-forwarded-for"), self.trusted_hops)
        scope.setdefault("extensions", {}).setdefault("connexion_context", {})["client_ip"] = address
        key = "integrations-ip:" + address
        if not self._allowed(key):
            await self._reject(key)(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if status in FAILED_STATUSES:
                self._hit(key)

    def _allowed(self, key: str) -> bool:
        try:
            return self.limiter.test(self.item, key)
        except Exception as exc:  # noqa: BLE001 - a storage outage must not take the API down with it
            log.warning("client IP limit storage unavailable (%s); request let through", type(exc).__name__)
            return True

    def _hit(self, key: str) -> None:
        try:
            self.limiter.hit(self.item, key)
        except Exception as exc:  # noqa: BLE001 - see _allowed
            log.warning("client IP limit storage unavailable (%s); failure not counted", type(exc).__name__)

    def _reject(self, key: str) -> Response:
        try:
            reset = self.limiter.get_window_stats(self.item, key).reset_time
        except Exception:  # noqa: BLE001 - see _allowed
            reset = time.time() + self.item.get_expiry()
        retry_after = max(1, math.ceil(reset - time.time()))
        message = f"Too many failed requests from your address: limit is {self.item}; try again later"
        return Response(envelope(429, "RATE_LIMITED", message), status_code=429, media_type="application/json", headers={
            "Retry-After": str(retry_after),
            "X-RateLimit-Limit": str(self.item.amount),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(reset)),
        })
