"""Whole connection lifecycles with live providers, the fake Unipile standing in for Unipile."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging

import pytest

from tests.conftest import auth
from tests.fakes.unipile import API_KEY
from tests.support.unipile import (
    CONNECTIONS, NOTIFY, OBJECT_ID, PLACEHOLDER, PNG, Matches, connection_body, create, error, outcome, webhook,
)

UNAVAILABLE = error("PROVIDER_UNAVAILABLE", "The messaging provider is unavailable; try again shortly")
AUTH_URL = Matches(r"https://account\.unipile\.com/[A-Za-z0-9_-]+")


def stored(db, connection_id=None) -> list[dict]:
    """Every stored connection (or the one with that id), without volatile fields."""
    return list(db.connections.find({} if connection_id is None else {"connectionId": connection_id}))


def test_create_connection_whatsapp_then_webhook_makes_it_active(live_client, fake_unipile, db):
    created = create(live_client)
    assert created.status_code == 201
    account = created.json()["data"]["connectionId"]
    assert created.json() == {"success": True, "data": {
        "id": OBJECT_ID, "connectionId": account, "checkpoint": {"type": "QRCODE", "qrcode": PNG}, "status": "pending"}}
    assert account in fake_unipile.accounts
    assert [(c.method, c.path, c.body) for c in fake_unipile.calls] == [("POST", "/api/v1/accounts", {"provider": "WHATSAPP"})]
    assert db.auth_attempts.count_documents({}) == 1

    answer = webhook(live_client, account, "CREATION_SUCCESS")
    assert (answer.status_code, answer.json()) == (200, outcome("applied"))
    got = live_client.get(f"{CONNECTIONS}/{account}", headers=auth())
    assert got.json() == connection_body(created.json()["data"]["id"], account)
    [doc] = stored(db)
    assert (doc["connectionId"], doc["status"], doc.get("statusReason")) == (account, "active", None)
    assert db.auth_attempts.count_documents({}) == 0


def test_create_connection_pending_twin_reuses_account_with_fresh_qr(live_client, fake_unipile, db):
    first = create(live_client).json()["data"]
    again = create(live_client, name="SALES LINE")
    assert again.status_code == 200
    assert again.json()["data"] == {**first, "checkpoint": {"type": "QRCODE", "qrcode": PNG}}
    assert again.json()["data"]["checkpoint"] != first["checkpoint"]
    assert [(c.method, c.path) for c in fake_unipile.calls] == [
        ("POST", "/api/v1/accounts"), ("POST", f"/api/v1/accounts/{first['connectionId']}")]
    assert len(fake_unipile.accounts) == 1 and len(stored(db)) == 1


def test_create_connection_pending_twin_whose_account_expired_gets_a_new_account(live_client, fake_unipile, db):
    first = create(live_client).json()["data"]
    fake_unipile.accounts.clear()
    again = create(live_client)
    assert again.status_code == 200
    data = again.json()["data"]
    assert (data["id"], data["status"]) == (first["id"], "pending")
    assert data["connectionId"] != first["connectionId"] and data["connectionId"] in fake_unipile.accounts
    assert [d["connectionId"] for d in stored(db)] == [data["connectionId"]]
    assert webhook(live_client, data["connectionId"], "CREATION_SUCCESS").json() == outcome("applied")


def test_create_connection_instagram_then_notify_makes_it_active(live_client, fake_unipile, db):
    created = create(live_client, platform="instagram", name="Brand")
    assert created.status_code == 201
    data = created.json()["data"]
    assert created.json() == {"success": True, "data": {"id": OBJECT_ID, "connectionId": PLACEHOLDER, "authUrl": AUTH_URL, "status": "pending"}}
    [link] = fake_unipile.links.values()
    assert link["notify_url"] == "http://testserver" + NOTIFY
    [attempt] = db.auth_attempts.find()
    assert attempt["refHash"] == hashlib.sha256(link["name"].encode()).hexdigest()

    notify = fake_unipile.complete_hosted(data["authUrl"])
    answer = live_client.post(NOTIFY, json=notify)
    assert (answer.status_code, answer.json()) == (200, outcome("applied"))
    got = live_client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], notify["account_id"], platform="instagram", name="Brand")
    assert db.auth_attempts.count_documents({}) == 0
    # Unipile's status webhook for the same account, arriving after the notify call, changes nothing.
    assert webhook(live_client, notify["account_id"], "CREATION_SUCCESS", account_type="INSTAGRAM").json() == outcome("unchanged")


def test_create_connection_webhook_before_notify_is_ignored_then_notify_links(live_client, fake_unipile, db):
    data = create(live_client, platform="linkedin", name="Recruiting").json()["data"]
    notify = fake_unipile.complete_hosted(data["authUrl"])
    assert webhook(live_client, notify["account_id"], "CREATION_SUCCESS", account_type="LINKEDIN").json() == outcome("ignored")
    assert stored(db)[0]["status"] == "pending"
    assert live_client.post(NOTIFY, json=notify).json() == outcome("applied")
    assert stored(db)[0]["status"] == "active"


def test_reconnect_connection_after_credentials_qr_scan_makes_it_active(live_client, fake_unipile, db):
    data = create(live_client, platform="telegram", name="Support").json()["data"]
    account = data["connectionId"]
    webhook(live_client, account, "OK", account_type="TELEGRAM")
    assert webhook(live_client, account, "CREDENTIALS", account_type="TELEGRAM").json() == outcome("applied")
    reason = "The account's session ended or its credentials changed; reconnect it"
    got = live_client.get(f"{CONNECTIONS}/{account}", headers=auth())
    assert got.json() == connection_body(data["id"], account, platform="telegram", name="Support", status="error", reason=reason)

    reconnect = live_client.post(f"{CONNECTIONS}/{account}/reconnect", headers=auth())
    assert reconnect.status_code == 200
    assert reconnect.json() == {"success": True, "data": {
        "id": data["id"], "connectionId": account, "checkpoint": {"type": "QRCODE", "qrcode": PNG}, "status": "error"}}
    assert fake_unipile.calls[-1].path == f"/api/v1/accounts/{account}"
    assert fake_unipile.calls[-1].body == {"provider": "TELEGRAM"}

    assert webhook(live_client, account, "RECONNECTED", account_type="TELEGRAM").json() == outcome("applied")
    got = live_client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], account, platform="telegram", name="Support")
    assert len(stored(db)) == 1 and len(fake_unipile.accounts) == 1


def test_reconnect_connection_after_stopped_hosted_link_makes_it_active(live_client, fake_unipile, db):
    data = create(live_client, platform="email", name="Inbox").json()["data"]
    account = fake_unipile.complete_hosted(data["authUrl"])["account_id"]
    live_client.post(NOTIFY, json={"status": "CREATION_SUCCESS", "account_id": account, "name": next(iter(fake_unipile.links.values()))["name"]})
    webhook(live_client, account, "STOPPED", account_type="GOOGLE")
    reconnect = live_client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth())
    assert reconnect.json() == {"success": True, "data": {"id": data["id"], "connectionId": account, "authUrl": AUTH_URL, "status": "error"}}
    link = fake_unipile.links[reconnect.json()["data"]["authUrl"].rsplit("/", 1)[-1]]
    assert (link["type"], link["reconnect_account"], link["providers"]) == ("reconnect", account, ["GOOGLE", "OUTLOOK", "MAIL"])

    notify = fake_unipile.complete_hosted(reconnect.json()["data"]["authUrl"])
    assert notify == {"status": "RECONNECTED", "account_id": account, "name": link["name"]}
    assert live_client.post(NOTIFY, json=notify).json() == outcome("applied")
    got = live_client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], account, platform="email", name="Inbox")


def test_reconnect_connection_not_in_error_is_409(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    for status in ("pending", "active"):
        answer = live_client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth())
        assert (answer.status_code, answer.json()) == (409, error(
            "CONNECTION_NOT_READY", f"Connection is {status}; only a connection in error can be reconnected"))
        webhook(live_client, data["connectionId"], "OK")
    assert len(fake_unipile.calls) == 1


def test_reconnect_connection_in_progress_at_unipile_is_409_and_changes_nothing(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    webhook(live_client, data["connectionId"], "ERROR")
    before = stored(db)
    fake_unipile.fail("POST", f"/api/v1/accounts/{data['connectionId']}", "status", status=425)
    answer = live_client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth())
    assert (answer.status_code, answer.json()) == (409, error(
        "CONNECTION_IN_PROGRESS", "Another attempt to link this account is still in progress; try again shortly"))
    assert stored(db) == before and db.auth_attempts.count_documents({}) == 0


def test_reconnect_connection_read_only_role_or_other_business_is_refused(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    webhook(live_client, data["connectionId"], "ERROR")
    member = live_client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth(role="member"))
    assert (member.status_code, member.json()) == (403, error("FORBIDDEN", "Your role may only read"))
    other = live_client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth("other_business_id", "other_user_id"))
    assert (other.status_code, other.json()) == (404, error("CONNECTION_NOT_FOUND", "Connection not found"))
    assert len(fake_unipile.calls) == 1


def test_delete_connection_removes_account_at_unipile_and_ours(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    answer = live_client.delete(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert (answer.status_code, answer.json()) == (200, {"success": True, "message": "Connection deleted successfully"})
    assert fake_unipile.accounts == {} and stored(db) == [] and db.auth_attempts.count_documents({}) == 0
    assert (fake_unipile.calls[-1].method, fake_unipile.calls[-1].path) == ("DELETE", f"/api/v1/accounts/{data['connectionId']}")


def test_delete_connection_unknown_at_unipile_still_deletes_ours(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    fake_unipile.accounts.clear()
    answer = live_client.delete(f"{CONNECTIONS}/{data['connectionId']}", headers=auth())
    assert (answer.status_code, answer.json()) == (200, {"success": True, "message": "Connection deleted successfully"})
    assert stored(db) == []


def test_delete_connection_unipile_outage_leaves_ours_untouched(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    before, attempts = stored(db), list(db.auth_attempts.find())
    fake_unipile.fail("DELETE", r"/api/v1/accounts/.+", "status", status=503, times=10)
    answer = live_client.delete(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert stored(db) == before and list(db.auth_attempts.find()) == attempts
    assert len(fake_unipile.calls_to("DELETE", r".*")) == 3


def test_delete_connection_unipile_timeout_leaves_ours_untouched(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    before = stored(db)
    fake_unipile.fail("DELETE", r"/api/v1/accounts/.+", "slow", seconds=1.0, times=3)
    answer = live_client.delete(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert stored(db) == before


def test_delete_connection_never_linked_hosted_skips_unipile(live_client, fake_unipile, db):
    data = create(live_client, platform="messenger", name="Page").json()["data"]
    answer = live_client.delete(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert answer.status_code == 200 and stored(db) == []
    assert [c.method for c in fake_unipile.calls] == ["POST"]


def test_create_connection_unipile_rejects_is_502_and_stores_nothing(live_client, fake_unipile, db):
    fake_unipile.fail("POST", "/api/v1/hosted/accounts/link", "status", status=400, error_type="errors/invalid_parameters")
    answer = create(live_client, platform="linkedin")
    assert (answer.status_code, answer.json()) == (502, error("PROVIDER_ERROR", "The messaging provider rejected the request (HTTP 400)"))
    assert stored(db) == [] and db.auth_attempts.count_documents({}) == 0


def test_create_connection_unipile_timeout_is_503_tried_once_and_stores_nothing(live_client, fake_unipile, db):
    fake_unipile.fail("POST", "/api/v1/accounts", "slow", seconds=1.0)
    answer = create(live_client)
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert len(fake_unipile.calls) == 1
    assert stored(db) == [] and db.auth_attempts.count_documents({}) == 0


def test_create_connection_unipile_malformed_or_dropped_is_503_and_stores_nothing(live_client, fake_unipile, db):
    for kind in ("malformed", "drop"):
        fake_unipile.fail("POST", "/api/v1/accounts", kind)
        answer = create(live_client)
        assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert stored(db) == [] and db.auth_attempts.count_documents({}) == 0


def test_create_connection_unipile_rate_limited_long_is_503_with_retry_after(live_client, fake_unipile, db):
    fake_unipile.fail("POST", "/api/v1/accounts", "status", status=429, retry_after="60", error_type="api/too_many_requests")
    answer = create(live_client)
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert answer.headers["Retry-After"] == "60"
    assert stored(db) == []


def test_create_connection_refresh_in_progress_is_409_and_keeps_the_pending_twin(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    before = stored(db)
    fake_unipile.fail("POST", f"/api/v1/accounts/{data['connectionId']}", "status", status=425)
    answer = create(live_client)
    assert (answer.status_code, answer.json()) == (409, error(
        "CONNECTION_IN_PROGRESS", "Another attempt to link this account is still in progress; try again shortly"))
    assert stored(db) == before


def test_create_connection_failures_never_show_key_dsn_or_provider_body(live_client, fake_unipile, db, caplog):
    with caplog.at_level(logging.DEBUG):
        fake_unipile.fail("POST", "/api/v1/accounts", "status", status=401, error_type="errors/missing_credentials")
        first = create(live_client)
        fake_unipile.fail("POST", "/api/v1/accounts", "slow", seconds=1.0)
        second = create(live_client)
    assert first.json() == error("PROVIDER_ERROR", "The messaging provider refused this server's credentials")
    assert second.status_code == 503
    for text in (first.text, second.text, caplog.text):
        for secret in (API_KEY, fake_unipile.url, "127.0.0.1:" + fake_unipile.url.rsplit(":", 1)[1], "Injected failure"):
            assert secret not in text


def test_unipile_notify_reused_reference_is_404_and_attaches_nothing(live_client, fake_unipile, db):
    data = create(live_client, platform="instagram").json()["data"]
    notify = fake_unipile.complete_hosted(data["authUrl"])
    live_client.post(NOTIFY, json=notify)
    again = live_client.post(NOTIFY, json={**notify, "account_id": "acc_someone_else"})
    assert (again.status_code, again.json()) == (404, error("NOT_FOUND", "This link is unknown, expired or already used"))
    assert [d["connectionId"] for d in stored(db)] == [notify["account_id"]]


def test_unipile_notify_unknown_or_expired_reference_is_404(live_client, fake_unipile, db):
    data = create(live_client, platform="instagram").json()["data"]
    notify = fake_unipile.complete_hosted(data["authUrl"])
    unknown = live_client.post(NOTIFY, json={**notify, "name": "not-a-reference-of-ours"})
    assert (unknown.status_code, unknown.json()) == (404, error("NOT_FOUND", "This link is unknown, expired or already used"))
    db.auth_attempts.update_many({}, {"$set": {"expiresAt": dt.datetime(2020, 1, 1)}})
    expired = live_client.post(NOTIFY, json=notify)
    assert (expired.status_code, expired.json()) == (404, error("NOT_FOUND", "This link is unknown, expired or already used"))
    [doc] = stored(db)
    assert (doc["connectionId"], doc["status"]) == (data["connectionId"], "pending")


def test_unipile_notify_wrong_secret_is_404_and_keeps_the_attempt(live_client, fake_unipile, db):
    data = create(live_client, platform="instagram").json()["data"]
    notify = fake_unipile.complete_hosted(data["authUrl"])
    wrong = live_client.post("/api/v1/unipile/notify/" + "0" * 64, json=notify)
    assert (wrong.status_code, wrong.json()) == (404, error("NOT_FOUND", "Resource not found"))
    assert stored(db)[0]["status"] == "pending"
    assert live_client.post(NOTIFY, json=notify).json() == outcome("applied")


def test_unipile_notify_without_webhook_secret_configured_is_404(client, db):
    answer = client.post(NOTIFY, json={"status": "CREATION_SUCCESS", "account_id": "acc_1", "name": "x" * 32})
    assert (answer.status_code, answer.json()) == (404, error("NOT_FOUND", "Resource not found"))


def test_unipile_notify_other_status_is_ignored(live_client, fake_unipile, db):
    data = create(live_client, platform="instagram").json()["data"]
    notify = fake_unipile.complete_hosted(data["authUrl"])
    answer = live_client.post(NOTIFY, json={**notify, "status": "CREATION_FAIL"})
    assert (answer.status_code, answer.json()) == (200, outcome("ignored"))
    assert stored(db)[0]["status"] == "pending" and db.auth_attempts.count_documents({}) == 1


def test_unipile_notify_account_already_linked_elsewhere_is_409(live_client, fake_unipile, db):
    taken = create(live_client).json()["data"]["connectionId"]
    data = create(live_client, platform="instagram").json()["data"]
    notify = fake_unipile.complete_hosted(data["authUrl"])
    answer = live_client.post(NOTIFY, json={**notify, "account_id": taken})
    assert (answer.status_code, answer.json()) == (409, error("CONNECTION_EXISTS", "This account is already linked as another connection"))
    doc = db.connections.find_one({"platform": "instagram"})
    assert (doc["connectionId"], doc["status"], doc["statusReason"]) == (data["connectionId"], "error", "This account is already linked as another connection")


def test_unipile_notify_malformed_body_is_400(live_client, db):
    answer = live_client.post(NOTIFY, json={"status": "CREATION_SUCCESS", "name": "x" * 32})
    assert answer.status_code == 400 and answer.json()["code"] == "VALIDATION_ERROR"


def test_activate_whatsapp_qr_through_unipile_then_webhook_activates(live_client, fake_unipile, db):
    first = live_client.post("/api/v1/whatsapp/activate", headers=auth(), json={"businessId": "test_business_id"})
    assert (first.status_code, first.json()) == (200, {"success": True, "data": {"qrCode": PNG, "phoneNumber": "pending"}})
    [account] = fake_unipile.accounts
    again = live_client.post("/api/v1/whatsapp/activate", headers=auth(), json={"businessId": "test_business_id"})
    assert again.status_code == 200
    # Activating again refreshes the QR code of the same account: never a second account.
    [newest] = fake_unipile.accounts
    assert newest == account
    assert [(c.method, c.path) for c in fake_unipile.calls if c.method == "POST"] == [
        ("POST", "/api/v1/accounts"), ("POST", f"/api/v1/accounts/{account}")]
    assert db.whatsapp_integrations.find_one()["unipileAccountId"] == newest

    assert webhook(live_client, newest, "CREATION_SUCCESS").json() == outcome("applied")
    doc = db.whatsapp_integrations.find_one()
    assert (doc["status"], doc["phoneNumber"], doc["unipileAccountId"]) == ("active", "+33612345678", newest)
    done = live_client.post("/api/v1/whatsapp/activate", headers=auth(), json={"businessId": "test_business_id"})
    assert done.json() == {"success": True, "data": {"phoneNumber": "+33612345678", "status": "active"}}
    assert webhook(live_client, newest, "OK").json() == outcome("unchanged")
    assert stored(db) == []


def test_activate_whatsapp_qr_phone_not_reported_yet_is_503_for_unipile_to_retry(live_client, fake_unipile, db):
    live_client.post("/api/v1/whatsapp/activate", headers=auth(), json={"businessId": "test_business_id"})
    [account] = fake_unipile.accounts
    fake_unipile.phone_number = None
    answer = webhook(live_client, account, "OK")
    assert (answer.status_code, answer.json()) == (503, error(
        "PROVIDER_UNAVAILABLE", "The messaging provider has not reported the phone number yet"))
    assert db.whatsapp_integrations.find_one()["status"] == "pending"
    fake_unipile.phone_number = "+44 20 7946 0000"
    assert webhook(live_client, account, "OK").json() == outcome("applied")
    assert db.whatsapp_integrations.find_one()["phoneNumber"] == "+442079460000"


@pytest.mark.parametrize("kind, details", [("slow", {"seconds": 2.0}), ("status", {"status": 404}), ("status", {"status": 500})])
def test_activate_whatsapp_qr_account_lookup_failing_is_503_at_once(live_client, fake_unipile, db, kind, details):
    # The webhook answers Unipile fast: one short lookup, and any failure means "send the event again".
    live_client.post("/api/v1/whatsapp/activate", headers=auth(), json={"businessId": "test_business_id"})
    [account] = fake_unipile.accounts
    fake_unipile.fail("GET", f"/api/v1/accounts/{account}", kind, times=5, **details)
    answer = webhook(live_client, account, "OK")
    assert (answer.status_code, answer.json()) == (503, error(
        "PROVIDER_UNAVAILABLE", "The messaging provider has not reported the phone number yet"))
    assert len([c for c in fake_unipile.calls if c.method == "GET"]) == 1
    assert db.whatsapp_integrations.find_one()["status"] == "pending"


def test_activate_whatsapp_qr_credentials_then_deleted_puts_integration_in_error(live_client, fake_unipile, db):
    live_client.post("/api/v1/whatsapp/activate", headers=auth(), json={"businessId": "test_business_id"})
    [account] = fake_unipile.accounts
    webhook(live_client, account, "OK")
    assert webhook(live_client, account, "CREDENTIALS").json() == outcome("applied")
    doc = db.whatsapp_integrations.find_one()
    assert (doc["status"], doc["statusReason"]) == ("error", "The account's session ended or its credentials changed; reconnect it")
    assert webhook(live_client, account, "DELETED").json() == outcome("applied")
    doc = db.whatsapp_integrations.find_one()
    assert (doc["status"], doc["unipileAccountId"]) == ("error", None)
    assert webhook(live_client, account, "OK").json() == outcome("ignored")


def test_unipile_notify_secret_is_masked_in_the_access_log(live_client, fake_unipile, db, caplog):
    data = create(live_client, platform="instagram").json()["data"]
    with caplog.at_level(logging.INFO, logger="integrations.access"):
        live_client.post(NOTIFY, json=fake_unipile.complete_hosted(data["authUrl"]))
    lines = [r.getMessage() for r in caplog.records if r.name == "integrations.access"]
    assert any('"path": "/api/v1/unipile/notify/***"' in line for line in lines)
    server_lines = [r.getMessage() for r in caplog.records if r.name != "httpx"]  # httpx is the test's own client
    assert server_lines and not any(NOTIFY.rsplit("/", 1)[1] in line for line in server_lines)


def test_unipile_webhook_without_json_content_type_is_415(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    answer = live_client.post("/api/v1/unipile/webhooks", headers={"X-Unipile-Webhook-Secret": "test-unipile-webhook-secret-5d1e", "Content-Type": "text/plain"},
                              content=b'{"AccountStatus": {"account_id": "x", "message": "OK"}}')
    assert answer.status_code == 415 and answer.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert stored(db)[0]["status"] == "pending" and data["status"] == "pending"


def test_reconnect_connection_unipile_outage_is_503_and_leaves_error_as_it_was(live_client, fake_unipile, db):
    data = create(live_client, platform="instagram", name="Brand").json()["data"]
    live_client.post(NOTIFY, json=fake_unipile.complete_hosted(data["authUrl"]))
    account = stored(db)[0]["connectionId"]
    webhook(live_client, account, "CREDENTIALS", account_type="INSTAGRAM")
    before = stored(db)
    fake_unipile.fail("POST", "/api/v1/hosted/accounts/link", "status", status=500)
    answer = live_client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth())
    assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
    assert stored(db) == before and db.auth_attempts.count_documents({}) == 0


def test_create_connection_new_account_in_progress_is_409_and_stores_nothing(live_client, fake_unipile, db):
    fake_unipile.fail("POST", "/api/v1/accounts", "status", status=425)
    answer = create(live_client)
    assert (answer.status_code, answer.json()) == (409, error(
        "CONNECTION_IN_PROGRESS", "Another attempt to link this account is still in progress; try again shortly"))
    assert stored(db) == [] and db.auth_attempts.count_documents({}) == 0
