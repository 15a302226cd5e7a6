"""DELETE /unipile/connections/{connectionId}."""
from __future__ import annotations

from bson import ObjectId

from tests.conftest import auth
from tests.support.flows import CONNECTIONS, activated, create, error, scan

DELETED = {"success": True, "message": "Connection deleted successfully"}


def test_delete_connection_by_id_then_again_not_found(client, db):
    made = create(client)
    response = client.delete(f"{CONNECTIONS}/{made['id']}", headers=auth())
    assert response.status_code == 200
    assert response.json() == DELETED
    assert db.connections.find_one({"_id": ObjectId(made["id"])}) is None
    again = client.delete(f"{CONNECTIONS}/{made['id']}", headers=auth())
    assert again.status_code == 404
    assert again.json() == error("CONNECTION_NOT_FOUND", "Connection not found")
    assert client.get(f"{CONNECTIONS}/{made['id']}", headers=auth()).status_code == 404


def test_delete_connection_by_connection_id(client, db):
    made = activated(client, "telegram", "Bot")
    response = client.delete(f"{CONNECTIONS}/{made['connectionId']}", headers=auth())
    assert response.status_code == 200
    assert response.json() == DELETED
    assert db.connections.count_documents({}) == 0


def test_delete_connection_discards_its_sandbox_link(client, db):
    made = create(client)
    assert db.auth_attempts.count_documents({}) == 1
    client.delete(f"{CONNECTIONS}/{made['id']}", headers=auth())
    assert db.auth_attempts.count_documents({}) == 0
    assert scan(client, made).status_code == 404


def test_delete_connection_keeps_the_others(client, db):
    gone = create(client, "whatsapp", "Gone")
    kept = create(client, "whatsapp", "Kept")
    client.delete(f"{CONNECTIONS}/{gone['id']}", headers=auth())
    assert [c["id"] for c in client.get(CONNECTIONS, headers=auth()).json()["data"]] == [kept["id"]]


def test_delete_connection_frees_the_name(client, db):
    made = activated(client, "whatsapp", "Reused name")
    client.delete(f"{CONNECTIONS}/{made['id']}", headers=auth())
    again = create(client, "whatsapp", "Reused name")
    assert again["id"] != made["id"]


def test_delete_connection_member_forbidden(client, db):
    made = create(client)
    response = client.delete(f"{CONNECTIONS}/{made['id']}", headers=auth(role="member"))
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "Your role may only read")
    assert db.connections.count_documents({}) == 1
