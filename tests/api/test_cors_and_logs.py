"""CORS for the configured origins, and one JSON access-log line per call."""
from __future__ import annotations

import json
import logging

from tests.conftest import auth, token_for
from tests.support.flows import CONNECTIONS, SPEC_CREATE, create

ORIGIN = "http://localhost:3000"


def test_cors_configured_origin_gets_headers(client, db):
    response = client.get(CONNECTIONS, headers={**auth(), "Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in response.headers["vary"]
    assert "X-Request-ID" in response.headers["access-control-expose-headers"]


def test_cors_other_origin_gets_none(client, db):
    response = client.get(CONNECTIONS, headers={**auth(), "Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_cors_origin_from_settings(make_client, db):
    client = make_client(CORS_ORIGINS="https://app.example.com, https://admin.example.com")
    response = client.get(CONNECTIONS, headers={**auth(), "Origin": "https://admin.example.com"})
    assert response.headers["access-control-allow-origin"] == "https://admin.example.com"
    other = client.get(CONNECTIONS, headers={**auth(), "Origin": ORIGIN})
    assert "access-control-allow-origin" not in other.headers


def test_cors_preflight_without_token(client, db):
    response = client.request("OPTIONS", CONNECTIONS, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, POST, PATCH, DELETE, OPTIONS"
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"


def test_cors_preflight_other_origin_not_allowed(client, db):
    response = client.request("OPTIONS", CONNECTIONS, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"})
    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_on_errors_too(client, db):
    response = client.get(CONNECTIONS, headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ORIGIN


def server_log(caplog) -> str:
    """Everything the server logged (the test client's own httpx lines excluded)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))


def access_lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "integrations.access"]


def test_access_log_one_line_per_call(client, db, caplog):
    caplog.set_level(logging.INFO, logger="integrations.access")
    token = token_for()
    response = client.post(CONNECTIONS, headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-123"},
                           json={**SPEC_CREATE, "credentials": {"password": "hunter2-secret"}})
    assert response.headers["x-request-id"] == "req-123"
    client.get(CONNECTIONS, headers={"Authorization": "Bearer garbage"})
    lines = access_lines(caplog)
    assert len(lines) == 2
    first, second = lines
    assert set(first) == {"event", "requestId", "method", "path", "status", "latencyMs", "businessId", "userId", "operation"}
    assert first["requestId"] == "req-123"
    assert (first["method"], first["path"], first["status"], first["businessId"], first["userId"]) == (
        "POST", CONNECTIONS, 201, "test_business_id", "test_user_id")
    assert isinstance(first["latencyMs"], float) and first["latencyMs"] >= 0
    assert (second["status"], second["businessId"]) == (401, None)
    assert len(second["requestId"]) == 32
    everything = server_log(caplog)
    assert token not in everything and "garbage" not in everything and "hunter2-secret" not in everything


def test_access_log_hides_sandbox_references(client, db, caplog):
    caplog.set_level(logging.INFO, logger="integrations.access")
    made = create(client, "instagram", "Brand")
    caplog.clear()
    reference = made["authUrl"].rsplit("/", 1)[1]
    client.get(f"/api/v1/sandbox/authorize/{reference}")
    (line,) = access_lines(caplog)
    assert line["path"] == "/api/v1/sandbox/authorize/***"
    assert reference not in server_log(caplog)


def test_request_id_generated_when_missing_or_unsafe(client, db):
    response = client.get(CONNECTIONS, headers={**auth(), "X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32
