"""GET /health (liveness) and GET /ready (database reachable), without a token."""
from __future__ import annotations

from core.database import EmbeddedMongo
from tests.conftest import auth
from tests.support.flows import API

OK = {"success": True, "data": {"status": "ok"}}
DATABASE_UNAVAILABLE = {"success": False, "message": "The database is unavailable; try again shortly", "code": "DATABASE_UNAVAILABLE"}


def test_health_ok_without_token(client):
    response = client.get(f"{API}/health")
    assert response.status_code == 200
    assert response.json() == OK


def test_health_ok_with_token(client):
    response = client.get(f"{API}/health", headers=auth())
    assert (response.status_code, response.json()) == (200, OK)


def test_ready_ok_when_database_answers(client):
    response = client.get(f"{API}/ready")
    assert response.status_code == 200
    assert response.json() == OK


def test_ready_database_stopped(make_client, tmp_path):
    server = EmbeddedMongo(tmp_path / "probe-db").start()
    try:
        client = make_client(MONGODB_URI=server.uri)
        assert client.get(f"{API}/ready").json() == OK
        server.stop()
        response = client.get(f"{API}/ready")
        assert response.status_code == 503
        assert response.json() == DATABASE_UNAVAILABLE
        # Liveness does not depend on the database: the process itself is fine.
        assert client.get(f"{API}/health").json() == OK
    finally:
        server.stop()


def test_ready_database_unreachable_from_start(make_client):
    from core.database import free_port

    client = make_client(MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}", DB_TIMEOUT_MS=200)
    response = client.get(f"{API}/ready")
    assert (response.status_code, response.json()) == (503, DATABASE_UNAVAILABLE)
    assert client.get(f"{API}/health").json() == OK


def test_health_not_rate_limited(make_client):
    client = make_client(RATELIMIT_DEFAULT="2/minute")
    answers = [client.get(f"{API}/health").status_code for _ in range(5)] + [client.get(f"{API}/ready").status_code for _ in range(5)]
    assert answers == [200] * 10
