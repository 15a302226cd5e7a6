"""GET /unipile/connections: the caller's business only, newest first, never credentials; pages with limit and cursor."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from bson import ObjectId

from tests.conftest import BUSINESS, OTHER_BUSINESS, OTHER_USER, USER, auth
from tests.support.flows import CONNECTIONS, OBJECT_ID, TIMESTAMP, activated, create, error

CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


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


# -- pages: limit and cursor ------------------------------------------------------------------

def pages(client, limit: int, headers: dict | None = None) -> list[dict]:
    """Every page of the list with this limit, following nextCursor until it is null."""
    bodies, cursor = [], None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(CONNECTIONS + query, headers=headers or auth())
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"success", "data", "nextCursor"} and body["success"] is True
        bodies.append(body)
        cursor = body["nextCursor"]
        if cursor is None:
            return bodies


def test_list_connections_limit_pages_cover_all_without_duplicates(client, db):
    for index in range(5):
        create(client, "telegram", f"Line {index}")
    everything = client.get(CONNECTIONS, headers=auth()).json()["data"]
    bodies = pages(client, 2)
    assert [len(b["data"]) for b in bodies] == [2, 2, 1]
    assert [c for b in bodies for c in b["data"]] == everything
    assert all(CURSOR.match(b["nextCursor"]) for b in bodies[:-1])


def test_list_connections_limit_larger_than_list(client, db):
    made = create(client, "whatsapp", "Only")
    response = client.get(CONNECTIONS + "?limit=100", headers=auth())
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": [client.get(f"{CONNECTIONS}/{made['id']}", headers=auth()).json()["data"]],
                               "nextCursor": None}


def test_list_connections_limit_empty(client, db):
    response = client.get(CONNECTIONS + "?limit=1", headers=auth())
    assert (response.status_code, response.json()) == (200, {"success": True, "data": [], "nextCursor": None})


def test_list_connections_limit_insert_during_paging(client, db):
    for index in range(4):
        create(client, "telegram", f"Before {index}")
    before = client.get(CONNECTIONS, headers=auth()).json()["data"]
    first = client.get(CONNECTIONS + "?limit=2", headers=auth()).json()
    newcomer = create(client, "instagram", "Arrived while paging")
    rest = client.get(f"{CONNECTIONS}?limit=2&cursor={first['nextCursor']}", headers=auth()).json()
    # The newcomer is newer than the cursor: it belongs before page one, so later pages neither repeat nor skip anything.
    assert first["data"] + rest["data"] == before and rest["nextCursor"] is None
    assert client.get(CONNECTIONS, headers=auth()).json()["data"][0]["id"] == newcomer["id"]


def test_list_connections_limit_same_created_at_ordered_by_id(client, db):
    moment = dt.datetime(2026, 3, 1, 12, 0, 0, 123000)
    ids = [ObjectId() for _ in range(15)]  # more than a page plus the tie allowance: pages read in batches
    db.connections.insert_many([{
        "_id": oid, "connectionId": f"sbx_same_moment_{n:02d}_abcdef", "platform": "telegram", "name": f"Same {n}",
        "nameKey": f"same {n}", "status": "active", "statusReason": None, "businessId": BUSINESS, "userId": USER,
        "credentials": None, "createdAt": moment, "updatedAt": moment,
    } for n, oid in enumerate(ids)])
    create(client, "whatsapp", "Newer")
    bodies = pages(client, 2)
    listed = [c["id"] for b in bodies for c in b["data"]]
    assert listed[1:] == [str(oid) for oid in sorted(ids, reverse=True)]
    assert len(listed) == 16 == len(set(listed))


def test_list_connections_limit_only_callers_business(client, db):
    mine = [create(client, "telegram", f"Mine {n}")["id"] for n in range(3)]
    create(client, "telegram", "Theirs", headers=auth(OTHER_BUSINESS, OTHER_USER))
    assert [c["id"] for b in pages(client, 1) for c in b["data"]] == mine[::-1]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "MTIzNA", "12345678901234-6b12426a53ceeaf625972af5",
                                    "1796363321000-6b12426a53ceeaf625972AF5", "1796363321000:6b12426a53ceeaf625972af5"])
def test_list_connections_bad_cursor(client, db, cursor):
    response = client.get(f"{CONNECTIONS}?limit=2&cursor={cursor}", headers=auth())
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", f"'{cursor}' does not match '^[0-9]{{1,13}}-[0-9a-f]{{24}}$'")


def test_list_connections_any_cursor_shape_is_a_position(client, db):
    made = [create(client, "telegram", f"N{n}")["id"] for n in range(3)]
    # Far in the future: everything follows it. Zero: nothing does.
    response = client.get(f"{CONNECTIONS}?limit=5&cursor=9999999999999-ffffffffffffffffffffffff", headers=auth())
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["data"]] == made[::-1]
    assert response.json()["nextCursor"] is None
    response = client.get(f"{CONNECTIONS}?limit=5&cursor=0-000000000000000000000000", headers=auth())
    assert response.json() == {"success": True, "data": [], "nextCursor": None}


def test_list_connections_cursor_without_limit_gives_the_rest(client, db):
    made = [create(client, "telegram", f"N{n}")["id"] for n in range(4)]
    cursor = client.get(CONNECTIONS + "?limit=1", headers=auth()).json()["nextCursor"]
    response = client.get(f"{CONNECTIONS}?cursor={cursor}", headers=auth())
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["data"]] == made[::-1][1:]
    assert response.json()["nextCursor"] is None


@pytest.mark.parametrize("limit, message", [
    ("0", "0 is less than the minimum of 1"), ("101", "101 is greater than the maximum of 100"),
    ("-1", "-1 is less than the minimum of 1"), ("ten", "'ten' is not of type 'integer'"),
])
def test_list_connections_limit_out_of_range(client, db, limit, message):
    response = client.get(f"{CONNECTIONS}?limit={limit}", headers=auth())
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", message)
