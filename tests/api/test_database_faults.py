"""The database server stopped and restarted under a running app: 503 in the envelope, then recovery."""
from __future__ import annotations

import pytest
from pymongo import MongoClient

from core.database import EmbeddedMongo
from tests.conftest import TEST_DB, auth
from tests.support.flows import ACTIVATE, CONNECTIONS, SPEC_ACTIVATE, create, error

UNAVAILABLE = error("DATABASE_UNAVAILABLE", "The database is unavailable; try again shortly")


@pytest.fixture
def own_database(tmp_path):
    """A database server of this test alone, so stopping it disturbs nothing else."""
    server = EmbeddedMongo(tmp_path / "mongo").start()
    yield server
    server.stop()


def stored(server: EmbeddedMongo, collection: str) -> list[dict]:
    with MongoClient(server.uri, serverSelectionTimeoutMS=5000) as mongo:
        return list(mongo[TEST_DB][collection].find({}))


def test_every_operation_database_down_unavailable_then_recovers(make_client, own_database):
    client = make_client(MONGODB_URI=own_database.uri, DB_TIMEOUT_MS=300)
    made = create(client, "telegram", "Before")
    own_database.kill()
    for method, url, body in (
        ("GET", CONNECTIONS, None),
        ("GET", f"{CONNECTIONS}/{made['id']}", None),
        ("POST", CONNECTIONS, {"platform": "whatsapp", "name": "During"}),
        ("PATCH", f"{CONNECTIONS}/{made['id']}/status", {"status": "inactive"}),
        ("DELETE", f"{CONNECTIONS}/{made['id']}", None),
        ("POST", ACTIVATE, SPEC_ACTIVATE),
    ):
        response = client.request(method, url, headers=auth(), json=body)
        assert response.status_code == 503, (method, url, response.text)
        assert response.json() == UNAVAILABLE
        assert response.headers["retry-after"] == "1"
    # Same port, same file: what a restarted database server looks like to the app.
    restarted = EmbeddedMongo(own_database.data_dir, port=own_database.port).start()
    try:
        listed = client.get(CONNECTIONS, headers=auth())
        assert listed.status_code == 200
        assert [c["id"] for c in listed.json()["data"]] == [made["id"]]
        assert [d["name"] for d in stored(restarted, "connections")] == ["Before"]
        assert [d["status"] for d in stored(restarted, "connections")] == ["pending"]
        assert stored(restarted, "whatsapp_integrations") == []
        assert create(client, "whatsapp", "After")["status"] == "pending"
    finally:
        restarted.stop()


def test_create_connection_database_restarted_between_requests(make_client, own_database):
    client = make_client(MONGODB_URI=own_database.uri, DB_TIMEOUT_MS=300)
    create(client, "telegram", "One")
    own_database.stop()
    restarted = EmbeddedMongo(own_database.data_dir, port=own_database.port).start()
    try:
        body = {"platform": "telegram", "name": "Two"}
        response = client.post(CONNECTIONS, headers=auth(), json=body)
        if response.status_code == 503:
            # A pooled connection to the old server process fails once (unless the driver's
            # heartbeat noticed the restart first); nothing was written and the retry succeeds.
            assert response.json() == UNAVAILABLE and response.headers["retry-after"] == "1"
            assert [d["name"] for d in stored(restarted, "connections")] == ["One"]
            response = client.post(CONNECTIONS, headers=auth(), json=body)
        assert response.status_code == 201
        assert sorted(d["name"] for d in stored(restarted, "connections")) == ["One", "Two"]
    finally:
        restarted.stop()
