"""The sandbox walks the live lifecycle offline: scan, consent, status events, reconnect, delete."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from core.settings import Settings
from providers.base import LinkStart, Providers
from providers.sandbox import SandboxConnections, SandboxWhatsApp
from tests.conftest import auth
from tests.support.client import ContractClient
from tests.support.unipile import CONNECTIONS, PNG, Matches, connection_body, create, error, outcome

SBX_ID = Matches(r"sbx_[A-Za-z0-9_-]+")
CREDENTIALS_REASON = "The account's session ended or its credentials changed; reconnect it"


class RecordingSandbox(SandboxConnections):
    """The sandbox provider, remembering the links it handed out (a test cannot read a QR image)."""

    def __init__(self, public_base_url: str) -> None:
        super().__init__(public_base_url)
        self.links: list[LinkStart] = []

    def start_link(self, *, platform: str, reference: str, account_id: str | None) -> LinkStart:
        link = super().start_link(platform=platform, reference=reference, account_id=account_id)
        self.links.append(link)
        return link


@pytest.fixture
def sandbox(settings_env, db) -> tuple[ContractClient, RecordingSandbox]:
    from app import create_app

    settings = Settings.from_env(settings_env)
    recording = RecordingSandbox(settings.public_base_url)
    app = create_app(settings, providers=Providers(connections=recording, whatsapp=SandboxWhatsApp(settings.public_base_url)))
    return ContractClient(app), recording


def path_of(url: str) -> str:
    return urlsplit(url).path


def event(client, ref: str, message: str, **kwargs):
    return client.post(f"/api/v1/sandbox/connections/{ref}/events", headers=kwargs.get("headers") or auth(), json={"message": message})


def test_scan_qr_connection_becomes_active_through_status_path(sandbox, db):
    client, recording = sandbox
    data = create(client).json()["data"]
    scan = path_of(recording.links[-1].qr_text)
    assert client.get(scan).status_code == 200
    answer = client.post(scan)
    assert (answer.status_code, answer.json()) == (200, {"success": True, "data": {"status": "active"}})
    got = client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], data["connectionId"])
    assert db.auth_attempts.count_documents({}) == 0
    again = client.post(scan)
    assert (again.status_code, again.json()) == (404, error("NOT_FOUND", "This link is unknown, expired or already used"))


def test_send_sandbox_event_credentials_then_reconnect_then_scan_is_active(sandbox, db):
    client, recording = sandbox
    data = create(client, platform="telegram", name="Support").json()["data"]
    client.post(path_of(recording.links[-1].qr_text))
    answer = event(client, data["id"], "CREDENTIALS")
    assert (answer.status_code, answer.json()) == (200, outcome("applied"))
    got = client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], data["connectionId"], platform="telegram", name="Support", status="error", reason=CREDENTIALS_REASON)

    reconnect = client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth())
    assert reconnect.json() == {"success": True, "data": {
        "id": data["id"], "connectionId": data["connectionId"], "checkpoint": {"type": "QRCODE", "qrcode": PNG}, "status": "error"}}
    assert client.post(path_of(recording.links[-1].qr_text)).status_code == 200
    got = client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], data["connectionId"], platform="telegram", name="Support")
    assert db.connections.count_documents({}) == 1


def test_authorize_approve_then_credentials_then_reconnect_keeps_account(sandbox, db, settings_env):
    client, _ = sandbox
    data = create(client, platform="linkedin", name="Recruiting").json()["data"]
    approve = client.post(path_of(data["authUrl"]), data={"decision": "approve"})
    assert approve.status_code == 303
    location = urlsplit(approve.headers["Location"])
    account = parse_qs(location.query)["connectionId"][0]
    assert (location.path, parse_qs(location.query)["outcome"]) == ("/api/v1/sandbox/complete", ["success"])
    assert client.get(f"{CONNECTIONS}/{data['id']}", headers=auth()).json() == connection_body(
        data["id"], SBX_ID, platform="linkedin", name="Recruiting")

    event(client, account, "STOPPED")
    reconnect = client.post(f"{CONNECTIONS}/{account}/reconnect", headers=auth()).json()["data"]
    assert reconnect["connectionId"] == account and reconnect["status"] == "error"
    assert client.post(path_of(reconnect["authUrl"]), data={"decision": "approve"}).status_code == 303
    got = client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], account, platform="linkedin", name="Recruiting")


def test_authorize_deny_puts_connection_in_error_and_reconnect_starts_over(sandbox, db):
    client, _ = sandbox
    data = create(client, platform="instagram", name="Brand").json()["data"]
    deny = client.post(path_of(data["authUrl"]), data={"decision": "deny"})
    assert deny.status_code == 303 and "outcome=failure" in deny.headers["Location"]
    got = client.get(f"{CONNECTIONS}/{data['id']}", headers=auth())
    assert got.json() == connection_body(data["id"], data["connectionId"], platform="instagram", name="Brand",
                                         status="error", reason="Authorisation was denied")
    reconnect = client.post(f"{CONNECTIONS}/{data['id']}/reconnect", headers=auth()).json()["data"]
    client.post(path_of(reconnect["authUrl"]), data={"decision": "approve"})
    got = client.get(f"{CONNECTIONS}/{data['id']}", headers=auth()).json()["data"]
    assert (got["status"], got["connectionId"]) == ("active", SBX_ID)


def test_send_sandbox_event_deleted_removes_the_connection(sandbox, db):
    client, _ = sandbox
    data = create(client).json()["data"]
    assert event(client, data["id"], "DELETED").json() == outcome("removed")
    assert db.connections.count_documents({}) == 0
    gone = event(client, data["id"], "OK")
    assert (gone.status_code, gone.json()) == (404, error("CONNECTION_NOT_FOUND", "Connection not found"))


def test_send_sandbox_event_other_business_or_read_only_role_is_refused(sandbox, db):
    client, _ = sandbox
    data = create(client).json()["data"]
    other = event(client, data["id"], "OK", headers=auth("other_business_id", "other_user_id"))
    assert (other.status_code, other.json()) == (404, error("CONNECTION_NOT_FOUND", "Connection not found"))
    member = event(client, data["id"], "OK", headers=auth(role="member"))
    assert (member.status_code, member.json()) == (403, error("FORBIDDEN", "Your role may only read"))
    unauthenticated = client.post(f"/api/v1/sandbox/connections/{data['id']}/events", json={"message": "OK"})
    assert unauthenticated.status_code == 401
    assert db.connections.find_one()["status"] == "pending"


def test_send_sandbox_event_unknown_message_is_400(sandbox, db):
    client, _ = sandbox
    data = create(client).json()["data"]
    answer = event(client, data["id"], "EXPLODE")
    assert answer.status_code == 400 and answer.json()["code"] == "VALIDATION_ERROR"


def test_send_sandbox_event_with_live_providers_is_404(live_client, fake_unipile, db):
    data = create(live_client).json()["data"]
    answer = event(live_client, data["id"], "OK")
    assert (answer.status_code, answer.json()) == (404, error("NOT_FOUND", "Resource not found"))
    assert db.connections.find_one()["status"] == "pending"
