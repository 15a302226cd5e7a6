"""GET and DELETE /whatsapp/integration: polling, deactivation, roles and tenant isolation."""
from __future__ import annotations

from tests.conftest import BUSINESS, OTHER_BUSINESS, OTHER_USER, auth
from tests.support.flows import ACTIVATE, SPEC_ACTIVATE, decide, error
from tests.support.meta import INTEGRATION, SUCCESS_URL, callback, start
from tests.support.unipile import TIMESTAMP

NONE = error("NOT_FOUND", "This business has no WhatsApp integration")
DEACTIVATED = {"success": True, "message": "WhatsApp integration deactivated"}


def body(status: str, phone: str = "pending", reason: str | None = None, mode: str = "oauth") -> dict:
    return {"success": True, "data": {"status": status, "phoneNumber": phone, "statusReason": reason, "mode": mode,
                                      "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP}}


def activated(client, fake_graph, business: str = BUSINESS, user: str = "test_user_id", phone: str = "+1 555-010-2030") -> str:
    """A business taken to an active integration through Meta; returns the code used."""
    code = fake_graph.issue_code(phone=phone)
    assert callback(client, state=start(client, business, user), code=code).headers["location"] == SUCCESS_URL
    return code


def test_get_whatsapp_integration_none_is_404(client, db):
    response = client.get(INTEGRATION, headers=auth())
    assert response.status_code == 404
    assert response.json() == NONE


def test_get_whatsapp_integration_without_token_401(client, db):
    response = client.get(INTEGRATION)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


def test_get_whatsapp_integration_pending_then_active_readable_by_every_role(meta_client, db, fake_graph):
    start(meta_client)
    assert meta_client.get(INTEGRATION, headers=auth(role="member")).json() == body("pending")
    activated(meta_client, fake_graph)
    for role in ("owner", "admin", "member"):
        response = meta_client.get(INTEGRATION, headers=auth(role=role))
        assert response.status_code == 200
        assert response.json() == body("active", "+15550102030")
    assert "accessToken" not in response.text and "pin" not in response.text


def test_get_whatsapp_integration_sandbox_qr_mode(make_client, db):
    client = make_client(WHATSAPP_MODE="qr")
    client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    assert client.get(INTEGRATION, headers=auth()).json() == body("pending", mode="qr")


def test_delete_whatsapp_integration_unsubscribes_and_forgets_secrets(meta_client, db, fake_graph):
    code = activated(meta_client, fake_graph)
    response = meta_client.delete(INTEGRATION, headers=auth())
    assert response.status_code == 200
    assert response.json() == DEACTIVATED
    unsubscribe, = fake_graph.calls_to("DELETE", r"/\d+/subscribed_apps")
    assert unsubscribe.header("Authorization") == f"Bearer {fake_graph.token_of(code)}"
    assert not fake_graph.account_of(code).subscribed
    stored = db.whatsapp_integrations.find_one({})
    assert (stored["status"], stored["statusReason"], stored["accessToken"], stored["pin"], stored["wabaId"], stored["phoneNumberId"]) == (
        "inactive", None, None, None, None, None)
    assert meta_client.get(INTEGRATION, headers=auth()).json() == body("inactive", "+15550102030")
    assert db.auth_attempts.count_documents({}) == 0
    # Repeatable, and activation starts again on the same record.
    assert meta_client.delete(INTEGRATION, headers=auth()).json() == DEACTIVATED
    assert len(fake_graph.calls_to("DELETE", r"/\d+/subscribed_apps")) == 1
    activated(meta_client, fake_graph, phone="+1 555-010-9999")
    assert meta_client.get(INTEGRATION, headers=auth()).json() == body("active", "+15550109999")
    assert db.whatsapp_integrations.count_documents({}) == 1


def test_delete_whatsapp_integration_meta_outage_503_record_untouched(meta_client, db, fake_graph):
    activated(meta_client, fake_graph)
    before = db.whatsapp_integrations.find_one({})
    for kind, options in (("status", {"status": 500}), ("slow", {"seconds": 1.0}), ("drop", {})):
        fake_graph.fail("DELETE", r"/\d+/subscribed_apps", kind, **options)
        response = meta_client.delete(INTEGRATION, headers=auth())
        assert response.status_code == 503, kind
        assert response.json() == error("PROVIDER_UNAVAILABLE", "Meta is unavailable; try again shortly")
        assert db.whatsapp_integrations.find_one({}) == before


def test_delete_whatsapp_integration_revoked_token_still_deactivates(meta_client, db, fake_graph):
    code = activated(meta_client, fake_graph)
    fake_graph.revoked.add(fake_graph.token_of(code))
    assert meta_client.delete(INTEGRATION, headers=auth()).json() == DEACTIVATED
    assert db.whatsapp_integrations.find_one({})["status"] == "inactive"


def test_delete_whatsapp_integration_member_forbidden(meta_client, db, fake_graph):
    activated(meta_client, fake_graph)
    response = meta_client.delete(INTEGRATION, headers=auth(role="member"))
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "Your role may only read")
    assert db.whatsapp_integrations.find_one({})["status"] == "active"
    assert fake_graph.calls_to("DELETE", r"/\d+/subscribed_apps") == []


def test_delete_whatsapp_integration_none_is_404(client, db):
    response = client.delete(INTEGRATION, headers=auth())
    assert response.status_code == 404
    assert response.json() == NONE


def test_delete_whatsapp_integration_pending_kills_its_link(client, db):
    link = client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE).json()["data"]
    assert client.delete(INTEGRATION, headers=auth()).json() == DEACTIVATED
    assert decide(client, link).status_code == 404
    assert client.get(INTEGRATION, headers=auth()).json() == body("inactive")


def test_whatsapp_integration_tenant_isolation(meta_client, db, fake_graph):
    activated(meta_client, fake_graph)
    other = auth(OTHER_BUSINESS, OTHER_USER)
    assert meta_client.get(INTEGRATION, headers=other).json() == NONE
    response = meta_client.delete(INTEGRATION, headers=other)
    assert (response.status_code, response.json()) == (404, NONE)
    assert db.whatsapp_integrations.find_one({"businessId": BUSINESS})["status"] == "active"
    # The other business's own activation is a separate record with its own number.
    activated(meta_client, fake_graph, OTHER_BUSINESS, OTHER_USER, phone="+1 555-010-7777")
    assert meta_client.get(INTEGRATION, headers=other).json() == body("active", "+15550107777")
    assert meta_client.get(INTEGRATION, headers=auth()).json() == body("active", "+15550102030")


def test_whatsapp_integration_sandbox_consent_walks_the_callback_path(client, db):
    link = client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE).json()["data"]
    assert decide(client, link).headers["location"] == SUCCESS_URL
    stored = db.whatsapp_integrations.find_one({})
    # The same completion as Meta's callback: an (offline) token and PIN stored encrypted, a sandbox account.
    assert isinstance(stored["accessToken"], bytes) and isinstance(stored["pin"], bytes)
    assert stored["wabaId"].startswith("sbx_waba_") and stored["completingUntil"] == 0
    assert client.get(INTEGRATION, headers=auth()).json() == body("active", stored["phoneNumber"])
    assert client.delete(INTEGRATION, headers=auth()).json() == DEACTIVATED


def test_delete_whatsapp_integration_qr_mode_removes_unipile_account(live_client, fake_unipile, db):
    live_client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    [account] = fake_unipile.accounts
    fake_unipile.fail("DELETE", f"/api/v1/accounts/{account}", "status", status=500)
    response = live_client.delete(INTEGRATION, headers=auth())
    assert (response.status_code, response.json()["code"]) == (503, "PROVIDER_UNAVAILABLE")
    assert db.whatsapp_integrations.find_one({})["unipileAccountId"] == account
    assert live_client.delete(INTEGRATION, headers=auth()).json() == DEACTIVATED
    assert fake_unipile.accounts == {}
    stored = db.whatsapp_integrations.find_one({})
    assert (stored["status"], stored["unipileAccountId"]) == ("inactive", None)
    assert live_client.get(INTEGRATION, headers=auth()).json() == body("inactive", mode="qr")
