"""The sandbox pages: QR scan and consent flows take a connection from pending to active (or error)."""
from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from tests.conftest import auth
from tests.support.flows import (
    CONNECTIONS, PUBLIC_BASE_URL, SANDBOX_ACCOUNT, create, decide, error, link_of, path_of, scan,
)

GONE = error("NOT_FOUND", "This link is unknown, expired or already used")
SUCCESS_URL = f"{PUBLIC_BASE_URL}/api/v1/sandbox/complete?outcome=success"
FAILURE_URL = f"{PUBLIC_BASE_URL}/api/v1/sandbox/complete?outcome=failure"


def fetch(client, made):
    return client.get(f"{CONNECTIONS}/{made['id']}", headers=auth()).json()["data"]


@pytest.mark.parametrize("platform", ["whatsapp", "telegram"])
def test_scan_qr_flow_makes_connection_active(client, db, platform):
    made = create(client, platform, "Phone")
    page = client.get(path_of(link_of(made)))
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Scan QR code" in page.text and f"the {platform} account &#x27;Phone&#x27;" in page.text
    response = scan(client, made)
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"status": "active"}}
    fetched = fetch(client, made)
    assert (fetched["status"], fetched["connectionId"]) == ("active", made["connectionId"])
    assert db.connections.find_one({"_id": ObjectId(made["id"])})["status"] == "active"


def test_scan_reference_single_use(client, db):
    made = create(client)
    assert scan(client, made).status_code == 200
    again = scan(client, made)
    assert again.status_code == 404
    assert again.json() == GONE
    assert client.get(path_of(link_of(made))).json() == GONE


def test_scan_reference_expired(client, db):
    made = create(client)
    db.auth_attempts.update_many({}, {"$set": {"expiresAt": dt.datetime.utcnow() - dt.timedelta(seconds=1)}})
    assert client.get(path_of(link_of(made))).status_code == 404
    response = scan(client, made)
    assert response.status_code == 404
    assert response.json() == GONE
    assert db.connections.find_one({"_id": ObjectId(made["id"])})["status"] == "pending"


def test_scan_reference_expiry_follows_setting(make_client, db):
    client = make_client(AUTH_LINK_TTL_SECONDS=30)
    before = dt.datetime.utcnow()
    create(client)
    expires = db.auth_attempts.find_one({})["expiresAt"]
    assert dt.timedelta(seconds=29) <= expires - before <= dt.timedelta(seconds=32)


def test_scan_unknown_reference_not_found(client, db):
    response = client.post("/api/v1/sandbox/scan/" + "A" * 32)
    assert response.status_code == 404
    assert response.json() == GONE


def test_scan_malformed_reference_rejected(client, db):
    response = client.post("/api/v1/sandbox/scan/short")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_scan_oauth_reference_on_scan_page_not_found(client, db):
    made = create(client, "instagram", "Brand")
    reference = link_of(made).rsplit("/", 1)[1]
    for response in (client.get(f"/api/v1/sandbox/scan/{reference}"), client.post(f"/api/v1/sandbox/scan/{reference}")):
        assert response.status_code == 404
        assert response.json() == GONE
    # The wrong page did not use up the reference.
    assert decide(client, made).status_code == 303



def test_consent_page_of_qr_reference_not_found(client, db):
    made = create(client, "telegram", "Support")
    reference = link_of(made).rsplit("/", 1)[1]
    for response in (client.get(f"/api/v1/sandbox/authorize/{reference}"),
                     client.post(f"/api/v1/sandbox/authorize/{reference}", data={"decision": "approve"})):
        assert response.status_code == 404
        assert response.json() == GONE
    assert db.connections.find_one({})["status"] == "pending"
    assert scan(client, made).status_code == 200

@pytest.mark.parametrize("platform", ["instagram", "linkedin", "messenger", "email"])
def test_authorize_approve_makes_connection_active(client, db, platform):
    made = create(client, platform, "Account")
    page = client.get(path_of(made["authUrl"]))
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'value="approve"' in page.text and 'value="deny"' in page.text
    response = decide(client, made, "approve")
    assert response.status_code == 303
    fetched = fetch(client, made)
    assert fetched["status"] == "active"
    assert SANDBOX_ACCOUNT.match(fetched["connectionId"])
    assert response.headers["location"] == f"{SUCCESS_URL}&connectionId={fetched['connectionId']}"
    assert response.content == b""


def test_authorize_deny_puts_connection_in_error(client, db):
    made = create(client, "linkedin", "Denied")
    response = decide(client, made, "deny")
    assert response.status_code == 303
    assert response.headers["location"] == f"{FAILURE_URL}&connectionId={made['connectionId']}"
    fetched = fetch(client, made)
    assert (fetched["status"], fetched["statusReason"]) == ("error", "Authorisation was denied")
    stored = db.connections.find_one({"_id": ObjectId(made["id"])})
    assert stored["statusReason"] == "Authorisation was denied"


def test_authorize_redirects_to_configured_frontend(make_client, db):
    client = make_client(FRONTEND_SUCCESS_URL="https://app.example.com/integrations/done",
                         FRONTEND_FAILURE_URL="https://app.example.com/integrations/failed?x=1")
    approved = create(client, "instagram", "Yes")
    denied = create(client, "instagram", "No")
    yes = decide(client, approved, "approve")
    assert yes.headers["location"] == f"https://app.example.com/integrations/done?connectionId={fetch(client, approved)['connectionId']}"
    no = decide(client, denied, "deny")
    assert no.headers["location"] == f"https://app.example.com/integrations/failed?x=1&connectionId={denied['connectionId']}"


def test_authorize_reference_single_use(client, db):
    made = create(client, "email", "Mail")
    assert decide(client, made).status_code == 303
    again = decide(client, made, "deny")
    assert again.status_code == 404
    assert again.json() == GONE
    assert fetch(client, made)["status"] == "active"


def test_authorize_invalid_decision_rejected(client, db):
    made = create(client, "email", "Mail")
    response = decide(client, made, "maybe")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert decide(client, made).status_code == 303


def test_authorize_json_body_unsupported(client, db):
    made = create(client, "email", "Mail")
    response = client.post(path_of(made["authUrl"]), json={"decision": "approve"})
    assert response.status_code == 415
    assert response.json() == error("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/x-www-form-urlencoded")
    assert fetch(client, made)["status"] == "pending"


def test_sandbox_link_of_deleted_connection_gone(client, db):
    made = create(client)
    client.delete(f"{CONNECTIONS}/{made['id']}", headers=auth())
    assert scan(client, made).json() == GONE


def test_complete_page_outcomes(client, db):
    ok = client.get("/api/v1/sandbox/complete?outcome=success&connectionId=sbx_abc")
    assert ok.status_code == 200 and "The account sbx_abc is linked" in ok.text
    failed = client.get("/api/v1/sandbox/complete?outcome=failure")
    assert failed.status_code == 200 and "was not linked" in failed.text


def test_sandbox_pages_not_served_with_live_providers(make_client, db):
    from app import create_app
    from core.settings import Settings
    from providers.base import Providers
    from providers.sandbox import SandboxConnections, SandboxWhatsApp
    from tests.support.client import ContractClient

    client = make_client()
    made = create(client)
    env = {**client.app.app.extensions["integrations"].settings.__dict__}
    live = Settings(**{**env, "providers": "live"})
    live_client = ContractClient(create_app(live, providers=Providers(
        connections=SandboxConnections(PUBLIC_BASE_URL), whatsapp=SandboxWhatsApp(PUBLIC_BASE_URL))))
    response = live_client.get(path_of(link_of(made)))
    assert response.status_code == 404
    assert response.json() == error("NOT_FOUND", "Resource not found")
