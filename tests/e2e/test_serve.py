"""The real `integrations-api serve` process over HTTP: spec payloads, restarts, shutdown, docs."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests
import yaml
from bson import ObjectId
from cryptography.fernet import Fernet
from pymongo import MongoClient
from connexion.json_schema import resolve_refs

from tests.conftest import TEST_JWT_SECRET
from tests.e2e.conftest import embedded_database_pids, serve_command
from tests.support.contract import SPEC_PATH
from tests.support.flows import ACTIVATE_PAYLOAD, CREATE_PAYLOAD, decode_qr

pytestmark = pytest.mark.e2e


def curl(server, path: str, payload: str):
    return server.request("POST", path, headers={**server.headers(), "Content-Type": "application/json"}, data=payload)


def test_serve_spec_curl_payloads_with_printed_token(live_server):
    server = live_server()
    created = curl(server, "/unipile/connections", CREATE_PAYLOAD)
    assert created.status_code == 201
    data = created.json()["data"]
    assert set(data) == {"id", "connectionId", "checkpoint", "status"} and data["status"] == "pending"
    assert re.match(rf"^{server.api}/sandbox/scan/[A-Za-z0-9_-]+$", decode_qr(data["checkpoint"]["qrcode"]))
    activated = curl(server, "/whatsapp/activate", ACTIVATE_PAYLOAD)
    assert activated.status_code == 200
    assert activated.json() == {"success": True, "data": {"authUrl": activated.json()["data"]["authUrl"], "phoneNumber": "pending"}}
    assert activated.json()["data"]["authUrl"].startswith(f"{server.api}/sandbox/authorize/")
    listed = server.request("GET", "/unipile/connections", headers=server.headers())
    assert [c["id"] for c in listed.json()["data"]] == [data["id"]]
    claims = jwt.decode(server.token, options={"verify_signature": False})
    assert (claims["sub"], claims["businessId"]) == ("test_user_id", "test_business_id")


def test_serve_sandbox_qr_and_consent_flows_over_http(live_server):
    server = live_server()
    qr = curl(server, "/unipile/connections", CREATE_PAYLOAD).json()["data"]
    scan_url = decode_qr(qr["checkpoint"]["qrcode"])
    page = server.request("GET", scan_url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert server.request("POST", scan_url).json() == {"success": True, "data": {"status": "active"}}
    assert server.request("GET", f"/unipile/connections/{qr['id']}", headers=server.headers()).json()["data"]["status"] == "active"
    oauth = server.request("POST", "/unipile/connections", headers=server.headers(),
                           json={"platform": "linkedin", "name": "Recruiting"}).json()["data"]
    assert server.request("GET", oauth["authUrl"]).status_code == 200
    decided = server.request("POST", oauth["authUrl"], data={"decision": "approve"})
    assert decided.status_code == 303
    assert decided.headers["location"].startswith(f"{server.api}/sandbox/complete?outcome=success&connectionId=sbx_")
    landing = server.request("GET", decided.headers["location"])
    assert landing.status_code == 200 and "is linked" in landing.text
    fetched = server.request("GET", f"/unipile/connections/{oauth['id']}", headers=server.headers()).json()["data"]
    assert fetched["status"] == "active"


def test_serve_restart_keeps_data_and_token(live_server):
    server = live_server()
    assert "MONGODB_URI" not in server.env
    token = server.token
    made = curl(server, "/unipile/connections", CREATE_PAYLOAD).json()["data"]
    before = server.request("GET", f"/unipile/connections/{made['id']}", headers=server.headers()).json()
    assert (server.data_dir / "integrations.db").exists()
    assert (server.data_dir / "jwt_secret").exists() and (server.data_dir / "encryption_key").exists()
    server.restart()
    after = server.request("GET", f"/unipile/connections/{made['id']}", headers=server.headers(token))
    assert after.status_code == 200
    assert after.json() == before
    # The same pending connection is found again after the restart (same record, unique index intact).
    again = curl(server, "/unipile/connections", CREATE_PAYLOAD)
    assert again.status_code == 200 and again.json()["data"]["id"] == made["id"]


def test_serve_sigterm_stops_embedded_database(live_server):
    server = live_server()
    assert len(embedded_database_pids(server.data_dir)) == 1
    assert server.stop(signal.SIGTERM) == 0
    assert embedded_database_pids(server.data_dir) == []
    assert any("embedded database stopped" in line for line in server.output)


def test_serve_sigint_stops_embedded_database(live_server):
    server = live_server()
    assert server.stop(signal.SIGINT) == 0
    assert embedded_database_pids(server.data_dir) == []



def test_serve_stops_when_its_launcher_dies(live_server):
    # A wrapper such as tox may exit on SIGTERM without passing it on: the server must not stay orphaned.
    server = live_server(start=False)
    launcher = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(600)",
         *serve_command(), "--stop-with-parent"],
        env=server.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not embedded_database_pids(server.data_dir) or not _answers(server):
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
    finally:
        launcher.kill()
        launcher.wait(10)
    deadline = time.monotonic() + 30
    while _answers(server) or embedded_database_pids(server.data_dir):
        assert time.monotonic() < deadline, "server or its database outlived the launcher"
        time.sleep(0.2)


def _answers(server) -> bool:
    try:
        return requests.get(server.api + "/openapi.json", timeout=2).status_code == 200
    except requests.RequestException:
        return False

def test_serve_swagger_ui_and_openapi_json(live_server):
    server = live_server()
    ui = server.request("GET", "/ui/", check=False)
    assert ui.status_code == 200
    assert ui.headers["content-type"].startswith("text/html") and "swagger" in ui.text.lower()
    served = server.request("GET", "/openapi.json", check=False)
    assert served.status_code == 200
    # Connexion serves the contract with its $refs resolved: the same document, inlined.
    contract = resolve_refs(yaml.safe_load(SPEC_PATH.read_text()))
    assert served.json() == json.loads(json.dumps(contract))


def test_serve_honours_port_and_jwt_secret(live_server):
    server = live_server({"JWT_SECRET": TEST_JWT_SECRET})
    assert jwt.decode(server.token, TEST_JWT_SECRET, algorithms=["HS256"])["businessId"] == "test_business_id"
    assert not (server.data_dir / "jwt_secret").exists()
    assert any(f"http://127.0.0.1:{server.port}/api/v1" in line for line in server.output)
    assert not any("Warning" in line for line in server.output), "start-up output should be clean"


def test_serve_access_log_is_json_without_token(live_server):
    server = live_server()
    server.request("GET", "/unipile/connections", headers=server.headers())
    server.stop()
    lines = [json.loads(line) for line in server.output if line.startswith("{") and '"event": "request"' in line]
    assert any(line["path"] == "/api/v1/unipile/connections" and line["status"] == 200
               and line["businessId"] == "test_business_id" for line in lines)
    assert not any(server.token in line for line in server.output if not line.startswith("export TOKEN="))


def test_serve_production_refuses_to_start_without_settings(tmp_path):
    result = subprocess.run(serve_command(), env={"PATH": "/usr/bin:/bin", "APP_ENV": "production", "DATA_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "APP_ENV=production refuses to start without MONGODB_URI, JWT_SECRET, ENCRYPTION_KEYS" in result.stderr
    assert embedded_database_pids(tmp_path) == []


def test_serve_live_oauth_refuses_to_start_without_meta_settings(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "PROVIDERS": "live", "UNIPILE_DSN": "https://api1.unipile.example:13111",
           "UNIPILE_API_KEY": "unipile-key-value", "UNIPILE_WEBHOOK_SECRET": "hook-secret-value", "META_APP_SECRET": "meta-secret-value"}
    result = subprocess.run(serve_command(), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "PROVIDERS=live needs META_APP_ID, META_CONFIG_ID, META_VERIFY_TOKEN" in result.stderr
    assert not any(secret in result.stderr + result.stdout for secret in ("unipile-key-value", "hook-secret-value", "meta-secret-value"))
    assert embedded_database_pids(tmp_path) == []


def test_serve_restart_keeps_encryption_key(live_server):
    server = live_server()
    secret = {"apiKey": "kept-across-restarts"}
    made = server.request("POST", "/unipile/connections", headers=server.headers(),
                          json={"platform": "email", "name": "Inbox", "credentials": secret}).json()["data"]
    server.restart()
    port = next(m.group(1) for line in server.output if (m := re.search(r"embedded database listening on 127\.0\.0\.1:(\d+)", line)))
    with MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=5000) as direct:
        stored = direct["integrations"]["connections"].find_one({"_id": ObjectId(made["id"])})
    key = (server.data_dir / "encryption_key").read_text().strip()
    assert json.loads(Fernet(key.encode()).decrypt(bytes(stored["credentials"]))) == secret


def test_serve_concurrent_creates_make_one_connection(live_server):
    server = live_server()
    body = {"platform": "telegram", "name": "Race"}

    def create(_):
        return server.request("POST", "/unipile/connections", headers=server.headers(), json=body)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(create, range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    listed = server.request("GET", "/unipile/connections", headers=server.headers()).json()["data"]
    assert [c["name"] for c in listed] == ["Race"]
