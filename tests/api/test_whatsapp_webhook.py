"""Meta's webhook: verification (GET) and signed events (POST) that can revoke an integration."""
from __future__ import annotations

import json

from models.meta_lifecycle import BANNED, REVOKING_EVENTS
from tests.conftest import META_VERIFY_TOKEN, auth
from tests.support.flows import error
from tests.support.meta import INTEGRATION, WEBHOOK, account_update, callback, signed, start
from tests.support.unipile import outcome

FORBIDDEN = error("FORBIDDEN", "Missing or wrong X-Hub-Signature-256")
VERIFY_FAILED = error("FORBIDDEN", "Webhook verification failed: wrong hub.mode or hub.verify_token")


def verify(client, token: str = META_VERIFY_TOKEN, mode: str = "subscribe", challenge: str = "1158201444"):
    return client.get(f"{WEBHOOK}?hub.mode={mode}&hub.verify_token={token}&hub.challenge={challenge}")


def active_waba(client, fake_graph) -> str:
    code = fake_graph.issue_code()
    callback(client, state=start(client), code=code)
    return fake_graph.account_of(code).waba_id


def test_verify_whatsapp_webhook_right_token_echoes_challenge(meta_client, db):
    response = verify(meta_client)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "1158201444"


def test_verify_whatsapp_webhook_wrong_token_or_mode_403(meta_client, db):
    for response in (verify(meta_client, token="guess"), verify(meta_client, mode="unsubscribe"), verify(meta_client, token="")):
        assert response.status_code == 403
        assert response.json() == VERIFY_FAILED


def test_verify_whatsapp_webhook_without_configured_token_403(client, db):
    response = verify(client)
    assert response.status_code == 403
    assert response.json() == VERIFY_FAILED


def test_verify_whatsapp_webhook_missing_challenge_400(meta_client, db):
    response = meta_client.get(f"{WEBHOOK}?hub.mode=subscribe&hub.verify_token={META_VERIFY_TOKEN}")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_whatsapp_webhook_missing_or_wrong_signature_403(meta_client, db, fake_graph):
    waba = active_waba(meta_client, fake_graph)
    body = account_update(waba, "PARTNER_REMOVED")
    wrong = {**signed(body, "not-the-app-secret")}
    reformatted = {**signed(json.dumps(json.loads(body), separators=(",", ":")).encode())}  # the same JSON re-serialised: other bytes
    for headers in ({"Content-Type": "application/json"}, wrong, reformatted,
                    {**signed(body), "X-Hub-Signature-256": "sha1=" + "0" * 40}):
        response = meta_client.post(WEBHOOK, headers=headers, content=body)
        assert response.status_code == 403
        assert response.json() == FORBIDDEN
    assert meta_client.get(INTEGRATION, headers=auth()).json()["data"]["status"] == "active"


def test_whatsapp_webhook_non_utf8_body_checked_before_parsing(meta_client, db):
    body = b'{"object": "whatsapp_business_account", "x": "\xff\xfe"}'
    unsigned = meta_client.post(WEBHOOK, headers={"Content-Type": "application/json"}, content=body)
    assert (unsigned.status_code, unsigned.json()) == (403, FORBIDDEN)
    response = meta_client.post(WEBHOOK, headers=signed(body), content=body)
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", "Request body must be UTF-8 encoded JSON")


def test_whatsapp_webhook_signed_event_acknowledged(meta_client, db, fake_graph):
    waba = active_waba(meta_client, fake_graph)
    for body in (account_update(waba, "VERIFIED_ACCOUNT"), account_update("999", "PARTNER_REMOVED"),
                 json.dumps({"object": "page", "entry": []}).encode(),
                 account_update(waba, "DISABLED_UPDATE", ban_info={"waba_ban_state": "REINSTATE"})):
        response = meta_client.post(WEBHOOK, headers=signed(body), content=body)
        assert response.status_code == 200
        assert response.json() == outcome("ignored")
    assert meta_client.get(INTEGRATION, headers=auth()).json()["data"]["status"] == "active"


def test_whatsapp_webhook_partner_removed_puts_integration_in_error(meta_client, db, fake_graph):
    waba = active_waba(meta_client, fake_graph)
    body = account_update(waba, "PARTNER_REMOVED")
    response = meta_client.post(WEBHOOK, headers=signed(body), content=body)
    assert (response.status_code, response.json()) == (200, outcome("applied"))
    data = meta_client.get(INTEGRATION, headers=auth()).json()["data"]
    assert (data["status"], data["statusReason"], data["phoneNumber"]) == ("error", REVOKING_EVENTS["PARTNER_REMOVED"], "+15550102030")
    assert db.whatsapp_integrations.find_one({})["accessToken"] is None
    again = meta_client.post(WEBHOOK, headers=signed(body), content=body)
    assert again.json() == outcome("unchanged")


def test_whatsapp_webhook_ban_puts_integration_in_error(meta_client, db, fake_graph):
    waba = active_waba(meta_client, fake_graph)
    body = account_update(waba, "DISABLED_UPDATE", ban_info={"waba_ban_state": "DISABLE", "waba_ban_date": "2026-12-04"})
    assert meta_client.post(WEBHOOK, headers=signed(body), content=body).json() == outcome("applied")
    data = meta_client.get(INTEGRATION, headers=auth()).json()["data"]
    assert (data["status"], data["statusReason"]) == ("error", BANNED)


def test_whatsapp_webhook_without_app_secret_rejects_everything(client, db):
    body = account_update("123", "PARTNER_REMOVED")
    response = client.post(WEBHOOK, headers=signed(body), content=body)
    assert (response.status_code, response.json()) == (403, FORBIDDEN)
