"""Business B's token never reads, changes or learns of business A's data."""
from __future__ import annotations

import pytest
from bson import ObjectId

from tests.conftest import OTHER_BUSINESS, OTHER_USER, auth
from tests.support.flows import ACTIVATE, API, CONNECTIONS, SPEC_ACTIVATE, SPEC_CREATE, activated, create, decide, error

NOT_FOUND = error("CONNECTION_NOT_FOUND", "Connection not found")


def intruder() -> dict[str, str]:
    return auth(OTHER_BUSINESS, OTHER_USER)


@pytest.fixture
def victim(client, db):
    """An active connection of business A and A's stored documents."""
    made = activated(client, "whatsapp", "A's line")
    return made, db.connections.find_one({"_id": ObjectId(made["id"])})


def test_list_connections_hides_other_business(client, db, victim):
    response = client.get(CONNECTIONS, headers=intruder())
    assert response.json() == {"success": True, "data": []}


@pytest.mark.parametrize("key", ["id", "connectionId"])
def test_get_connection_other_business_not_found(client, db, victim, key):
    made, _ = victim
    response = client.get(f"{CONNECTIONS}/{made[key]}", headers=intruder())
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    # Exactly what an id that exists nowhere answers: nothing reveals that A's exists.
    assert client.get(f"{CONNECTIONS}/{'0' * 24}", headers=intruder()).json() == response.json()


@pytest.mark.parametrize("key", ["id", "connectionId"])
def test_delete_connection_other_business_not_found(client, db, victim, key):
    made, stored = victim
    response = client.delete(f"{CONNECTIONS}/{made[key]}", headers=intruder())
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert db.connections.find_one({"_id": stored["_id"]}) == stored


@pytest.mark.parametrize("key", ["id", "connectionId"])
def test_update_connection_status_other_business_not_found(client, db, victim, key):
    made, stored = victim
    response = client.patch(f"{CONNECTIONS}/{made[key]}/status", headers=intruder(), json={"status": "inactive"})
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert db.connections.find_one({"_id": stored["_id"]}) == stored


def test_create_connection_same_name_other_business_independent(client, db, victim):
    made, stored = victim
    theirs = create(client, "whatsapp", "A's line", headers=intruder())
    assert theirs["id"] != made["id"]
    assert db.connections.find_one({"_id": stored["_id"]}) == stored
    assert db.connections.count_documents({}) == 2


def test_create_connection_pending_twin_of_other_business_not_reused(client, db):
    mine = create(client, "instagram", "Shared name")
    theirs = create(client, "instagram", "Shared name", headers=intruder())
    assert theirs["id"] != mine["id"]
    assert db.connections.find_one({"_id": ObjectId(mine["id"])})["businessId"] != db.connections.find_one(
        {"_id": ObjectId(theirs["id"])})["businessId"]


def test_create_connection_body_ids_of_other_business_forbidden(client, db):
    response = client.post(CONNECTIONS, headers=intruder(), json=SPEC_CREATE)
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "businessId must be the business of your token")
    assert db.connections.count_documents({}) == 0


def test_activate_whatsapp_other_business_forbidden(client, db):
    client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    before = list(db.whatsapp_integrations.find({}))
    response = client.post(ACTIVATE, headers=intruder(), json=SPEC_ACTIVATE)
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "businessId must be the business of your token")
    assert list(db.whatsapp_integrations.find({})) == before


def test_activate_whatsapp_active_integration_not_shared(client, db):
    link = client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE).json()["data"]
    decide(client, link)
    theirs = client.post(ACTIVATE, headers=intruder(), json={"businessId": OTHER_BUSINESS})
    assert theirs.status_code == 200
    assert theirs.json()["data"]["phoneNumber"] == "pending"
    assert db.whatsapp_integrations.count_documents({}) == 2


@pytest.mark.parametrize("key", ["id", "connectionId"])
def test_reconnect_connection_other_business_not_found(client, db, victim, key):
    made, stored = victim
    response = client.post(f"{CONNECTIONS}/{made[key]}/reconnect", headers=intruder())
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert db.connections.find_one({"_id": stored["_id"]}) == stored


@pytest.mark.parametrize("message", ["DELETED", "CREDENTIALS"])
def test_send_sandbox_event_other_business_not_found(client, db, victim, message):
    made, stored = victim
    response = client.post(f"{API}/sandbox/connections/{made['id']}/events", headers=intruder(), json={"message": message})
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert db.connections.find_one({"_id": stored["_id"]}) == stored
