"""Unipile (v1 REST API): native QR connect, hosted auth links, account deletion and lookup.

Errors are translated here, at the boundary: nothing Unipile sends back (bodies, titles,
details) and nothing that identifies our account (DSN, API key) leaves this module in a
message, a log line or an exception.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import hashlib
import hmac
import logging
import re
import time
from typing import Any, Callable

import requests

from core.errors import ConnectionInProgress, ProviderError, ProviderUnavailable
from core.settings import QR_PLATFORMS, Settings, SettingsError
from providers.base import ConnectionProvider, LinkStart, WhatsAppProvider, pooled_session

log = logging.getLogger(__name__)

# Unipile's provider names. Email goes through hosted auth with the three mail providers
# offered side by side, so the user picks Gmail, Outlook or any IMAP server on Unipile's page.
NATIVE_PROVIDERS = {"whatsapp": "WHATSAPP", "telegram": "TELEGRAM"}
HOSTED_PROVIDERS = {
    "instagram": ["INSTAGRAM"],
    "linkedin": ["LINKEDIN"],
    "messenger": ["MESSENGER"],
    "email": ["GOOGLE", "OUTLOOK", "MAIL"],
}
IDEMPOTENT = frozenset({"GET", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_ERROR_TYPE = re.compile(r"^[A-Za-z0-9_/.-]{1,80}$")
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.:=@-]{1,200}$")


# Connect and read timeouts of a quick call (answered within a second or given up).
QUICK_TIMEOUT = (0.4, 0.5)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: idempotent calls on any transient failure, others only when told to."""

    attempts: int = 3
    backoff_seconds: float = 0.25
    max_retry_after_seconds: float = 5.0


class UnipileClient:
    """One pooled HTTP session to a Unipile DSN, with timeouts, bounded retries and error translation."""

    def __init__(
        self,
        *,
        dsn: str,
        api_key: str,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dsn = dsn.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep
        # Retries are ours (below), so the session never repeats a request on its own.
        self._session = pooled_session(session)

    def __repr__(self) -> str:
        return "UnipileClient(dsn=***, api_key=***)"

    def call(self, method: str, path: str, *, body: dict[str, Any] | None = None, allow: tuple[int, ...] = (),
             quick: bool = False) -> tuple[int, dict[str, Any]]:
        """Send one API call; return (status, JSON object) for 2xx or an allowed status, else raise a typed error.

        A quick call is tried once with short timeouts: for callers that must answer within a second.
        """
        attempt = 0
        while True:
            attempt += 1
            last = quick or attempt >= self._retry.attempts
            try:
                response = self._session.request(
                    method, self.dsn + path, json=body, timeout=QUICK_TIMEOUT if quick else self._timeout,
                    headers={"X-API-KEY": self._api_key, "accept": "application/json"},
                )
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # A POST that timed out may have been carried out: repeating it could create a second account.
                log.warning("unipile %s %s failed: %s (attempt %d)", method, _template(path), type(exc).__name__, attempt)
                if method in IDEMPOTENT and not last:
                    self._sleep(self._backoff(attempt))
                    continue
                raise ProviderUnavailable() from None
            except requests.RequestException as exc:
                log.warning("unipile %s %s failed: %s", method, _template(path), type(exc).__name__)
                raise ProviderUnavailable() from None
            status = response.status_code
            if status in RETRY_STATUSES and not last:
                wait = self._wait_before_retry(method, response, attempt)
                if wait is not None:
                    log.info("unipile %s %s answered %d; retrying in %.2fs", method, _template(path), status, wait)
                    response.close()
                    self._sleep(wait)
                    continue
            return self._result(method, path, response, allow)

    def _wait_before_retry(self, method: str, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before repeating a call, or None when it must not be repeated."""
        status = response.status_code
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > self._retry.max_retry_after_seconds:
            return None  # too long to hold the caller's request open; the caller is told to come back later
        if status == 429 or (status == 503 and retry_after is not None):
            # Rate limited, or refused with a time to come back: the request was not carried out,
            # so even a POST may be repeated. A bare 503 to a POST is not repeated.
            return retry_after if retry_after is not None else self._backoff(attempt)
        return self._backoff(attempt) if method in IDEMPOTENT else None

    def _backoff(self, attempt: int) -> float:
        return self._retry.backoff_seconds * (2 ** (attempt - 1))

    def _result(self, method: str, path: str, response: requests.Response, allow: tuple[int, ...]) -> tuple[int, dict[str, Any]]:
        status = response.status_code
        kind = _error_type(response) if status >= 400 else None
        if status >= 400 and status not in allow:
            log.warning("unipile %s %s answered %d (%s)", method, _template(path), status, kind or "no error type")
            if status == 425:
                raise ConnectionInProgress()
            if status in (429, 503):
                seconds = _retry_after(response.headers.get("Retry-After"))
                headers = {"Retry-After": str(int(seconds + 0.999))} if seconds is not None else {}
                raise ProviderUnavailable(headers=headers)
            if status >= 500:
                raise ProviderUnavailable()
            raise ProviderError(_safe_message(status))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            log.warning("unipile %s %s answered %d with a body that is not a JSON object", method, _template(path), status)
            raise ProviderUnavailable()
        return status, payload


def _safe_message(status: int) -> str:
    if status in (401, 403):
        return "The messaging provider refused this server's credentials"
    if status == 404:
        return "The messaging provider does not know this account"
    return f"The messaging provider rejected the request (HTTP {status})"


def _error_type(response: requests.Response) -> str | None:
    """Unipile's error type (e.g. errors/invalid_credentials) when it is a plain identifier, for logs only."""
    try:
        kind = response.json().get("type")
    except (ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) and _ERROR_TYPE.match(kind) else None


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (moment - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _template(path: str) -> str:
    """The path with account ids replaced, so log lines group by endpoint."""
    return re.sub(r"(/accounts/)(?!checkpoint$)[^/]+", r"\1{id}", path)


def _account_id(payload: dict[str, Any]) -> str:
    account_id = payload.get("account_id")
    if not isinstance(account_id, str) or not _ACCOUNT_ID.match(account_id):
        log.warning("unipile answered without a usable account_id (object %s)", str(payload.get("object"))[:40])
        raise ProviderUnavailable()
    return account_id


def _qr_text(payload: dict[str, Any]) -> str:
    checkpoint = payload.get("checkpoint")
    if not isinstance(checkpoint, dict):
        raise ProviderError("The messaging provider did not return a QR code; try again")
    if checkpoint.get("type") != "QRCODE":
        kind = checkpoint.get("type")
        kind = kind if isinstance(kind, str) and _ERROR_TYPE.match(kind) else "unknown"
        raise ProviderError(f"The messaging provider asked for a {kind} step, which this API does not support")
    text = checkpoint.get("qrcode")
    if not isinstance(text, str) or not 0 < len(text) <= 2000:
        raise ProviderUnavailable()
    return text


class UnipileConnections(ConnectionProvider):
    """Links messaging accounts through Unipile: QR platforms natively, the others with hosted auth."""

    name = "unipile"

    def __init__(
        self, client: UnipileClient, *, notify_url: str, success_url: str, failure_url: str, link_ttl_seconds: int,
    ) -> None:
        self._client = client
        self._notify_url = notify_url
        self._success_url = success_url
        self._failure_url = failure_url
        self._link_ttl = link_ttl_seconds

    def __repr__(self) -> str:
        return "UnipileConnections(client=***)"

    def start_link(self, *, platform: str, reference: str, account_id: str | None) -> LinkStart:
        """A fresh QR code (QR platforms) or a hosted-auth link; a known account is reconnected, never duplicated."""
        if platform in QR_PLATFORMS:
            return self.start_qr(NATIVE_PROVIDERS[platform], account_id)
        return self._hosted_link(platform, reference, account_id)

    def start_qr(self, provider: str, account_id: str | None) -> LinkStart:
        """Native connect: a fresh QR code for an existing account, or a new account."""
        if account_id is not None:
            status, payload = self._client.call("POST", f"/api/v1/accounts/{account_id}", body={"provider": provider}, allow=(404,))
            if status != 404:
                return LinkStart(account_id=account_id, qr_text=_qr_text(payload))
            # Unipile dropped the account (an unscanned one expires): start a new one instead of failing for good.
            log.info("unipile no longer knows the account to refresh; creating a new one")
        _, payload = self._client.call("POST", "/api/v1/accounts", body={"provider": provider})
        return LinkStart(account_id=_account_id(payload), qr_text=_qr_text(payload))

    def _hosted_link(self, platform: str, reference: str, account_id: str | None) -> LinkStart:
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self._link_ttl)
        body: dict[str, Any] = {
            "type": "create" if account_id is None else "reconnect",
            "providers": HOSTED_PROVIDERS[platform],
            "api_url": self._client.dsn,
            "expiresOn": expires.strftime("%Y-%m-%dT%H:%M:%S.") + f"{expires.microsecond // 1000:03d}Z",
            "name": reference,
            "notify_url": self._notify_url,
            "success_redirect_url": self._success_url,
            "failure_redirect_url": self._failure_url,
        }
        if account_id is not None:
            body["reconnect_account"] = account_id
        _, payload = self._client.call("POST", "/api/v1/hosted/accounts/link", body=body)
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2000:
            log.warning("unipile hosted link answer has no usable url")
            raise ProviderUnavailable()
        return LinkStart(account_id=account_id, auth_url=url)

    def delete_account(self, account_id: str) -> None:
        """Delete the account at Unipile; an account Unipile no longer knows is already gone."""
        status, _ = self._client.call("DELETE", f"/api/v1/accounts/{account_id}", allow=(404,))
        if status == 404:
            log.info("unipile account to delete was already gone")

    def account_phone(self, account_id: str) -> str | None:
        """The phone number of a linked WhatsApp account as +digits, when Unipile reports one now.

        Asked while answering Unipile's webhook, which must answer fast: one quick attempt, and any
        failure is "not known yet" (the webhook answers 503 and Unipile sends the event again).
        """
        try:
            _, payload = self._client.call("GET", f"/api/v1/accounts/{account_id}", quick=True)
        except (ProviderError, ProviderUnavailable, ConnectionInProgress):
            return None
        params = payload.get("connection_params")
        im = params.get("im") if isinstance(params, dict) else None
        raw = im.get("phone_number") if isinstance(im, dict) else None
        digits = re.sub(r"[^0-9]", "", raw) if isinstance(raw, str) else ""
        return "+" + digits if 6 <= len(digits) <= 20 else None


class UnipileWhatsApp(WhatsAppProvider):
    """WhatsApp activation in QR mode: a WhatsApp account linked through Unipile native connect."""

    name = "unipile"

    def __init__(self, connections: UnipileConnections) -> None:
        self._connections = connections

    def __repr__(self) -> str:
        return "UnipileWhatsApp(client=***)"

    def start_activation(self, *, business_id: str, reference: str, mode: str, account_id: str | None = None) -> LinkStart:
        """A QR code for the known WhatsApp account at Unipile (a new account when none or gone); QR mode only."""
        if mode != "qr":
            raise ProviderError("WhatsApp activation through Unipile needs WHATSAPP_MODE=qr")
        return self._connections.start_qr(NATIVE_PROVIDERS["whatsapp"], account_id)


def notify_path_secret(webhook_secret: str) -> str:
    """The secret part of the notify URL, derived from the webhook secret so one setting serves both."""
    return hmac.new(webhook_secret.encode(), b"unipile-notify-url", hashlib.sha256).hexdigest()


def build_unipile(settings: Settings) -> UnipileConnections:
    """The live Unipile provider from settings."""
    missing = settings.missing_unipile()
    if missing:
        raise SettingsError("PROVIDERS=live needs " + ", ".join(missing))
    client = UnipileClient(
        dsn=settings.unipile_dsn, api_key=settings.unipile_api_key,
        timeout=(3.05, settings.unipile_read_timeout_ms / 1000),
    )
    return UnipileConnections(
        client,
        notify_url=f"{settings.public_base_url}/api/v1/unipile/notify/{notify_path_secret(settings.unipile_webhook_secret)}",
        success_url=settings.frontend_success_url,
        failure_url=settings.frontend_failure_url,
        link_ttl_seconds=settings.auth_link_ttl_seconds,
    )
