"""Secrets at rest: ciphertext in the database, plaintext only in the code, keys rotatable."""
from __future__ import annotations

import json

from bson import ObjectId
from cryptography.fernet import Fernet

from models import Connection
from models.lifecycle import mark_whatsapp_active
from tests.conftest import TEST_ENCRYPTION_KEY, auth
from tests.support.flows import ACTIVATE, CONNECTIONS, SPEC_ACTIVATE, create

NEW_KEY = Fernet.generate_key().decode()


def test_whatsapp_access_token_stored_encrypted(client, db):
    client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    stored = db.whatsapp_integrations.find_one({})
    mark_whatsapp_active(stored["_id"], "+15550100001", access_token="EAAG-secret-access-token")
    raw = db.whatsapp_integrations.find_one({})["accessToken"]
    assert isinstance(raw, bytes) and b"EAAG" not in raw
    assert json.loads(Fernet(TEST_ENCRYPTION_KEY.encode()).decrypt(raw)) == "EAAG-secret-access-token"
    response = client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    assert response.json() == {"success": True, "data": {"phoneNumber": "+15550100001", "status": "active"}}
    assert "EAAG" not in response.text


def test_credentials_readable_after_key_rotation(client, make_client, db):
    made = create(client, "email", "Inbox", credentials={"password": "p"})
    rotated = make_client(ENCRYPTION_KEYS=f"{NEW_KEY},{TEST_ENCRYPTION_KEY}")
    assert Connection.objects(__raw__={"_id": ObjectId(made["id"])}).first().credentials == {"password": "p"}
    create(rotated, "email", "Inbox", credentials={"password": "q"}, expect=200)
    raw = db.connections.find_one({})["credentials"]
    assert json.loads(Fernet(NEW_KEY.encode()).decrypt(raw)) == {"password": "q"}


def test_connection_with_undecryptable_credentials_still_served(client, make_client, db):
    made = create(client, "email", "Inbox", credentials={"password": "p"})
    before = db.connections.find_one({})
    other_key = make_client(ENCRYPTION_KEYS=NEW_KEY)
    for url in (CONNECTIONS, f"{CONNECTIONS}/{made['id']}"):
        assert other_key.get(url, headers=auth()).status_code == 200
    again = create(other_key, "email", "Inbox", expect=200)
    assert again["id"] == made["id"]
    assert db.connections.find_one({})["credentials"] == before["credentials"]
    assert other_key.delete(f"{CONNECTIONS}/{made['id']}", headers=auth()).status_code == 200
