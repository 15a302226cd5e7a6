"""GET /unipile/connections: the caller's business only, newest first, never credentials."""
from __future__ import annotations

from tests.conftest import OTHER_BUSINESS, OTHER_USER, auth
from tests.support.flows import CONNECTIONS, OBJECT_ID, TIMESTAMP, activated, create


def test_list_connections_empty(client, db):
    response = client.get(CONNECTIONS, headers=auth())
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": []}


def test_list_connections_newest_first_with_every_field(client, db):
    first = create(client, "whatsapp", "First")
    second = create(client, "instagram", "Second")
    third = activated(client, "telegram", "Third")
    response = client.get(CONNECTIONS, headers=auth())
    assert response.status_code == 200
    data = response.json()["data"]
    assert [c["id"] for c in data] == [third["id"], second["id"], first["id"]]
    assert data[0] == third
    assert data[1] == {
        "id": second["id"], "connectionId": second["connectionId"], "platform": "instagram", "name": "Second",
        "status": "pending", "statusReason": None, "createdAt": data[1]["createdAt"], "updatedAt": data[1]["updatedAt"],
    }
    for item in data:
        assert OBJECT_ID.match(item["id"]) and TIMESTAMP.match(item["createdAt"]) and TIMESTAMP.match(item["updatedAt"])
        assert item["createdAt"] <= item["updatedAt"]


def test_list_connections_only_callers_business(client, db):
    mine = create(client, "whatsapp", "Mine")
    create(client, "whatsapp", "Theirs", headers=auth(OTHER_BUSINESS, OTHER_USER))
    data = client.get(CONNECTIONS, headers=auth()).json()["data"]
    assert [c["id"] for c in data] == [mine["id"]]
    theirs = client.get(CONNECTIONS, headers=auth(OTHER_BUSINESS, OTHER_USER)).json()["data"]
    assert [c["name"] for c in theirs] == ["Theirs"]


def test_list_connections_other_user_same_business_sees_all(client, db):
    create(client, "whatsapp", "Made by colleague", headers=auth(user="colleague"))
    data = client.get(CONNECTIONS, headers=auth(role="member")).json()["data"]
    assert [c["name"] for c in data] == ["Made by colleague"]
