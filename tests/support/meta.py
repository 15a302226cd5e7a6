"""Helpers for tests that drive WhatsApp activation through Meta (OAuth mode) and Meta's webhook."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.conftest import BUSINESS, USER, auth
from tests.fakes.meta_graph import APP_SECRET
from tests.support.flows import ACTIVATE

CALLBACK = "/api/v1/whatsapp/oauth/callback"
INTEGRATION = "/api/v1/whatsapp/integration"
WEBHOOK = "/api/v1/whatsapp/webhook"
SUCCESS_URL = "http://testserver/api/v1/sandbox/complete?outcome=success"
FAILURE_URL = "http://testserver/api/v1/sandbox/complete?outcome=failure"


def start(client, business: str = BUSINESS, user: str = USER) -> str:
    """POST /whatsapp/activate and return the state of the Facebook authorisation URL."""
    response = client.post(ACTIVATE, headers=auth(business, user), json={"businessId": business})
    assert response.status_code == 200, response.text
    return parse_qs(urlsplit(response.json()["data"]["authUrl"]).query)["state"][0]


def callback(client, **query: str):
    """The browser coming back from Facebook to the OAuth callback."""
    return client.get(f"{CALLBACK}?{urlencode(query)}")


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    """Headers Meta sends with a webhook delivery."""
    return {"Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def account_update(waba_id: str, event: str, **value: Any) -> bytes:
    """A webhook delivery with one account_update change, as Meta sends it."""
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "time": 1764800000, "changes": [
        {"field": "account_update", "value": {"event": event, **value}}]}]}).encode()
