"""The sandbox consent page in a real browser: authUrl → Approve → success URL → connection active."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import auth
from tests.support.contract import check_response


def api(method: str, url: str, **kwargs) -> requests.Response:
    """Call the served API and check the answer against the contract."""
    headers = {**auth(), **kwargs.pop("headers", {})}
    body = kwargs.get("json")
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = requests.request(method, url, headers=headers, data=json.dumps(body).encode() if body is not None else None, timeout=10)
    check_response(method, url, headers, json.dumps(body).encode() if body is not None else None, response)
    return response


def test_consent_page_approve_in_browser_makes_connection_active(live_server, browser, db):
    created = api("POST", live_server + "/api/v1/unipile/connections", json={"platform": "instagram", "name": "Brand"})
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["authUrl"].startswith(live_server + "/api/v1/sandbox/authorize/")

    page = browser.new_page()
    try:
        page.goto(data["authUrl"])
        assert page.title() == "Sandbox authorisation"
        assert "the instagram account 'Brand'" in page.inner_text("body")
        page.click("button[value=approve]")
        page.wait_for_url("**/api/v1/sandbox/complete**")
        landed = urlsplit(page.url)
        query = parse_qs(landed.query)
        assert (landed.path, query["outcome"]) == ("/api/v1/sandbox/complete", ["success"])
        account = query["connectionId"][0]
        assert page.inner_text("h1") == f"The account {account} is linked. You can close this page and return to the app."
    finally:
        page.close()

    got = api("GET", f"{live_server}/api/v1/unipile/connections/{data['id']}")
    assert got.status_code == 200
    body = got.json()["data"]
    assert (body["id"], body["connectionId"], body["status"], body["statusReason"]) == (data["id"], account, "active", None)
    stored = db.connections.find_one({"connectionId": account})
    assert (stored["status"], stored["platform"], stored["name"]) == ("active", "instagram", "Brand")
    assert db.auth_attempts.count_documents({}) == 0


def test_consent_page_used_link_in_browser_is_gone(live_server, browser, db):
    data = api("POST", live_server + "/api/v1/unipile/connections", json={"platform": "linkedin", "name": "Jobs"}).json()["data"]
    page = browser.new_page()
    try:
        page.goto(data["authUrl"])
        page.click("button[value=deny]")
        page.wait_for_url("**/api/v1/sandbox/complete**")
        assert parse_qs(urlsplit(page.url).query)["outcome"] == ["failure"]
        again = page.goto(data["authUrl"])
        assert again.status == 404
        assert json.loads(page.inner_text("body")) == {
            "success": False, "message": "This link is unknown, expired or already used", "code": "NOT_FOUND"}
    finally:
        page.close()
    got = api("GET", f"{live_server}/api/v1/unipile/connections/{data['id']}").json()["data"]
    assert (got["status"], got["statusReason"]) == ("error", "Authorisation was denied")


def test_consent_page_approve_in_browser_activates_whatsapp(live_server, browser, db):
    started = api("POST", live_server + "/api/v1/whatsapp/activate", json={"businessId": "test_business_id"})
    assert started.status_code == 200
    page = browser.new_page()
    try:
        page.goto(started.json()["data"]["authUrl"])
        assert "WhatsApp Business to your business" in page.inner_text("body")
        page.click("button[value=approve]")
        page.wait_for_url("**/api/v1/sandbox/complete**")
        assert parse_qs(urlsplit(page.url).query)["outcome"] == ["success"]
    finally:
        page.close()
    got = api("GET", live_server + "/api/v1/whatsapp/integration")
    assert got.status_code == 200
    body = got.json()["data"]
    assert (body["status"], body["statusReason"], body["mode"]) == ("active", None, "oauth")
    stored = db.whatsapp_integrations.find_one({})
    assert stored["phoneNumber"] == body["phoneNumber"] and isinstance(stored["accessToken"], bytes)
