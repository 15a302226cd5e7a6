"""Parallel requests to the real server process with live providers pointed at the fake Unipile."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from bson import ObjectId
from pymongo import MongoClient

from tests.conftest import TEST_JWT_SECRET, UNIPILE_WEBHOOK_SECRET, auth
from tests.fakes.unipile import API_KEY

pytestmark = pytest.mark.e2e

PARALLEL = 8


@pytest.fixture
def server(live_server, fake_unipile, mongo_server, db):
    return live_server({
        "MONGODB_URI": mongo_server.uri, "MONGODB_DB": db.name, "JWT_SECRET": TEST_JWT_SECRET,
        "PROVIDERS": "live", "UNIPILE_DSN": fake_unipile.url, "UNIPILE_API_KEY": API_KEY,
        "UNIPILE_WEBHOOK_SECRET": UNIPILE_WEBHOOK_SECRET, "WHATSAPP_MODE": "qr",
    })


def parallel(calls) -> list:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_create_connection_parallel_same_name_one_record_one_account(server, fake_unipile, db):
    def create():
        return server.request("POST", "/unipile/connections", headers=auth(), json={"platform": "whatsapp", "name": "Race"})

    responses = parallel([create] * PARALLEL)
    assert sorted(r.status_code for r in responses) == [200] * (PARALLEL - 1) + [201]
    ids = {r.json()["data"]["id"] for r in responses}
    assert len(ids) == 1
    stored = list(db.connections.find({}))
    assert [str(d["_id"]) for d in stored] == list(ids)
    # Only the winner asked Unipile for an account; the others re-issued its QR code.
    assert len(fake_unipile.calls_to("POST", "/api/v1/accounts")) == 1
    assert len(fake_unipile.accounts) == 1


def activate(server, fake_unipile, db) -> str:
    created = server.request("POST", "/unipile/connections", headers=auth(), json={"platform": "telegram", "name": "Shared"})
    connection_id = created.json()["data"]["id"]
    account = db.connections.find_one({"_id": ObjectId(connection_id)})["connectionId"]
    answer = server.request("POST", "/unipile/webhooks", headers={"X-Unipile-Webhook-Secret": UNIPILE_WEBHOOK_SECRET},
                            json={"AccountStatus": {"account_id": account, "account_type": "TELEGRAM", "message": "OK"}})
    assert answer.status_code == 200
    return connection_id


def test_update_connection_status_parallel_consistent(server, fake_unipile, db):
    connection_id = activate(server, fake_unipile, db)

    def switch(status):
        return lambda: server.request("PATCH", f"/unipile/connections/{connection_id}/status", headers=auth(), json={"status": status})

    responses = parallel([switch("inactive"), switch("active")] * (PARALLEL // 2))
    assert [r.status_code for r in responses] == [200] * PARALLEL
    final = server.request("GET", f"/unipile/connections/{connection_id}", headers=auth()).json()["data"]
    assert final["status"] in ("active", "inactive")
    assert db.connections.find_one({"_id": ObjectId(connection_id)})["status"] == final["status"]
    assert db.connections.count_documents({}) == 1


def test_delete_connection_parallel_with_patches_leaves_nothing(server, fake_unipile, db):
    connection_id = activate(server, fake_unipile, db)

    def delete():
        return server.request("DELETE", f"/unipile/connections/{connection_id}", headers=auth())

    def patch():
        return server.request("PATCH", f"/unipile/connections/{connection_id}/status", headers=auth(), json={"status": "inactive"})

    responses = parallel([delete, patch] * (PARALLEL // 2))
    deletes = [r.status_code for r in responses[0::2]]
    assert deletes.count(200) >= 1 and set(deletes) <= {200, 404}
    assert {r.status_code for r in responses[1::2]} <= {200, 404}
    assert server.request("GET", f"/unipile/connections/{connection_id}", headers=auth()).status_code == 404
    assert db.connections.count_documents({}) == 0
    assert fake_unipile.accounts == {}
