"""The spec's two curl payloads, sent byte for byte as its curl commands send them."""
from __future__ import annotations

from bson import ObjectId

from tests.conftest import auth
from tests.support.flows import (
    ACTIVATE, ACTIVATE_PAYLOAD, AUTHORIZE_URL, CREATE_PAYLOAD, CONNECTIONS, OBJECT_ID, SANDBOX_ACCOUNT, SCAN_URL, decode_qr,
)


def curl(client, url: str, payload: str):
    return client.post(url, headers={**auth(), "Content-Type": "application/json"}, content=payload)


def test_create_connection_spec_curl_payload(client, db):
    response = curl(client, CONNECTIONS, CREATE_PAYLOAD)
    assert response.status_code == 201
    data = response.json()["data"]
    assert response.json() == {"success": True, "data": {
        "id": data["id"], "connectionId": data["connectionId"],
        "checkpoint": {"type": "QRCODE", "qrcode": data["checkpoint"]["qrcode"]}, "status": "pending"}}
    assert OBJECT_ID.match(data["id"]) and SANDBOX_ACCOUNT.match(data["connectionId"])
    assert SCAN_URL.match(decode_qr(data["checkpoint"]["qrcode"]))
    stored = db.connections.find_one({"_id": ObjectId(data["id"])})
    assert (stored["businessId"], stored["userId"], stored["name"], stored["status"]) == (
        "test_business_id", "test_user_id", "Test Connection", "pending")
    # The same curl again reuses the pending connection.
    again = curl(client, CONNECTIONS, CREATE_PAYLOAD)
    assert again.status_code == 200
    assert again.json()["data"]["id"] == data["id"]


def test_activate_whatsapp_spec_curl_payload(client, db):
    response = curl(client, ACTIVATE, ACTIVATE_PAYLOAD)
    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json() == {"success": True, "data": {"authUrl": data["authUrl"], "phoneNumber": "pending"}}
    assert AUTHORIZE_URL.match(data["authUrl"])
    assert db.whatsapp_integrations.find_one({})["businessId"] == "test_business_id"
