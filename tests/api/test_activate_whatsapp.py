"""POST /whatsapp/activate: OAuth, QR and direct-activation variants."""
from __future__ import annotations

from tests.conftest import BUSINESS, OTHER_BUSINESS, OTHER_USER, USER, auth
from tests.support.flows import (
    ACTIVATE, AUTHORIZE_URL, SANDBOX_PHONE, SCAN_URL, SPEC_ACTIVATE, decide, decode_qr, error, scan,
)


def activate(client, headers=None, body=None):
    return client.post(ACTIVATE, headers=headers or auth(), json=body or SPEC_ACTIVATE)


def test_activate_whatsapp_spec_payload_oauth_variant(client, db):
    response = activate(client)
    assert response.status_code == 200
    body = response.json()
    assert body == {"success": True, "data": {"authUrl": body["data"]["authUrl"], "phoneNumber": "pending"}}
    assert AUTHORIZE_URL.match(body["data"]["authUrl"])
    stored = db.whatsapp_integrations.find_one({})
    assert (stored["businessId"], stored["status"], stored["phoneNumber"], stored["mode"], stored["activatedBy"]) == (
        BUSINESS, "pending", "pending", "oauth", USER)


def test_activate_whatsapp_qr_mode_variant(make_client, db):
    client = make_client(WHATSAPP_MODE="qr")
    response = activate(client)
    assert response.status_code == 200
    body = response.json()
    assert body == {"success": True, "data": {"qrCode": body["data"]["qrCode"], "phoneNumber": "pending"}}
    assert SCAN_URL.match(decode_qr(body["data"]["qrCode"]))
    assert db.whatsapp_integrations.find_one({})["mode"] == "qr"


def test_activate_whatsapp_pending_again_gives_fresh_link_same_record(client, db):
    first = activate(client).json()["data"]
    second = activate(client).json()["data"]
    assert first["authUrl"] != second["authUrl"]
    assert db.whatsapp_integrations.count_documents({}) == 1
    assert decide(client, first).status_code == 404


def test_activate_whatsapp_active_gives_direct_variant_repeatably(client, db):
    link = activate(client).json()["data"]
    assert decide(client, link).status_code == 303
    stored = db.whatsapp_integrations.find_one({})
    assert stored["status"] == "active" and SANDBOX_PHONE.match(stored["phoneNumber"])
    for _ in range(2):
        response = activate(client)
        assert response.status_code == 200
        assert response.json() == {"success": True, "data": {"phoneNumber": stored["phoneNumber"], "status": "active"}}
    assert db.whatsapp_integrations.count_documents({}) == 1
    assert db.whatsapp_integrations.find_one({}) == stored


def test_activate_whatsapp_qr_scan_then_direct_variant(make_client, db):
    client = make_client(WHATSAPP_MODE="qr")
    link = activate(client).json()["data"]
    response = scan(client, link)
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"status": "active"}}
    phone = db.whatsapp_integrations.find_one({})["phoneNumber"]
    assert SANDBOX_PHONE.match(phone)
    assert activate(client).json() == {"success": True, "data": {"phoneNumber": phone, "status": "active"}}


def test_activate_whatsapp_denied_then_retry_gives_new_link(client, db):
    link = activate(client).json()["data"]
    decide(client, link, "deny")
    assert db.whatsapp_integrations.find_one({})["status"] == "error"
    again = activate(client)
    assert again.status_code == 200
    assert again.json()["data"]["phoneNumber"] == "pending"
    assert db.whatsapp_integrations.find_one({})["status"] == "pending"
    assert db.whatsapp_integrations.count_documents({}) == 1


def test_activate_whatsapp_other_business_id_forbidden(client, db):
    response = activate(client, body={"businessId": OTHER_BUSINESS})
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "businessId must be the business of your token")
    assert db.whatsapp_integrations.count_documents({}) == 0


def test_activate_whatsapp_member_forbidden(client, db):
    response = activate(client, headers=auth(role="member"))
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "Your role may only read")
    assert db.whatsapp_integrations.count_documents({}) == 0


def test_activate_whatsapp_missing_business_id_rejected(client, db):
    response = client.post(ACTIVATE, headers=auth(), json={})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert db.whatsapp_integrations.count_documents({}) == 0


def test_activate_whatsapp_one_record_per_business(client, db):
    activate(client)
    activate(client, headers=auth(OTHER_BUSINESS, OTHER_USER), body={"businessId": OTHER_BUSINESS})
    assert sorted(d["businessId"] for d in db.whatsapp_integrations.find({})) == sorted([BUSINESS, OTHER_BUSINESS])
