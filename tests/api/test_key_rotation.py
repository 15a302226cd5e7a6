"""`integrations-api rotate-keys` against the real database: counts, ciphertext, re-authorisation."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bson import ObjectId
from cryptography.fernet import Fernet, InvalidToken

from core.database import EmbeddedMongo
from models import Connection, WhatsAppIntegration
from models.lifecycle import mark_whatsapp_active
from tests.conftest import TEST_DB, TEST_ENCRYPTION_KEY, TEST_JWT_SECRET, auth
from tests.support.flows import ACTIVATE, CONNECTIONS, SPEC_ACTIVATE, create

NEW_KEY = Fernet.generate_key().decode()
LOST_KEY = Fernet.generate_key().decode()
REASON = "Stored secrets can no longer be decrypted (encryption key removed); reconnect the account"


def rotate(mongo_server, tmp_path, keys: str) -> subprocess.CompletedProcess:
    """Run the installed console script as an operator would."""
    script = Path(sys.executable).with_name("integrations-api")
    env = {"PATH": "/usr/bin:/bin", "APP_ENV": "test", "DATA_DIR": str(tmp_path / "cli"), "MONGODB_URI": mongo_server.uri,
           "MONGODB_DB": TEST_DB, "JWT_SECRET": TEST_JWT_SECRET, "ENCRYPTION_KEYS": keys, "LOG_LEVEL": "WARNING"}
    return subprocess.run([str(script), "rotate-keys"], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def stored(client, make_client, db):
    """An email connection with credentials, one without, an active WhatsApp token, and a connection under a lost key."""
    inbox = create(client, "email", "Inbox", credentials={"password": "hunter2-secret"})
    bare = create(client, "telegram", "Support")
    client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    integration_id = db.whatsapp_integrations.find_one({})["_id"]
    mark_whatsapp_active(integration_id, "+15550100001", access_token="EAAG-access-token")
    WhatsAppIntegration.objects(__raw__={"_id": integration_id}).update(set__pin="493817")
    lost = create(make_client(ENCRYPTION_KEYS=LOST_KEY), "email", "Old inbox", credentials={"password": "gone"})
    return {"inbox": inbox, "bare": bare, "lost": lost}


def test_rotate_keys_reencrypts_and_reports(mongo_server, tmp_path, make_client, db, stored):
    before_lost = db.connections.find_one({"_id": ObjectId(stored["lost"]["id"])})
    result = rotate(mongo_server, tmp_path, f"{NEW_KEY},{TEST_ENCRYPTION_KEY}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "connections.credentials: rotated 1, already current 0, undecryptable 1",
        "whatsapp_integrations.accessToken: rotated 1, already current 0, undecryptable 0",
        "whatsapp_integrations.pin: rotated 1, already current 0, undecryptable 0",
        "1 record(s) could not be decrypted with any key: marked status error, to be reconnected",
    ]
    newest = Fernet(NEW_KEY.encode())
    inbox = db.connections.find_one({"_id": ObjectId(stored["inbox"]["id"])})
    assert json.loads(newest.decrypt(inbox["credentials"])) == {"password": "hunter2-secret"}
    assert json.loads(newest.decrypt(db.whatsapp_integrations.find_one({})["accessToken"])) == "EAAG-access-token"
    assert json.loads(newest.decrypt(db.whatsapp_integrations.find_one({})["pin"])) == "493817"
    assert db.connections.find_one({"_id": ObjectId(stored["bare"]["id"])})["credentials"] is None
    lost = db.connections.find_one({"_id": ObjectId(stored["lost"]["id"])})
    # The ciphertext is kept (the old key may turn up again); the record says it needs reconnecting.
    assert lost["credentials"] == before_lost["credentials"]
    assert (lost["status"], lost["statusReason"]) == ("error", REASON)
    for output in (result.stdout, result.stderr):
        for secret in ("hunter2-secret", "EAAG", "493817", "gone", bytes(lost["credentials"]).decode()[:20]):
            assert secret not in output


def test_rotate_keys_old_key_no_longer_needed(mongo_server, tmp_path, make_client, db, stored):
    rotate(mongo_server, tmp_path, f"{NEW_KEY},{TEST_ENCRYPTION_KEY}")
    with pytest.raises(InvalidToken):
        Fernet(TEST_ENCRYPTION_KEY.encode()).decrypt(db.connections.find_one({"_id": ObjectId(stored["inbox"]["id"])})["credentials"])
    make_client(ENCRYPTION_KEYS=NEW_KEY)
    assert Connection.objects(__raw__={"_id": ObjectId(stored["inbox"]["id"])}).first().credentials == {"password": "hunter2-secret"}


def test_rotate_keys_second_run_everything_current(mongo_server, tmp_path, db, stored):
    rotate(mongo_server, tmp_path, f"{NEW_KEY},{TEST_ENCRYPTION_KEY}")
    result = rotate(mongo_server, tmp_path, f"{NEW_KEY},{TEST_ENCRYPTION_KEY}")
    assert result.stdout.splitlines()[:3] == [
        "connections.credentials: rotated 0, already current 1, undecryptable 1",
        "whatsapp_integrations.accessToken: rotated 0, already current 1, undecryptable 0",
        "whatsapp_integrations.pin: rotated 0, already current 1, undecryptable 0",
    ]


def test_get_connection_undecryptable_after_rotation_needs_reconnect(mongo_server, tmp_path, make_client, db, stored):
    rotate(mongo_server, tmp_path, f"{NEW_KEY},{TEST_ENCRYPTION_KEY}")
    client = make_client(ENCRYPTION_KEYS=f"{NEW_KEY},{TEST_ENCRYPTION_KEY}")
    response = client.get(f"{CONNECTIONS}/{stored['lost']['id']}", headers=auth())
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["status"], data["statusReason"]) == ("error", REASON)
    listed = client.get(CONNECTIONS, headers=auth())
    assert listed.status_code == 200
    assert "credentials" not in listed.text and "gAAAAA" not in listed.text


def run_embedded(data_dir: Path) -> subprocess.CompletedProcess:
    """rotate-keys without MONGODB_URI: it opens the embedded database in DATA_DIR itself."""
    script = Path(sys.executable).with_name("integrations-api")
    env = {"PATH": "/usr/bin:/bin", "APP_ENV": "development", "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    return subprocess.run([str(script), "rotate-keys"], env=env, capture_output=True, text=True, timeout=120)


def test_rotate_keys_embedded_database_started_and_stopped(tmp_path):
    result = run_embedded(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "connections.credentials: rotated 0, already current 0, undecryptable 0",
        "whatsapp_integrations.accessToken: rotated 0, already current 0, undecryptable 0",
        "whatsapp_integrations.pin: rotated 0, already current 0, undecryptable 0",
    ]
    assert EmbeddedMongo(tmp_path).running_pid() is None


def test_rotate_keys_embedded_database_in_use_refused(tmp_path):
    running = EmbeddedMongo(tmp_path).start()
    try:
        result = run_embedded(tmp_path)
        assert result.returncode == 2
        assert result.stderr == "integrations-api: the embedded database is in use by a running server; stop it first\n"
        assert running.process.poll() is None
    finally:
        running.stop()
