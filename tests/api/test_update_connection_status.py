"""PATCH /unipile/connections/{connectionId}/status: active <-> inactive, idempotent."""
from __future__ import annotations

import pytest
from bson import ObjectId

from tests.conftest import auth
from tests.support.flows import CONNECTIONS, activated, create, decide, error


def patch(client, reference: str, status: str, **kwargs):
    return client.patch(f"{CONNECTIONS}/{reference}/status", headers=kwargs.pop("headers", auth()), json={"status": status})


def test_update_connection_status_active_to_inactive_and_back(client, db):
    made = activated(client)
    response = patch(client, made["id"], "inactive")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"id": made["id"], "connectionId": made["connectionId"], "status": "inactive"}}
    assert db.connections.find_one({"_id": ObjectId(made["id"])})["status"] == "inactive"
    back = patch(client, made["connectionId"], "active")
    assert back.json() == {"success": True, "data": {"id": made["id"], "connectionId": made["connectionId"], "status": "active"}}
    stored = client.get(f"{CONNECTIONS}/{made['id']}", headers=auth()).json()["data"]
    assert stored["status"] == "active"
    assert stored["updatedAt"] >= made["updatedAt"]


@pytest.mark.parametrize("status", ["active", "inactive"])
def test_update_connection_status_same_status_idempotent(client, db, status):
    made = activated(client)
    patch(client, made["id"], status)
    before = db.connections.find_one({"_id": ObjectId(made["id"])})
    response = patch(client, made["id"], status)
    assert response.status_code == 200
    assert response.json()["data"] == {"id": made["id"], "connectionId": made["connectionId"], "status": status}
    assert db.connections.find_one({"_id": ObjectId(made["id"])}) == before


def test_update_connection_status_pending_not_ready(client, db):
    made = create(client)
    response = patch(client, made["id"], "active")
    assert response.status_code == 409
    assert response.json() == error("CONNECTION_NOT_READY", "Connection is pending; only active or inactive connections can be switched")
    assert db.connections.find_one({"_id": ObjectId(made["id"])})["status"] == "pending"


def test_update_connection_status_error_not_ready(client, db):
    made = create(client, "instagram", "Denied")
    decide(client, made, "deny")
    response = patch(client, made["id"], "inactive")
    assert response.status_code == 409
    assert response.json() == error("CONNECTION_NOT_READY", "Connection is error; only active or inactive connections can be switched")
    assert db.connections.find_one({"_id": ObjectId(made["id"])})["status"] == "error"


@pytest.mark.parametrize("body", [{"status": "pending"}, {"status": "error"}, {}, {"status": "active", "extra": 1}, {"status": 1}])
def test_update_connection_status_invalid_body_rejected(client, db, body):
    made = activated(client)
    response = client.patch(f"{CONNECTIONS}/{made['id']}/status", headers=auth(), json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert db.connections.find_one({"_id": ObjectId(made["id"])})["status"] == "active"


def test_update_connection_status_unknown_not_found(client, db):
    response = patch(client, "0" * 24, "active")
    assert response.status_code == 404
    assert response.json() == error("CONNECTION_NOT_FOUND", "Connection not found")


def test_update_connection_status_member_forbidden(client, db):
    made = activated(client)
    response = patch(client, made["id"], "inactive", headers=auth(role="member"))
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "Your role may only read")
    assert db.connections.find_one({"_id": ObjectId(made["id"])})["status"] == "active"
