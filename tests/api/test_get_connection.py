"""GET /unipile/connections/{connectionId}: by id or by connectionId, within the caller's business."""
from __future__ import annotations

import pytest
from bson import ObjectId

from tests.conftest import auth
from tests.support.flows import CONNECTIONS, activated, create, error

NOT_FOUND = error("CONNECTION_NOT_FOUND", "Connection not found")


def test_get_connection_by_id(client, db):
    made = activated(client, "whatsapp", "Desk")
    response = client.get(f"{CONNECTIONS}/{made['id']}", headers=auth())
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": made}
    assert made["platform"] == "whatsapp" and made["name"] == "Desk" and made["status"] == "active"


def test_get_connection_by_connection_id(client, db):
    made = create(client, "instagram", "Brand")
    response = client.get(f"{CONNECTIONS}/{made['connectionId']}", headers=auth())
    assert response.status_code == 200
    assert response.json()["data"]["id"] == made["id"]
    assert response.json()["data"]["status"] == "pending"


def test_get_connection_hex_reference_tries_id_then_connection_id(client, db):
    by_id = create(client, "whatsapp", "Looked up by id")
    by_connection_id = create(client, "telegram", "Looked up by connectionId")
    # A provider account id that happens to be 24 hex characters, equal to another record's id.
    db.connections.update_one({"_id": ObjectId(by_connection_id["id"])}, {"$set": {"connectionId": by_id["id"]}})
    response = client.get(f"{CONNECTIONS}/{by_id['id']}", headers=auth())
    assert response.json()["data"]["name"] == "Looked up by id"
    hex_account = "ab" * 12
    db.connections.update_one({"_id": ObjectId(by_connection_id["id"])}, {"$set": {"connectionId": hex_account}})
    response = client.get(f"{CONNECTIONS}/{hex_account}", headers=auth())
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "Looked up by connectionId"


def test_get_connection_uppercase_hex_id_found(client, db):
    made = create(client, "whatsapp", "Upper")
    response = client.get(f"{CONNECTIONS}/{made['id'].upper()}", headers=auth())
    assert response.status_code == 200
    assert response.json()["data"]["id"] == made["id"]


@pytest.mark.parametrize("reference", ["0" * 24, "unknown_account", "sbx_doesnotexist"])
def test_get_connection_unknown_not_found(client, db, reference):
    create(client)
    response = client.get(f"{CONNECTIONS}/{reference}", headers=auth())
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_get_connection_member_may_read(client, db):
    made = create(client)
    assert client.get(f"{CONNECTIONS}/{made['id']}", headers=auth(role="member")).status_code == 200
