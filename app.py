"""The application factory."""
from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import flask
import yaml
from connexion import FlaskApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.options import SwaggerUIOptions
from pymongo.errors import PyMongoError

from core import database
from core.auth import TokenVerifier
from core.crypto import SecretBox
from core.errors import AppError
from core.logs import configure_logging
from core.ratelimit import ClientIpLimitMiddleware, build_limiter
from core.services import Services
from core.settings import Settings
from core.web import InputGuardMiddleware, LastResortMiddleware, MetricsEndpoint, RequestContextMiddleware, RouteTable, make_error_handler
from models import ALL_DOCUMENTS
from models.fields import configure_encryption
from providers.base import Providers
from providers.measured import measured
from providers.meta_whatsapp import check_signature

log = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).resolve().parent / "openapi"
BASE_PATH = "/api/v1"


def build_providers(settings: Settings) -> Providers:
    """The providers the settings ask for."""
    if settings.sandbox:
        from providers.sandbox import SandboxConnections, SandboxWhatsApp

        return Providers(connections=SandboxConnections(settings.public_base_url), whatsapp=SandboxWhatsApp(settings.public_base_url))
    from providers.unipile import UnipileWhatsApp, build_unipile

    unipile = build_unipile(settings)
    if settings.whatsapp_mode == "qr":
        return Providers(connections=unipile, whatsapp=UnipileWhatsApp(unipile))
    from providers.meta_whatsapp import build_meta

    return Providers(connections=unipile, whatsapp=build_meta(settings))


def create_app(settings: Settings | None = None, providers: Providers | None = None) -> FlaskApp:
    """Build the API: settings, database, providers, limiter and one error mapping."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    configure_encryption(SecretBox(settings.encryption_keys))
    if settings.mongodb_uri is None:
        raise ValueError("create_app needs MONGODB_URI; the serve command starts an embedded database when it is unset")
    database.connect(settings.mongodb_uri, db=settings.mongodb_db, timeout_ms=settings.db_timeout_ms)
    services = Services(
        settings=settings,
        verifier=TokenVerifier(
            settings.jwt_secret, public_key=settings.jwt_public_key, jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer, audience=settings.jwt_audience, leeway=settings.jwt_leeway_seconds,
        ),
        providers=measured(providers or build_providers(settings)),
    )
    spec = yaml.safe_load((SPEC_DIR / "openapi.yaml").read_text())
    routes = RouteTable(BASE_PATH, spec["paths"])

    middlewares = list(ConnexionMiddleware.default_middlewares)
    middlewares[0] = LastResortMiddleware
    middlewares.insert(1, functools.partial(MetricsEndpoint, enabled=settings.metrics_enabled))
    at = middlewares.index(ExceptionMiddleware)
    middlewares.insert(at, functools.partial(RequestContextMiddleware, services=services))
    # Outside the exception middleware, so it sees the final status of every failure (401, 400, 413 ...).
    middlewares.insert(at + 1, functools.partial(ClientIpLimitMiddleware, settings=settings))
    signed = {BASE_PATH + "/whatsapp/webhook": lambda body, headers: check_signature(settings.meta_app_secret, body, headers.get("x-hub-signature-256"))}
    middlewares.insert(at + 3, functools.partial(
        InputGuardMiddleware, max_body_bytes=settings.max_body_bytes, ui_prefix=BASE_PATH + "/ui/", signed=signed,
        json_by_default=(BASE_PATH + "/unipile/webhooks", BASE_PATH + "/unipile/notify/", BASE_PATH + "/whatsapp/webhook"),
    ))

    app = FlaskApp(
        __name__,
        specification_dir=SPEC_DIR,
        middlewares=middlewares,
        jsonifier=Jsonifier(json, separators=(",", ":"), ensure_ascii=False),
    )
    app.add_api(
        spec,
        base_path=BASE_PATH,
        strict_validation=True,
        validate_responses=settings.validate_responses,
        swagger_ui_options=SwaggerUIOptions(swagger_ui=settings.swagger_ui, swagger_ui_path="/ui"),
    )
    handler = make_error_handler(routes, browser_failures={BASE_PATH + "/whatsapp/oauth/callback": settings.frontend_failure_url})
    for exc_class in (AppError, Exception):
        app.add_error_handler(exc_class, handler)
    from connexion.exceptions import ProblemException
    from starlette.exceptions import HTTPException

    app.add_error_handler(ProblemException, handler)
    app.add_error_handler(HTTPException, handler)

    flask_app = app.app
    flask_app.extensions["integrations"] = services
    flask_app.url_map.strict_slashes = False
    build_limiter(flask_app, settings)
    _prepare_indexes(flask_app, skip=frozenset({BASE_PATH + "/health", BASE_PATH + "/ready"}))
    return app


def _prepare_indexes(flask_app: flask.Flask, *, skip: frozenset[str]) -> None:
    """Create indexes now, or on the first request once the database is reachable."""
    state = {"ready": False}

    def ensure() -> None:
        if not state["ready"]:
            database.ensure_indexes(ALL_DOCUMENTS)
            state["ready"] = True

    try:
        ensure()
    except PyMongoError as exc:
        log.warning("database not reachable at start-up (%s); indexes will be created on first use", type(exc).__name__)

    def ensure_before_request() -> None:
        # The probes answer on their own terms: liveness never waits for the database, readiness pings it briefly.
        if flask.request.path not in skip:
            ensure()

    flask_app.before_request(ensure_before_request)
