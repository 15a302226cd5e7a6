"""Typed API errors and the one mapping from any exception to the error envelope."""
from __future__ import annotations

import json
import logging
import re

log = logging.getLogger(__name__)

ENVELOPE_TYPE = "application/json"


class AppError(Exception):
    """An error with an HTTP status and a stable code; its message is safe to show."""

    status_code = 500
    code = "INTERNAL_ERROR"
    message = "Internal server error"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers = headers or {}


class ValidationError(AppError):
    status_code, code, message = 400, "VALIDATION_ERROR", "Request is invalid"


class Unauthorized(AppError):
    status_code, code, message = 401, "UNAUTHORIZED", "Authentication required: send Authorization: Bearer <token>"


class InvalidToken(AppError):
    status_code, code, message = 401, "INVALID_TOKEN", "Token is invalid"


class TokenExpired(AppError):
    status_code, code, message = 401, "TOKEN_EXPIRED", "Token has expired"


class Forbidden(AppError):
    status_code, code, message = 403, "FORBIDDEN", "Not allowed"


class NotFound(AppError):
    status_code, code, message = 404, "NOT_FOUND", "Resource not found"


class ConnectionNotFound(AppError):
    status_code, code, message = 404, "CONNECTION_NOT_FOUND", "Connection not found"


class MethodNotAllowed(AppError):
    status_code, code, message = 405, "METHOD_NOT_ALLOWED", "Method not allowed"


class ConnectionExists(AppError):
    status_code, code, message = 409, "CONNECTION_EXISTS", "A connection with this platform and name already exists"


class ConnectionNotReady(AppError):
    status_code, code, message = 409, "CONNECTION_NOT_READY", "Connection is not ready"


class ConnectionInProgress(AppError):
    status_code, code, message = 409, "CONNECTION_IN_PROGRESS", "Another attempt to link this account is still in progress; try again shortly"


class PayloadTooLarge(AppError):
    status_code, code, message = 413, "PAYLOAD_TOO_LARGE", "Request body is too large"


class UnsupportedMediaType(AppError):
    status_code, code, message = 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json"


class RateLimited(AppError):
    status_code, code, message = 429, "RATE_LIMITED", "Too many requests"


class ProviderError(AppError):
    status_code, code, message = 502, "PROVIDER_ERROR", "The messaging provider rejected the request"


class ProviderUnavailable(AppError):
    status_code, code, message = 503, "PROVIDER_UNAVAILABLE", "The messaging provider is unavailable; try again shortly"


class DatabaseUnavailable(AppError):
    status_code, code, message = 503, "DATABASE_UNAVAILABLE", "The database is unavailable; try again shortly"


class AuthUnavailable(AppError):
    status_code, code, message = 503, "AUTH_UNAVAILABLE", "The token signing keys cannot be fetched; try again shortly"


_BY_STATUS = {
    400: ValidationError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
}


def envelope(status: int, code: str, message: str) -> bytes:
    """The error body every error response carries."""
    return json.dumps({"success": False, "message": message, "code": code}).encode()


def to_app_error(exc: BaseException) -> AppError:
    """Translate any exception raised while serving a request into an AppError."""
    if isinstance(exc, AppError):
        return exc
    # Imported here so this module stays importable without the web stack (CLI, tests).
    from connexion.exceptions import ProblemException
    from mongoengine.errors import OperationError as MongoEngineOperationError
    from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, ServerSelectionTimeoutError
    from starlette.exceptions import HTTPException
    from werkzeug.exceptions import HTTPException as WerkzeugHTTPException

    if isinstance(exc, ProblemException):
        return _from_problem(exc)
    if isinstance(exc, (HTTPException, WerkzeugHTTPException)):
        status = getattr(exc, "status_code", None) or getattr(exc, "code", 500)
        if 300 <= status < 400:
            # A routing redirect (e.g. a merged slash) would drop the Authorization header: the path names nothing.
            return NotFound()
        cls = _BY_STATUS.get(status)
        if cls is None:
            return _internal(exc)
        return cls(headers=dict(getattr(exc, "headers", None) or {}))
    if isinstance(exc, (PyMongoError, MongoEngineOperationError)):
        from core import metrics

        metrics.count_database_error(exc)
    if isinstance(exc, (ConnectionFailure, ServerSelectionTimeoutError, ExecutionTimeout)):
        log.warning("database unavailable: %s", type(exc).__name__)
        # A restarted server fails the first request on each pooled connection once; a retry succeeds.
        return DatabaseUnavailable(headers={"Retry-After": "1"})
    return _internal(exc)


def _internal(exc: BaseException) -> AppError:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return AppError()


def _from_problem(exc) -> AppError:
    status = exc.status
    detail = str(exc.detail or exc.title or "")
    if status == 401:
        if "No authorization token" in detail or "Invalid authorization header" in detail:
            return Unauthorized()
        return InvalidToken()
    if status == 400:
        return ValidationError(_validation_message(detail))
    if status == 415:
        # Connexion's detail ends with the media types the operation accepts (the form page is not JSON).
        accepted = re.search(r"expected \[([^\]]*)\]$", detail)
        if accepted:
            return UnsupportedMediaType("Content-Type must be " + ", ".join(t.strip(" '\"") for t in accepted.group(1).split(",")))
        return UnsupportedMediaType()
    cls = _BY_STATUS.get(status)
    if cls is None:
        return _internal(exc)
    return cls()


# Body fields whose values must never be echoed back, even in a validation message.
_SECRET_BODY_FIELDS = {"credentials": "credentials must be a JSON object of at most 100 properties"}
_ERROR_PATH = re.compile(r" - '([^'.\[]+)[^']*'$")


def _validation_message(detail: str) -> str:
    """Connexion's validation detail, shortened and without echoing huge inputs or secrets."""
    path = _ERROR_PATH.search(detail.strip().split("\n", 1)[0])
    if path and path.group(1) in _SECRET_BODY_FIELDS:
        return _SECRET_BODY_FIELDS[path.group(1)]
    # Parameter errors append jsonschema's multi-line dump of the schema; the first line says what is wrong.
    detail = detail.strip().split("\n", 1)[0].strip() or "Request is invalid"
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return detail
