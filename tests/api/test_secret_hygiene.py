"""No token, API key, webhook secret, credential, access token or QR payload in any response or log line."""
from __future__ import annotations

import logging

from bson import ObjectId

from core.logs import JsonFormatter
from models.lifecycle import mark_whatsapp_active
from tests.conftest import UNIPILE_WEBHOOK_SECRET, auth
from tests.fakes.unipile import API_KEY
from tests.support.flows import ACTIVATE, SPEC_ACTIVATE, decode_qr
from tests.support.unipile import CONNECTIONS, NOTIFY, SECRET_HEADER, webhook

CREDENTIAL = "CRED-hunter2-never-shown"
ACCESS_TOKEN = "EAAG-access-token-never-shown"


def every_line(caplog) -> list[str]:
    """Each server log record exactly as the JSON handler writes it, traceback included."""
    # httpx is the test client's own library (the server talks to providers with requests).
    return [JsonFormatter().format(record) for record in caplog.records if record.name != "httpx"]


def test_every_flow_leaks_no_secret(live_client, fake_unipile, db, caplog):
    caplog.set_level(logging.DEBUG)
    headers = auth()
    token = headers["Authorization"].split()[1]
    responses = []

    def call(method, url, **kwargs):
        response = live_client.request(method, url, **kwargs)
        responses.append(response)
        return response

    created = call("POST", CONNECTIONS, headers=headers, json={"platform": "whatsapp", "name": "Line", "credentials": {"password": CREDENTIAL}})
    qr_payload = decode_qr(created.json()["data"]["checkpoint"]["qrcode"])
    connection_id = created.json()["data"]["id"]
    account = db.connections.find_one({"_id": ObjectId(connection_id)})["connectionId"]
    call("POST", CONNECTIONS, headers=headers, json={"platform": "whatsapp", "name": "Line"})
    call("GET", CONNECTIONS, headers=headers)
    call("GET", f"{CONNECTIONS}/{connection_id}", headers=headers)
    responses.append(webhook(live_client, account, "OK"))
    responses.append(webhook(live_client, account, "OK", secret="wrong-" + UNIPILE_WEBHOOK_SECRET))
    call("POST", NOTIFY, json={"status": "CREATION_SUCCESS", "account_id": account, "name": "unknown-reference-0000"})
    call("POST", NOTIFY[:-6] + "zzzzzz", json={"status": "CREATION_SUCCESS", "account_id": account, "name": "x"})
    call("PATCH", f"{CONNECTIONS}/{connection_id}/status", headers=headers, json={"status": "inactive"})
    call("GET", CONNECTIONS, headers={"Authorization": f"Bearer {token}x"})
    call("GET", CONNECTIONS, headers={"Authorization": f"Bearer {token[:-3]}"})
    call("POST", ACTIVATE, headers=headers, json=SPEC_ACTIVATE)
    mark_whatsapp_active(db.whatsapp_integrations.find_one({})["_id"], "+15550100001", access_token=ACCESS_TOKEN)
    call("POST", ACTIVATE, headers=headers, json=SPEC_ACTIVATE)
    # The provider refusing our API key is logged and answered without repeating it.
    fake_unipile.fail("DELETE", f"/api/v1/accounts/{account}", "status", status=401)
    call("DELETE", f"{CONNECTIONS}/{connection_id}", headers=headers)
    call("DELETE", f"{CONNECTIONS}/{connection_id}", headers=headers)

    secrets = {
        "bearer token": token, "Unipile API key": API_KEY, "webhook secret": UNIPILE_WEBHOOK_SECRET,
        "notify path secret": NOTIFY.rsplit("/", 1)[1], "credential": CREDENTIAL, "QR payload": qr_payload,
        "access token": ACCESS_TOKEN,
    }
    lines = every_line(caplog)
    assert len(lines) >= len(responses)
    for label, secret in secrets.items():
        for line in lines:
            assert secret not in line, f"{label} in log line {line[:200]}"
        for response in responses:
            assert secret not in response.text, f"{label} in response to {response.request.url}"
            assert all(secret not in value for value in response.headers.values()), label
