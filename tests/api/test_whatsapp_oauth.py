"""WhatsApp activation through Meta: activate → Facebook → OAuth callback → active, and every failure path."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from cryptography.fernet import Fernet

from models import WhatsAppIntegration
from models.meta_lifecycle import DENIED, EXPIRED, UNAVAILABLE, complete_whatsapp_oauth
from providers.meta_whatsapp import REAUTHORISE
from tests.conftest import BUSINESS, META_CONFIG_ID, META_VERIFY_TOKEN, TEST_ENCRYPTION_KEY, auth
from tests.fakes.meta_graph import APP_ID, APP_SECRET, VERSION
from tests.support.flows import ACTIVATE, SPEC_ACTIVATE
from tests.support.meta import FAILURE_URL, INTEGRATION, SUCCESS_URL, WEBHOOK, callback, start
from tests.support.unipile import TIMESTAMP

REDIRECT_URI = "http://testserver/api/v1/whatsapp/oauth/callback"


def decrypt(raw: bytes):
    return json.loads(Fernet(TEST_ENCRYPTION_KEY.encode()).decrypt(raw))


def integration_body(status: str, phone: str = "pending", reason: str | None = None) -> dict:
    return {"success": True, "data": {"status": status, "phoneNumber": phone, "statusReason": reason, "mode": "oauth",
                                      "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP}}


def assert_redirect(response, location: str) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == location
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""


def test_activate_whatsapp_live_oauth_gives_facebook_login_url(meta_client, db, fake_graph):
    response = meta_client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    assert response.status_code == 200
    data = response.json()["data"]
    assert response.json() == {"success": True, "data": {"authUrl": data["authUrl"], "phoneNumber": "pending"}}
    parts = urlsplit(data["authUrl"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"https://www.facebook.com/{VERSION}/dialog/oauth"
    query = parse_qs(parts.query)
    state = query.pop("state")[0]
    assert query == {"client_id": [APP_ID], "redirect_uri": [REDIRECT_URI], "config_id": [META_CONFIG_ID],
                     "response_type": ["code"], "override_default_response_type": ["true"]}
    attempt = db.auth_attempts.find_one({})
    assert state not in json.dumps(attempt, default=str) and (attempt["purpose"], attempt["flow"]) == ("whatsapp", "oauth")
    stored = db.whatsapp_integrations.find_one({})
    assert (stored["status"], stored["mode"], stored["phoneNumber"]) == ("pending", "oauth", "pending")
    assert fake_graph.calls == []


def test_oauth_callback_activates_and_stores_secrets_encrypted(meta_client, db, fake_graph):
    state = start(meta_client)
    code = fake_graph.issue_code(phone="+1 555-010-2030")
    assert_redirect(callback(meta_client, state=state, code=code), SUCCESS_URL)

    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("active", "+15550102030")
    account, token = fake_graph.account_of(code), fake_graph.token_of(code)
    register, = fake_graph.calls_to("POST", r"/\d+/register")
    pin = register.body["pin"]
    assert register.path == f"/{account.phone_id}/register" and len(pin) == 6 and pin.isdigit()
    assert account.subscribed and len(fake_graph.calls_to("POST", r"/\d+/subscribed_apps")) == 1
    raw = db.whatsapp_integrations.find_one({})
    assert isinstance(raw["accessToken"], bytes) and isinstance(raw["pin"], bytes)
    assert token.encode() not in raw["accessToken"] and pin.encode() not in raw["pin"]
    assert (decrypt(raw["accessToken"]), decrypt(raw["pin"])) == (token, pin)
    assert (raw["status"], raw["phoneNumber"], raw["statusReason"], raw["wabaId"], raw["phoneNumberId"], raw["completingUntil"]) == (
        "active", "+15550102030", None, account.waba_id, account.phone_id, 0)
    model = WhatsAppIntegration.find_for(BUSINESS)
    assert (model.accessToken, model.pin) == (token, pin)
    assert meta_client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE).json() == {
        "success": True, "data": {"phoneNumber": "+15550102030", "status": "active"}}


def test_oauth_callback_replayed_state_changes_nothing(meta_client, db, fake_graph):
    state = start(meta_client)
    code = fake_graph.issue_code()
    callback(meta_client, state=state, code=code)
    before = db.whatsapp_integrations.find_one({})
    assert_redirect(callback(meta_client, state=state, code=code), FAILURE_URL)
    assert_redirect(callback(meta_client, state=state, code=fake_graph.issue_code()), FAILURE_URL)
    assert db.whatsapp_integrations.find_one({}) == before
    assert len(fake_graph.calls_to("GET", "/oauth/access_token")) == 1
    assert len(fake_graph.calls_to("POST", r"/\d+/register")) == 1


def test_oauth_callback_state_of_replaced_attempt_changes_nothing(meta_client, db, fake_graph):
    old = start(meta_client)
    start(meta_client)
    assert_redirect(callback(meta_client, state=old, code=fake_graph.issue_code()), FAILURE_URL)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("pending")
    assert fake_graph.calls == []


def test_oauth_callback_expired_state_puts_integration_in_error(meta_client, db, fake_graph):
    state = start(meta_client)
    db.auth_attempts.update_many({}, {"$set": {"expiresAt": dt.datetime(2020, 1, 1)}})
    assert_redirect(callback(meta_client, state=state, code=fake_graph.issue_code()), FAILURE_URL)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("error", reason=EXPIRED)
    assert fake_graph.calls == []


def test_oauth_callback_unknown_or_missing_state_changes_nothing(meta_client, db, fake_graph):
    start(meta_client)
    before = db.whatsapp_integrations.find_one({})
    assert_redirect(callback(meta_client, state="x" * 32, code=fake_graph.issue_code()), FAILURE_URL)
    assert_redirect(callback(meta_client, code=fake_graph.issue_code()), FAILURE_URL)
    assert db.whatsapp_integrations.find_one({}) == before
    assert fake_graph.calls == []


def test_oauth_callback_denied_at_facebook_puts_integration_in_error(meta_client, db, fake_graph):
    state = start(meta_client)
    response = callback(meta_client, state=state, error="access_denied", error_code="200", error_reason="user_denied",
                        error_description="Permissions error")
    assert_redirect(response, FAILURE_URL)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("error", reason=DENIED)
    assert fake_graph.calls == []


def test_oauth_callback_used_code_puts_integration_in_error(meta_client, db, fake_graph):
    state = start(meta_client)
    code = fake_graph.issue_code()
    fake_graph.codes[code]["used"] = True
    assert_redirect(callback(meta_client, state=state, code=code), FAILURE_URL)
    reason = "Meta did not accept the authorisation code (expired or already used); activate WhatsApp again"
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("error", reason=reason)
    stored = db.whatsapp_integrations.find_one({})
    assert (stored["accessToken"], stored.get("pin"), stored["completingUntil"]) == (None, None, 0)


def test_oauth_callback_graph_190_asks_for_reauthorisation(meta_client, db, fake_graph):
    state = start(meta_client)
    fake_graph.fail("GET", r"/\d+/phone_numbers", "graph", status=400, code=190, subcode=463)
    assert_redirect(callback(meta_client, state=state, code=fake_graph.issue_code()), FAILURE_URL)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("error", reason=REAUTHORISE)
    assert db.whatsapp_integrations.find_one({})["accessToken"] is None
    assert fake_graph.calls_to("POST", r"/\d+/register") == []


def test_oauth_callback_graph_outage_leaves_error_not_half_active(meta_client, db, fake_graph):
    for kind, options in (("status", {"status": 500}), ("slow", {"seconds": 1.0}), ("drop", {}), ("malformed", {})):
        state = start(meta_client)
        fake_graph.fail("GET", "/oauth/access_token", kind, **options)
        assert_redirect(callback(meta_client, state=state, code=fake_graph.issue_code()), FAILURE_URL)
        assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("error", reason=UNAVAILABLE), kind
        stored = db.whatsapp_integrations.find_one({})
        assert (stored["accessToken"], stored.get("pin"), stored["completingUntil"]) == (None, None, 0)
    assert fake_graph.calls_to("POST", r"/\d+/register") == []


def test_oauth_callback_subscription_outage_keeps_pin_for_the_next_attempt(meta_client, db, fake_graph):
    state = start(meta_client)
    fake_graph.fail("POST", r"/\d+/subscribed_apps", "status", status=503)
    code = fake_graph.issue_code(phone="+44 7700 900123")
    assert_redirect(callback(meta_client, state=state, code=code), FAILURE_URL)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("error", reason=UNAVAILABLE)
    first_pin = fake_graph.calls_to("POST", r"/\d+/register")[0].body["pin"]
    stored = db.whatsapp_integrations.find_one({})
    assert stored["accessToken"] is None and decrypt(stored["pin"]) == first_pin
    # The number is registered with that PIN at Meta: the next attempt must use the same one.
    account = fake_graph.account_of(code)
    again = fake_graph.issue_code()
    fake_graph.codes[again]["account"] = account
    assert_redirect(callback(meta_client, state=start(meta_client), code=again), SUCCESS_URL)
    assert [c.body["pin"] for c in fake_graph.calls_to("POST", r"/\d+/register")] == [first_pin, first_pin]
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("active", "+447700900123")


def test_oauth_callback_pin_mismatch_explains_what_to_do(meta_client, db, fake_graph):
    state = start(meta_client)
    code = fake_graph.issue_code()
    fake_graph.pins[fake_graph.account_of(code).phone_id] = "000000"
    assert_redirect(callback(meta_client, state=state, code=code), FAILURE_URL)
    body = meta_client.get(INTEGRATION, headers=auth()).json()
    assert body["data"]["status"] == "error" and "two-step verification PIN" in body["data"]["statusReason"]
    assert "000000" not in json.dumps(body)


def test_oauth_callback_concurrent_completions_register_once(meta_client, db, fake_graph, make_client, meta_settings):
    client = make_client(**{**meta_settings, "META_READ_TIMEOUT_MS": 5000})
    services = client.app.app.extensions["integrations"]
    state = start(client)
    code = fake_graph.issue_code()
    fake_graph.fail("POST", r"/\d+/register", "slow", seconds=0.6)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(complete_whatsapp_oauth(services, state=state, code=code, error=None)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, True]
    assert len(fake_graph.calls_to("GET", "/oauth/access_token")) == 1
    assert len(fake_graph.calls_to("POST", r"/\d+/register")) == 1
    assert db.whatsapp_integrations.find_one({})["status"] == "active"


def test_oauth_callback_racing_a_second_activation_registers_once(meta_client, db, fake_graph, make_client, meta_settings):
    client = make_client(**{**meta_settings, "META_READ_TIMEOUT_MS": 5000})
    services = client.app.app.extensions["integrations"]
    first_state = start(client)
    fake_graph.fail("POST", r"/\d+/register", "slow", seconds=0.8)
    first = threading.Thread(target=complete_whatsapp_oauth, args=(services,),
                             kwargs={"state": first_state, "code": fake_graph.issue_code(), "error": None})
    first.start()
    while not fake_graph.calls_to("POST", r"/\d+/register"):
        threading.Event().wait(0.02)
    second_state = start(client)  # the user clicked "activate" again in another tab
    assert_redirect(callback(client, state=second_state, code=fake_graph.issue_code()), FAILURE_URL)
    first.join()
    assert len(fake_graph.calls_to("POST", r"/\d+/register")) == 1
    assert client.get(INTEGRATION, headers=auth()).json()["data"]["status"] == "active"


@pytest.mark.parametrize("query", ["state=abc&surprise=1", "state=" + "s" * 129, "error_description=" + "d" * 1001])
def test_oauth_callback_malformed_redirects_to_failure_page(meta_client, db, query):
    start(meta_client)
    assert_redirect(meta_client.get(f"/api/v1/whatsapp/oauth/callback?{query}"), FAILURE_URL)
    assert db.whatsapp_integrations.find_one({})["status"] == "pending"


def test_oauth_callback_never_echoes_or_logs_secrets(meta_client, db, fake_graph, caplog):
    caplog.set_level(logging.DEBUG)
    state = start(meta_client)
    code = fake_graph.issue_code()
    responses = [callback(meta_client, state=state, code=code)]
    responses.append(callback(meta_client, state=state, code=code))
    other = start(meta_client, "biz_two", "user_two")
    fake_graph.fail("POST", r"/\d+/register", "drop")
    responses.append(callback(meta_client, state=other, code=fake_graph.issue_code()))
    responses.append(meta_client.get(INTEGRATION, headers=auth()))
    responses.append(meta_client.delete(INTEGRATION, headers=auth()))
    responses.append(meta_client.get(f"{WEBHOOK}?hub.mode=subscribe&hub.verify_token={META_VERIFY_TOKEN}&hub.challenge=42"))
    responses.append(meta_client.get(f"{WEBHOOK}?hub.mode=subscribe&hub.verify_token={META_VERIFY_TOKEN}x&hub.challenge=42"))
    pins = [c.body["pin"] for c in fake_graph.calls_to("POST", r"/\d+/register")]
    secrets = [APP_SECRET, META_VERIFY_TOKEN, code, state, other, fake_graph.token_of(code), *pins]
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    text += "\n".join(r.text + json.dumps(dict(r.headers)) for r in responses)
    for secret in secrets:
        assert secret not in text


def test_oauth_callback_claim_held_elsewhere_waits_and_stale_claim_is_taken_over(meta_client, db, fake_graph):
    state = start(meta_client)
    db.whatsapp_integrations.update_one({}, {"$set": {"completingUntil": int(time.time()) + 60}})
    assert_redirect(callback(meta_client, state=state, code=fake_graph.issue_code()), FAILURE_URL)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("pending")
    assert fake_graph.calls == []
    # A worker that died mid-completion leaves an expired claim: the next activation completes.
    db.whatsapp_integrations.update_one({}, {"$set": {"completingUntil": int(time.time()) - 1}})
    assert_redirect(callback(meta_client, state=start(meta_client), code=fake_graph.issue_code()), SUCCESS_URL)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == integration_body("active", "+15550102030")
