"""Meta's WhatsApp Business Platform (Graph API): Embedded Signup through Facebook Login for Business.

Errors are translated here, at the boundary: nothing Meta sends back (messages, traces) and
nothing secret (app secret, access tokens, codes, PINs) leaves this module in a message, a
log line or an exception. Graph calls are never repeated automatically: an authorisation
code works once and Meta counts registration attempts, so a repeated call could fail or
lock the number where the first one succeeded.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any
from urllib.parse import urlencode

import requests

from core.errors import Forbidden, ProviderError, ProviderUnavailable
from core.settings import Settings, SettingsError
from providers.base import LinkStart, WhatsAppProvider, WhatsAppSignup, pooled_session

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3.05
_GRAPH_ID = re.compile(r"^[0-9]{1,40}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
# Graph error codes that mean "slow down" or "try again later" rather than "no".
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131016})
REAUTHORISE = "Meta no longer accepts the access token (expired or revoked): re-authorisation needed; activate WhatsApp again"
_MESSAGES = {
    190: REAUTHORISE,
    133005: "Meta refused the PIN: this phone number already has another two-step verification PIN; "
            "turn it off in WhatsApp Manager and activate WhatsApp again",
    133016: "Meta blocked registering this phone number after too many attempts (10 in 72 hours); try again later",
}


class GraphError(ProviderError):
    """Meta refused a Graph call; `graph_code` is Meta's numeric error code (safe to log)."""

    def __init__(self, message: str, *, graph_code: int | None = None) -> None:
        super().__init__(message)
        self.graph_code = graph_code


class GraphClient:
    """One pooled HTTP session to the Graph API with explicit timeouts and error translation."""

    def __init__(
        self, *, base_url: str, version: str, session: requests.Session | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, 10.0),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.version = version
        self._timeout = timeout
        self._session = pooled_session(session)

    def __repr__(self) -> str:
        return f"GraphClient(base_url={self.base_url!r}, version={self.version!r})"

    def call(self, method: str, path: str, *, token: str | None = None, params: dict[str, str] | None = None,
             body: dict[str, Any] | None = None, step: str) -> dict[str, Any]:
        """Send one Graph call; return its JSON object or raise GraphError / ProviderUnavailable."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.base_url}/{self.version}/{path.lstrip('/')}"
        try:
            response = self._session.request(method, url, params=params, json=body, headers=headers, timeout=self._timeout)
            payload = _json_object(response)
        except (requests.RequestException, ValueError) as exc:
            # Exception texts contain the URL and its query string (the app secret): only the type is logged.
            log.warning("meta graph %s failed: %s", step, type(exc).__name__)
            raise ProviderUnavailable("Meta is unavailable; try again shortly") from None
        if response.status_code >= 400 or "error" in payload:
            raise _translate(step, response.status_code, payload.get("error"))
        return payload


def _json_object(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object; ValueError for anything else (cut-off or malformed bodies included)."""
    payload = response.json()
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload


def _translate(step: str, status: int, error: Any) -> ProviderError | ProviderUnavailable:
    """A safe typed error for a Graph error answer; Meta's own message is never passed on."""
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    log.warning("meta graph %s answered %d (code %s, subcode %s)", step, status, code, subcode)
    if status >= 500 or status == 429 or code in _TRANSIENT_CODES or error.get("is_transient") is True:
        return ProviderUnavailable("Meta is unavailable; try again shortly")
    if code in _MESSAGES:
        return GraphError(_MESSAGES[code], graph_code=code)
    if step == "code exchange" and code == 100:
        return GraphError("Meta did not accept the authorisation code (expired or already used); activate WhatsApp again", graph_code=code)
    return GraphError(f"Meta rejected the {step} (Graph error {code if code is not None else status})", graph_code=code)


class MetaWhatsApp(WhatsAppProvider):
    """WhatsApp activation with Embedded Signup: consent at Facebook, then code exchange, registration, subscription."""

    name = "meta"

    def __init__(
        self, client: GraphClient, *, app_id: str, app_secret: str, config_id: str, redirect_uri: str, dialog_url: str,
    ) -> None:
        self._client = client
        self._app_id = app_id
        self._app_secret = app_secret
        self._config_id = config_id
        self._redirect_uri = redirect_uri
        self._dialog_url = dialog_url.rstrip("/")

    def __repr__(self) -> str:
        return f"MetaWhatsApp(app_id={self._app_id!r}, app_secret=***)"

    def start_activation(self, *, business_id: str, reference: str, mode: str, account_id: str | None = None) -> LinkStart:
        """The Facebook Login for Business URL; `state` is the attempt's single-use reference."""
        if mode != "oauth":
            raise ProviderError("WhatsApp activation through Meta needs WHATSAPP_MODE=oauth")
        query = urlencode({
            "client_id": self._app_id, "redirect_uri": self._redirect_uri, "state": reference,
            "config_id": self._config_id, "response_type": "code", "override_default_response_type": "true",
        })
        return LinkStart(auth_url=f"{self._dialog_url}/{self._client.version}/dialog/oauth?{query}")

    def finish_signup(self, code: str) -> WhatsAppSignup:
        """Exchange the code for the business's token and find the WhatsApp Business Account and its number."""
        token = self._exchange(code)
        waba_id = self._waba_of(token)
        phone_id, phone = self._phone_of(waba_id, token)
        return WhatsAppSignup(access_token=token, waba_id=waba_id, phone_number_id=phone_id, phone_number=phone)

    def register_number(self, signup: WhatsAppSignup, pin: str) -> None:
        """Register the number for the Cloud API with our two-step verification PIN."""
        self._client.call("POST", f"/{signup.phone_number_id}/register", token=signup.access_token,
                          body={"messaging_product": "whatsapp", "pin": pin}, step="number registration")

    def subscribe_app(self, signup: WhatsAppSignup) -> None:
        """Subscribe our app to the WhatsApp Business Account's webhooks."""
        self._client.call("POST", f"/{signup.waba_id}/subscribed_apps", token=signup.access_token, step="webhook subscription")

    def unsubscribe_app(self, *, waba_id: str, access_token: str) -> None:
        """Unsubscribe our app; access Meta already withdrew (token revoked, account gone) counts as done."""
        try:
            self._client.call("DELETE", f"/{waba_id}/subscribed_apps", token=access_token, step="webhook unsubscription")
        except GraphError as exc:
            if exc.graph_code not in (100, 190, 200):
                raise
            log.info("meta access to the whatsapp business account was already withdrawn (code %s)", exc.graph_code)

    def _exchange(self, code: str) -> str:
        payload = self._client.call("GET", "/oauth/access_token", step="code exchange", params={
            "client_id": self._app_id, "client_secret": self._app_secret, "redirect_uri": self._redirect_uri, "code": code,
        })
        token = payload.get("access_token")
        if not isinstance(token, str) or not 0 < len(token) <= 4096:
            log.warning("meta code exchange answered without an access token")
            raise ProviderUnavailable("Meta is unavailable; try again shortly")
        return token

    def _waba_of(self, token: str) -> str:
        """The WhatsApp Business Account the user shared, from the token's granular scopes."""
        payload = self._client.call("GET", "/debug_token", token=f"{self._app_id}|{self._app_secret}",
                                    params={"input_token": token}, step="token inspection")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        scopes = data.get("granular_scopes") if isinstance(data.get("granular_scopes"), list) else []
        # Management scope first: that is the account the subscription and number lookup need.
        for wanted in ("whatsapp_business_management", "whatsapp_business_messaging"):
            for scope in scopes:
                if isinstance(scope, dict) and scope.get("scope") == wanted:
                    ids = [i for i in scope.get("target_ids") or [] if isinstance(i, str) and _GRAPH_ID.match(i)]
                    if ids:
                        return ids[0]
        raise ProviderError("Meta did not grant access to a WhatsApp Business Account; activate WhatsApp again and choose one")

    def _phone_of(self, waba_id: str, token: str) -> tuple[str, str]:
        """The first phone number of the account, as (Graph id, +digits)."""
        payload = self._client.call("GET", f"/{waba_id}/phone_numbers", token=token, step="phone number lookup")
        for number in payload.get("data") if isinstance(payload.get("data"), list) else []:
            if not isinstance(number, dict):
                continue
            digits = re.sub(r"[^0-9]", "", str(number.get("display_phone_number") or ""))
            phone_id = number.get("id")
            if isinstance(phone_id, str) and _GRAPH_ID.match(phone_id) and 6 <= len(digits) <= 20:
                return phone_id, "+" + digits
        raise ProviderError("The WhatsApp Business Account has no phone number yet; add one in WhatsApp Manager and activate again")


def check_signature(app_secret: str | None, body: bytes, header: str | None) -> None:
    """Raise 403 unless X-Hub-Signature-256 is HMAC-SHA256 of the raw body with the app secret."""
    match = _SIGNATURE.match(header or "")
    if not app_secret or match is None:
        raise Forbidden("Missing or wrong X-Hub-Signature-256")
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match.group(1).lower()):
        raise Forbidden("Missing or wrong X-Hub-Signature-256")


def build_meta(settings: Settings) -> MetaWhatsApp:
    """The live Meta provider from settings."""
    missing = settings.missing_meta()
    if missing:
        raise SettingsError("PROVIDERS=live needs " + ", ".join(missing))
    client = GraphClient(base_url=settings.meta_graph_url, version=settings.meta_graph_version,
                         timeout=(CONNECT_TIMEOUT_SECONDS, settings.meta_read_timeout_ms / 1000))
    return MetaWhatsApp(
        client, app_id=settings.meta_app_id, app_secret=settings.meta_app_secret, config_id=settings.meta_config_id,
        redirect_uri=settings.meta_redirect_uri, dialog_url=settings.meta_dialog_url,
    )
