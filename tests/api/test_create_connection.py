"""POST /unipile/connections: QR and OAuth flows, reuse of a pending twin, uniqueness, credentials."""
from __future__ import annotations

import json

import pytest
from bson import ObjectId
from cryptography.fernet import Fernet

from tests.conftest import BUSINESS, TEST_ENCRYPTION_KEY, USER, auth
from tests.support.flows import (
    AUTHORIZE_URL, CONNECTIONS, OAUTH_PLATFORMS, OBJECT_ID, PLACEHOLDER, QR_PLATFORMS, SANDBOX_ACCOUNT, SCAN_URL,
    SPEC_CREATE, create, decode_qr, decide, error, link_of, scan,
)


def test_create_connection_spec_payload_returns_qr_flow(client, db):
    response = client.post(CONNECTIONS, headers=auth(), json=SPEC_CREATE)
    assert response.status_code == 201
    body = response.json()
    data = body["data"]
    assert body == {
        "success": True,
        "data": {
            "id": data["id"],
            "connectionId": data["connectionId"],
            "checkpoint": {"type": "QRCODE", "qrcode": data["checkpoint"]["qrcode"]},
            "status": "pending",
        },
    }
    assert OBJECT_ID.match(data["id"])
    assert SANDBOX_ACCOUNT.match(data["connectionId"])
    assert SCAN_URL.match(decode_qr(data["checkpoint"]["qrcode"]))
    stored = db.connections.find_one({"_id": ObjectId(data["id"])})
    assert {k: stored[k] for k in ("connectionId", "platform", "name", "nameKey", "status", "businessId", "userId")} == {
        "connectionId": data["connectionId"], "platform": "whatsapp", "name": "Test Connection",
        "nameKey": "test connection", "status": "pending", "businessId": BUSINESS, "userId": USER,
    }


@pytest.mark.parametrize("platform", QR_PLATFORMS)
def test_create_connection_qr_platform_returns_checkpoint(client, db, platform):
    data = create(client, platform, "Phone")
    assert set(data) == {"id", "connectionId", "checkpoint", "status"}
    assert data["status"] == "pending"
    assert SANDBOX_ACCOUNT.match(data["connectionId"])
    assert SCAN_URL.match(link_of(data))
    assert db.connections.find_one({"_id": ObjectId(data["id"])})["platform"] == platform


@pytest.mark.parametrize("platform", OAUTH_PLATFORMS)
def test_create_connection_oauth_platform_returns_auth_url(client, db, platform):
    data = create(client, platform, "Account")
    assert data == {"id": data["id"], "connectionId": data["connectionId"], "authUrl": data["authUrl"], "status": "pending"}
    assert AUTHORIZE_URL.match(data["authUrl"])
    # No provider account exists before consent: the connectionId is our unique placeholder.
    assert PLACEHOLDER.match(data["connectionId"])
    stored = db.connections.find_one({"_id": ObjectId(data["id"])})
    assert (stored["platform"], stored["status"], stored["connectionId"]) == (platform, "pending", data["connectionId"])


def test_create_connection_pending_twin_reused_with_fresh_qr(client, db):
    first = create(client, "whatsapp", "Sales")
    second = create(client, "whatsapp", "Sales", expect=200)
    assert (second["id"], second["connectionId"], second["status"]) == (first["id"], first["connectionId"], "pending")
    assert link_of(second) != link_of(first)
    assert db.connections.count_documents({}) == 1
    # Only the newest link works: the first QR reference was replaced.
    assert scan(client, first).status_code == 404
    assert scan(client, second).status_code == 200


def test_create_connection_pending_twin_reused_with_fresh_auth_url(client, db):
    first = create(client, "instagram", "Brand")
    second = create(client, "instagram", "brand", expect=200)
    assert (second["id"], second["connectionId"]) == (first["id"], first["connectionId"])
    assert second["authUrl"] != first["authUrl"]
    assert db.connections.count_documents({}) == 1
    assert decide(client, first).status_code == 404


def test_create_connection_name_trimmed_and_unique_ignoring_case(client, db):
    data = create(client, "telegram", "  Support Line  ")
    assert db.connections.find_one({"_id": ObjectId(data["id"])})["name"] == "Support Line"
    again = create(client, "telegram", "SUPPORT LINE", expect=200)
    assert again["id"] == data["id"]
    listed = client.get(CONNECTIONS, headers=auth()).json()["data"]
    assert [c["name"] for c in listed] == ["Support Line"]


def test_create_connection_same_name_other_platform_is_new(client, db):
    first = create(client, "whatsapp", "Main")
    second = create(client, "telegram", "Main")
    assert first["id"] != second["id"]
    assert db.connections.count_documents({}) == 2


@pytest.mark.parametrize("status", ["active", "inactive", "error"])
def test_create_connection_non_pending_twin_conflicts(client, db, status):
    data = create(client, "linkedin", "Recruiting")
    db.connections.update_one({"_id": ObjectId(data["id"])}, {"$set": {"status": status}})
    before = db.connections.find_one({"_id": ObjectId(data["id"])})
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "linkedin", "name": "recruiting "})
    assert response.status_code == 409
    assert response.json() == error("CONNECTION_EXISTS", "A linkedin connection named 'Recruiting' already exists")
    assert db.connections.count_documents({}) == 1
    assert db.connections.find_one({"_id": ObjectId(data["id"])}) == before


def test_create_connection_credentials_stored_encrypted_never_returned(client, db):
    secret = {"apiKey": "s3cr3t-value", "nested": {"token": "abc", "n": 2}}
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "email", "name": "Inbox", "credentials": secret})
    assert response.status_code == 201
    assert "s3cr3t-value" not in response.text
    stored = db.connections.find_one({})
    # pymongo hands BSON binary (subtype 0) back as bytes; a plaintext string would come back as str.
    assert isinstance(stored["credentials"], bytes) and not isinstance(stored["credentials"], str)
    assert b"s3cr3t-value" not in bytes(stored["credentials"])
    assert json.loads(Fernet(TEST_ENCRYPTION_KEY.encode()).decrypt(bytes(stored["credentials"]))) == secret
    for url in (CONNECTIONS, f"{CONNECTIONS}/{stored['_id']}"):
        fetched = client.get(url, headers=auth())
        assert fetched.status_code == 200
        assert "credentials" not in fetched.text and "s3cr3t-value" not in fetched.text


def test_create_connection_pending_twin_takes_new_credentials(client, db):
    create(client, "email", "Inbox", credentials={"password": "old"})
    create(client, "email", "Inbox", credentials={"password": "new"}, expect=200)
    stored = db.connections.find_one({})
    assert json.loads(Fernet(TEST_ENCRYPTION_KEY.encode()).decrypt(bytes(stored["credentials"]))) == {"password": "new"}


def test_create_connection_without_credentials_stores_none(client, db):
    create(client, "whatsapp", "Plain")
    assert db.connections.find_one({})["credentials"] is None


def test_create_connection_credentials_over_16kb_rejected(client, db):
    big = {"blob": "x" * 16_400}
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "email", "name": "Big", "credentials": big})
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", "credentials must be at most 16384 bytes as JSON")
    assert db.connections.count_documents({}) == 0


def test_create_connection_credentials_at_16kb_accepted(client, db):
    # {"blob":"..."} is 11 bytes of JSON around the value.
    exact = {"blob": "x" * (16_384 - 11)}
    create(client, "email", "Exact", credentials=exact)
    assert db.connections.count_documents({}) == 1


@pytest.mark.parametrize("field, value, message", [
    ("businessId", "another_business", "businessId must be the business of your token"),
    ("userId", "another_user", "userId must be the user of your token"),
])
def test_create_connection_foreign_ids_forbidden(client, db, field, value, message):
    response = client.post(CONNECTIONS, headers=auth(), json={**SPEC_CREATE, field: value})
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", message)
    assert db.connections.count_documents({}) == 0


def test_create_connection_member_role_forbidden(client, db):
    response = client.post(CONNECTIONS, headers=auth(role="member"), json=SPEC_CREATE)
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "Your role may only read")
    assert db.connections.count_documents({}) == 0


def test_create_connection_admin_role_allowed(client, db):
    create(client, headers=auth(role="admin"))
    assert db.connections.count_documents({}) == 1


@pytest.mark.parametrize("name, message", [
    ("", "'' should be non-empty - 'name'"),
    ("   ", "name must contain at least one non-space character"),
    ("x" * 101, f"'{'x' * 101}' is too long - 'name'"),
    ("tab\there", "'tab\\there' does not match '^[^\\\\u0000-\\\\u001F\\\\u007F]*$' - 'name'"),
])
def test_create_connection_bad_name_rejected(client, db, name, message):
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "whatsapp", "name": name})
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", message)
    assert db.connections.count_documents({}) == 0


def test_create_connection_name_of_100_characters_accepted(client, db):
    create(client, "whatsapp", "n" * 100)
    assert db.connections.find_one({})["name"] == "n" * 100


def test_create_connection_credentials_limit_counts_utf8_bytes(client, db):
    # 2 bytes per "é" in UTF-8: 5,600 bytes, far below the limit (escaped as \u00e9 it would be 16,800).
    create(client, "email", "Accents", credentials={"a": "é" * 2800})
    stored = db.connections.find_one({})
    assert json.loads(Fernet(TEST_ENCRYPTION_KEY.encode()).decrypt(bytes(stored["credentials"]))) == {"a": "é" * 2800}
