"""Rate limits: per user (Flask-Limiter) and per client IP for failed requests, in memory and in Redis."""
from __future__ import annotations

import time

import pytest

from core.settings import Settings, SettingsError
from tests.conftest import auth
from tests.support.flows import ACTIVATE, CONNECTIONS, SPEC_ACTIVATE, error
from tests.support.unipile import NOTIFY, WEBHOOK, webhook

BAD_TOKEN = {"Authorization": "Bearer not-a-token"}
INVALID = error("INVALID_TOKEN", "Token is invalid")
IP_LIMITED = error("RATE_LIMITED", "Too many failed requests from your address: limit is 3 per 1 minute; try again later")


def from_ip(address: str, headers: dict | None = None) -> dict[str, str]:
    return {**(headers or {}), "X-Forwarded-For": address}


def assert_limit_headers(response, limit: int) -> None:
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) > 0


def test_list_connections_per_user_limit_headers(make_client, db):
    client = make_client(RATELIMIT_DEFAULT="2/minute")
    first = client.get(CONNECTIONS, headers=auth())
    assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    client.get(CONNECTIONS, headers=auth())
    response = client.get(CONNECTIONS, headers=auth())
    assert response.status_code == 429
    assert response.json() == error("RATE_LIMITED", "Too many requests: limit is 2 per 1 minute; try again later")
    assert_limit_headers(response, 2)


def test_list_connections_token_guessing_from_one_ip_rate_limited(make_client, db):
    client = make_client(RATELIMIT_IP_FAILURES="3/minute")
    for _ in range(3):
        response = client.get(CONNECTIONS, headers=BAD_TOKEN)
        assert response.status_code == 401 and response.json() == INVALID
    response = client.get(CONNECTIONS, headers=BAD_TOKEN)
    assert response.status_code == 429
    assert response.json() == IP_LIMITED
    assert_limit_headers(response, 3)
    # The address is blocked for the window, valid token or not; load-balancer probes from it still pass.
    assert client.get(CONNECTIONS, headers=auth()).status_code == 429
    for probe in ("/api/v1/health", "/api/v1/ready"):
        assert client.get(probe).status_code == 200


def test_list_connections_rate_limit_store_down_lets_requests_through(make_client, db):
    from core.database import free_port

    # Nothing listens there: the per-user and per-IP limits cannot count, and must not take the API down.
    client = make_client(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0", RATELIMIT_DEFAULT="1/minute")
    for _ in range(2):
        response = client.get(CONNECTIONS, headers=auth())
        assert (response.status_code, response.json()) == (200, {"success": True, "data": []})
    assert client.get(CONNECTIONS, headers=BAD_TOKEN).json() == INVALID


def test_create_connection_invalid_bodies_from_one_ip_rate_limited(make_client, db):
    client = make_client(RATELIMIT_IP_FAILURES="3/minute")
    for _ in range(3):
        assert client.post(CONNECTIONS, headers=auth(), json={"platform": "fax"}).status_code == 400
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "whatsapp", "name": "Fine"})
    assert response.status_code == 429
    assert response.json() == IP_LIMITED
    assert db.connections.count_documents({}) == 0


def test_list_connections_successes_not_counted_per_ip(make_client, db):
    client = make_client(RATELIMIT_IP_FAILURES="3/minute")
    for _ in range(10):
        assert client.get(CONNECTIONS, headers=auth()).status_code == 200


def test_list_connections_forwarded_for_ignored_without_trusted_proxy(make_client, db):
    client = make_client(RATELIMIT_IP_FAILURES="3/minute")
    for n in range(3):
        client.get(CONNECTIONS, headers=from_ip(f"203.0.113.{n}", BAD_TOKEN))
    # A different X-Forwarded-For does not make a new client when no proxy is trusted.
    assert client.get(CONNECTIONS, headers=from_ip("198.51.100.7", auth())).status_code == 429


def test_list_connections_client_ip_from_trusted_proxy_hops(make_client, db):
    client = make_client(RATELIMIT_IP_FAILURES="3/minute", TRUSTED_PROXY_HOPS=1)
    for n in range(3):
        # The left entries are whatever the client sent; the proxy appended the real address.
        client.get(CONNECTIONS, headers=from_ip(f"10.0.0.{n}, 203.0.113.9", BAD_TOKEN))
    assert client.get(CONNECTIONS, headers=from_ip("203.0.113.9", auth())).status_code == 429
    assert client.get(CONNECTIONS, headers=from_ip("203.0.113.10", auth())).status_code == 200


def test_list_connections_two_trusted_hops(make_client, db):
    client = make_client(RATELIMIT_IP_FAILURES="1/minute", TRUSTED_PROXY_HOPS=2)
    client.get(CONNECTIONS, headers=from_ip("1.1.1.1, 203.0.113.9, 10.0.0.2", BAD_TOKEN))
    assert client.get(CONNECTIONS, headers=from_ip("2.2.2.2, 203.0.113.9, 10.0.0.3", auth())).status_code == 429
    assert client.get(CONNECTIONS, headers=from_ip("203.0.113.9, 203.0.113.11, 10.0.0.2", auth())).status_code == 200


def test_unipile_callbacks_exempt_from_ip_limit(live_client, make_client, db, fake_unipile):
    for _ in range(5):
        assert live_client.post(WEBHOOK, headers={"X-Unipile-Webhook-Secret": "wrong"},
                                json={"AccountStatus": {"account_id": "a", "message": "OK"}}).status_code == 403
        assert live_client.post(NOTIFY[:-4] + "zzzz", json={"status": "CREATION_SUCCESS", "account_id": "a", "name": "n"}).status_code == 404
    assert webhook(live_client, "unknown-account", "OK").status_code == 200


def test_sandbox_pages_exempt_from_ip_limit(make_client, db):
    client = make_client(RATELIMIT_IP_FAILURES="2/minute")
    for _ in range(4):
        assert client.get("/api/v1/sandbox/scan/" + "x" * 20).status_code == 404
    assert client.get("/api/v1/sandbox/complete").status_code == 200
    assert client.get(CONNECTIONS, headers=auth()).status_code == 200


def test_list_connections_limit_shared_through_redis(make_client, db, redis_uri):
    first = make_client(RATELIMIT_STORAGE_URI=redis_uri, RATELIMIT_DEFAULT="3/minute")
    second = make_client(RATELIMIT_STORAGE_URI=redis_uri, RATELIMIT_DEFAULT="3/minute")
    assert first.get(CONNECTIONS, headers=auth()).status_code == 200
    assert second.get(CONNECTIONS, headers=auth()).status_code == 200
    assert first.get(CONNECTIONS, headers=auth()).status_code == 200
    response = second.get(CONNECTIONS, headers=auth())
    assert response.status_code == 429
    assert response.json() == error("RATE_LIMITED", "Too many requests: limit is 3 per 1 minute; try again later")


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_list_connections_rate_limit_headers_count_down(make_client, db, redis_uri, storage):
    client = make_client(RATELIMIT_STORAGE_URI=redis_uri if storage == "redis" else "memory://", RATELIMIT_DEFAULT="3/minute")
    started = int(time.time())
    for remaining in ("2", "1", "0"):
        response = client.get(CONNECTIONS, headers=auth())
        assert response.status_code == 200
        assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("3", remaining)
        assert started < int(response.headers["X-RateLimit-Reset"]) <= int(time.time()) + 61
        assert "Retry-After" not in response.headers
    response = client.get(CONNECTIONS, headers=auth())
    assert response.status_code == 429
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("3", "0")
    assert 0 < int(response.headers["Retry-After"]) <= 61


def test_activate_whatsapp_ip_failures_shared_through_redis(make_client, db, redis_uri):
    first = make_client(RATELIMIT_STORAGE_URI=redis_uri, RATELIMIT_IP_FAILURES="3/minute")
    second = make_client(RATELIMIT_STORAGE_URI=redis_uri, RATELIMIT_IP_FAILURES="3/minute")
    for client in (first, second, first):
        assert client.post(ACTIVATE, headers=BAD_TOKEN, json=SPEC_ACTIVATE).status_code == 401
    response = second.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    assert response.status_code == 429
    assert response.json() == IP_LIMITED
    assert db.whatsapp_integrations.count_documents({}) == 0


@pytest.mark.parametrize("name", ["RATELIMIT_DEFAULT", "RATELIMIT_IP_FAILURES"])
def test_settings_malformed_limit_names_variable(tmp_path, name):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"DATA_DIR": str(tmp_path), name: "lots"})
    assert str(raised.value) == f"{name} must be a rate such as 100/minute"
