"""The account-status webhook: authentication, retries, duplicates, order, unknown accounts, bad bodies."""
from __future__ import annotations

import time

import pytest

from tests.conftest import auth
from tests.support.unipile import CONNECTIONS, SECRET_HEADER, WEBHOOK, connection_body, create, error, outcome, webhook

FORBIDDEN = error("FORBIDDEN", "Missing or wrong webhook secret")
CREDENTIALS_REASON = "The account's session ended or its credentials changed; reconnect it"


@pytest.fixture
def account(live_client, fake_unipile) -> tuple[str, str]:
    """(id, connectionId) of a pending WhatsApp connection linked to a fake Unipile account."""
    data = create(live_client).json()["data"]
    return data["id"], data["connectionId"]


def state(db) -> list[tuple]:
    return [(d["connectionId"], d["status"], d.get("statusReason"), str(d["updatedAt"])) for d in db.connections.find()]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "test-unipile-webhook-secret-5d1"])
def test_unipile_webhook_missing_or_wrong_secret_is_403_and_changes_nothing(live_client, account, db, secret):
    before = state(db)
    answer = webhook(live_client, account[1], "OK", secret=secret)
    assert (answer.status_code, answer.json()) == (403, FORBIDDEN)
    assert state(db) == before


def test_unipile_webhook_without_configured_secret_is_always_403(client, db):
    answer = webhook(client, "acc_1", "OK", secret="")
    assert (answer.status_code, answer.json()) == (403, FORBIDDEN)


def test_unipile_webhook_retries_of_one_event_apply_once(live_client, account, db):
    answers = [webhook(live_client, account[1], "CREDENTIALS").json() for _ in range(5)]
    assert answers == [outcome("applied")] + [outcome("unchanged")] * 4
    [(ref, status, reason, _)] = state(db)
    assert (ref, status, reason) == (account[1], "error", CREDENTIALS_REASON)


def test_unipile_webhook_duplicate_success_leaves_updated_at_alone(live_client, account, db):
    webhook(live_client, account[1], "OK")
    after_first = state(db)
    assert webhook(live_client, account[1], "SYNC_SUCCESS").json() == outcome("unchanged")
    assert state(db) == after_first


@pytest.mark.parametrize("message", ["OK", "CREATION_SUCCESS", "RECONNECTED", "SYNC_SUCCESS"])
def test_unipile_webhook_success_messages_make_pending_or_error_active(live_client, account, db, message):
    assert webhook(live_client, account[1], message).json() == outcome("applied")
    webhook(live_client, account[1], "ERROR")
    assert webhook(live_client, account[1], message).json() == outcome("applied")
    got = live_client.get(f"{CONNECTIONS}/{account[0]}", headers=auth())
    assert got.json() == connection_body(account[0], account[1])


@pytest.mark.parametrize("message, reason", [
    ("CREDENTIALS", CREDENTIALS_REASON),
    ("ERROR", "The messaging provider reported an error with this account; reconnect it"),
    ("STOPPED", "The messaging provider stopped syncing this account; reconnect it"),
])
def test_unipile_webhook_failure_messages_put_connection_in_error_with_reason(live_client, account, db, message, reason):
    webhook(live_client, account[1], "OK")
    assert webhook(live_client, account[1], message).json() == outcome("applied")
    got = live_client.get(f"{CONNECTIONS}/{account[0]}", headers=auth())
    assert got.json() == connection_body(account[0], account[1], status="error", reason=reason)
    listed = live_client.get(CONNECTIONS, headers=auth()).json()
    assert listed == {"success": True, "data": [connection_body(account[0], account[1], status="error", reason=reason)["data"]]}


def test_unipile_webhook_success_keeps_a_users_inactive(live_client, account, db):
    webhook(live_client, account[1], "OK")
    live_client.patch(f"{CONNECTIONS}/{account[0]}/status", headers=auth(), json={"status": "inactive"})
    for message in ("OK", "RECONNECTED", "SYNC_SUCCESS", "CONNECTING"):
        assert webhook(live_client, account[1], message).json() == outcome("unchanged")
    assert state(db)[0][1] == "inactive"
    assert webhook(live_client, account[1], "CREDENTIALS").json() == outcome("applied")
    assert state(db)[0][1:3] == ("error", CREDENTIALS_REASON)
    # Back from the error, the connection is still off: only the user switches it on.
    assert webhook(live_client, account[1], "OK").json() == outcome("applied")
    assert state(db)[0][1:3] == ("inactive", None)
    live_client.patch(f"{CONNECTIONS}/{account[0]}/status", headers=auth(), json={"status": "active"})
    webhook(live_client, account[1], "CREDENTIALS")
    assert webhook(live_client, account[1], "OK").json() == outcome("applied")
    assert state(db)[0][1:3] == ("active", None)


def test_unipile_webhook_without_content_type_is_read_as_json(live_client, account, db):
    body = '{"AccountStatus": {"account_id": "%s", "account_type": "WHATSAPP", "message": "OK"}}' % account[1]
    answer = live_client.post(WEBHOOK, headers={SECRET_HEADER: "test-unipile-webhook-secret-5d1e"}, content=body)
    assert (answer.status_code, answer.json()) == (200, outcome("applied"))
    assert state(db)[0][1] == "active"


def test_unipile_webhook_connecting_moves_error_to_pending_but_never_downgrades_active(live_client, account, db):
    webhook(live_client, account[1], "OK")
    # Late CONNECTING after the success event (no order is given): the connection stays active.
    assert webhook(live_client, account[1], "CONNECTING").json() == outcome("unchanged")
    assert state(db)[0][1] == "active"
    webhook(live_client, account[1], "CREDENTIALS")
    assert webhook(live_client, account[1], "CONNECTING").json() == outcome("applied")
    assert state(db)[0][1:3] == ("pending", None)


def test_unipile_webhook_deleted_removes_the_record_and_later_events_are_ignored(live_client, account, db):
    webhook(live_client, account[1], "OK")
    assert webhook(live_client, account[1], "DELETED").json() == outcome("removed")
    assert state(db) == [] and db.auth_attempts.count_documents({}) == 0
    for message in ("DELETED", "OK", "CREDENTIALS", "CREATION_SUCCESS"):
        assert webhook(live_client, account[1], message).json() == outcome("ignored")
    assert state(db) == []
    got = live_client.get(f"{CONNECTIONS}/{account[0]}", headers=auth())
    assert (got.status_code, got.json()) == (404, error("CONNECTION_NOT_FOUND", "Connection not found"))


def test_unipile_webhook_out_of_order_success_before_credentials_ends_in_error(live_client, account, db):
    for message in ("CREDENTIALS", "CONNECTING", "OK", "CONNECTING", "CREDENTIALS"):
        webhook(live_client, account[1], message)
    assert state(db)[0][1:3] == ("error", CREDENTIALS_REASON)


def test_unipile_webhook_unknown_account_is_ignored_and_creates_nothing(live_client, account, db):
    before = state(db)
    for message in ("CREATION_SUCCESS", "CREDENTIALS", "DELETED"):
        answer = webhook(live_client, "acc_nobody_knows", message)
        assert (answer.status_code, answer.json()) == (200, outcome("ignored"))
    assert state(db) == before and db.whatsapp_integrations.count_documents({}) == 0


def test_unipile_webhook_unknown_message_or_other_event_is_ignored(live_client, account, db):
    before = state(db)
    assert webhook(live_client, account[1], "SOMETHING_NEW").json() == outcome("ignored")
    other = live_client.post(WEBHOOK, headers={SECRET_HEADER: "test-unipile-webhook-secret-5d1e"},
                             json={"event": "message_received", "account_id": account[1]})
    assert (other.status_code, other.json()) == (200, outcome("ignored"))
    assert state(db) == before


@pytest.mark.parametrize("body", [
    b'{"AccountStatus": {"account_id": "acc_\xff\xfe", "message": "OK"}}',
    b"\xff\xfe{\x00}",
    '{"AccountStatus": {"account_id": "caf\u00e9", "message": "OK"}}'.encode("latin-1"),
])
def test_unipile_webhook_non_utf8_body_is_400_and_changes_nothing(live_client, account, db, body):
    before = state(db)
    answer = live_client.post(WEBHOOK, headers={SECRET_HEADER: "test-unipile-webhook-secret-5d1e", "Content-Type": "application/json"}, content=body)
    assert (answer.status_code, answer.json()) == (400, error("VALIDATION_ERROR", "Request body must be UTF-8 encoded JSON"))
    assert state(db) == before


@pytest.mark.parametrize("body", [
    {"AccountStatus": {"message": "OK"}},
    {"AccountStatus": {"account_id": "acc with spaces", "message": "OK"}},
    {"AccountStatus": "OK"},
    [],
])
def test_unipile_webhook_malformed_event_is_400(live_client, account, db, body):
    before = state(db)
    answer = live_client.post(WEBHOOK, headers={SECRET_HEADER: "test-unipile-webhook-secret-5d1e"}, json=body)
    assert answer.status_code == 400 and answer.json()["code"] == "VALIDATION_ERROR"
    assert state(db) == before


def test_unipile_webhook_answers_well_within_a_second(live_client, account, db):
    started = time.perf_counter()
    for message in ("OK", "CREDENTIALS", "OK"):
        assert webhook(live_client, account[1], message).status_code == 200
    assert (time.perf_counter() - started) / 3 < 0.5
