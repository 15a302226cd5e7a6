"""create_app creates every index the queries use, including the unique ones behind 409 and single-use links."""
from __future__ import annotations

from pymongo import MongoClient

from core.database import EmbeddedMongo
from tests.conftest import TEST_DB, auth
from tests.support.flows import CONNECTIONS

# Fields and uniqueness (at least these; the wire-protocol stand-in names indexes itself and keeps no direction).
EXPECTED = {
    "connections": [(("businessId", "platform", "nameKey"), True), (("connectionId",), True), (("businessId", "createdAt"), False)],
    "whatsapp_integrations": [(("businessId",), True), (("wabaId",), False)],
    "auth_attempts": [(("refHash",), True), (("targetId",), False)],
}


def indexes(db, collection: str) -> set[tuple[tuple[str, ...], bool]]:
    return {(tuple(field for field, _ in index["key"]), bool(index.get("unique")))
            for name, index in db[collection].index_information().items() if name != "_id_"}


def test_create_app_ensures_indexes(make_client, db):
    for collection in EXPECTED:
        db[collection].drop()
        assert indexes(db, collection) == set()
    client = make_client()
    for collection, expected in EXPECTED.items():
        assert set(expected) <= indexes(db, collection), collection
    assert client.get(CONNECTIONS, headers=auth()).status_code == 200


def test_create_app_with_database_down_creates_indexes_on_first_request(make_client, tmp_path):
    later = EmbeddedMongo(tmp_path / "later")
    client = make_client(MONGODB_URI=later.uri, DB_TIMEOUT_MS=200)
    down = client.get(CONNECTIONS, headers=auth())
    assert down.status_code == 503 and down.json()["code"] == "DATABASE_UNAVAILABLE"
    later.start()
    try:
        assert client.get(CONNECTIONS, headers=auth()).status_code == 200
        with MongoClient(later.uri, serverSelectionTimeoutMS=5000) as direct:
            assert set(EXPECTED["connections"]) <= indexes(direct[TEST_DB], "connections")
    finally:
        later.stop()
