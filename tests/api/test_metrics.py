"""GET /metrics: Prometheus counts by operation and status, provider calls and errors, database errors."""
from __future__ import annotations

from core.database import EmbeddedMongo
from core.errors import ProviderUnavailable
from tests.conftest import auth
from tests.support.flows import CONNECTIONS, SPEC_CREATE, create, error
from tests.support.metrics import total, value
from tests.support.providers import failing

METRICS = "/metrics"
REQUESTS = "integrations_http_request_duration_seconds_count"


def scrape(client) -> str:
    """The /metrics text (not an operation of the contract: Prometheus' text format, not JSON)."""
    response = client.get(METRICS, check=False)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
    return response.text


def test_metrics_requests_by_operation_and_status(client, db):
    before = scrape(client)
    client.get(CONNECTIONS, headers=auth())
    client.get(CONNECTIONS, headers=auth())
    client.get(CONNECTIONS)
    client.get(f"{CONNECTIONS}/6b12426a53ceeaf625972af5", headers=auth())
    client.get("/api/v1/no-such-thing/6b12426a53ceeaf625972af5", headers=auth())
    after = scrape(client)
    for operation, status, count in (("list_connections", "200", 2), ("list_connections", "401", 1),
                                     ("get_connection", "404", 1), ("unmatched", "404", 1)):
        labels = {"operation": operation, "status": status}
        assert value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels) == count, labels
    bucket = {"operation": "list_connections", "status": "200", "le": "+Inf"}
    assert value(after, "integrations_http_request_duration_seconds_bucket", **bucket) - value(
        before, "integrations_http_request_duration_seconds_bucket", **bucket) == 2
    # Labels are operationIds and statuses: never ids, paths or tokens.
    assert "6b12426a53ceeaf625972af5" not in after and "no-such-thing" not in after and "Bearer" not in after


def test_metrics_provider_calls_timed(client, db):
    labels = {"provider": "sandbox", "call": "start_link"}
    before = scrape(client)
    create(client, "whatsapp", "Timed")
    after = scrape(client)
    assert value(after, "integrations_provider_call_duration_seconds_count", **labels) - value(
        before, "integrations_provider_call_duration_seconds_count", **labels) == 1
    assert value(after, "integrations_provider_errors_total", **labels) == value(before, "integrations_provider_errors_total", **labels)


def test_metrics_provider_errors_by_code(make_client, db):
    client = make_client(providers=failing(ProviderUnavailable()))
    labels = {"provider": "failing", "call": "start_link", "code": "PROVIDER_UNAVAILABLE"}
    before = scrape(client)
    assert client.post(CONNECTIONS, headers=auth(), json=SPEC_CREATE).status_code == 503
    after = scrape(client)
    assert value(after, "integrations_provider_errors_total", **labels) - value(before, "integrations_provider_errors_total", **labels) == 1


def test_metrics_database_errors(make_client, tmp_path):
    server = EmbeddedMongo(tmp_path / "metrics-db").start()
    try:
        client = make_client(MONGODB_URI=server.uri, DB_TIMEOUT_MS=200)
        server.stop()
        before = scrape(client)
        response = client.get(CONNECTIONS, headers=auth())
        assert (response.status_code, response.json()) == (
            503, error("DATABASE_UNAVAILABLE", "The database is unavailable; try again shortly"))
        after = scrape(client)
        # Labelled by exception type: which one (AutoReconnect, ServerSelectionTimeoutError) depends on timing.
        assert total(after, "integrations_database_errors_total") - total(before, "integrations_database_errors_total") == 1
    finally:
        server.stop()


def test_metrics_disabled_not_found(make_client, db):
    client = make_client(METRICS_ENABLED="false")
    response = client.get(METRICS)
    assert response.status_code == 404
    assert response.json() == error("NOT_FOUND", "Resource not found")


def test_metrics_other_method_not_allowed(client, db):
    response = client.post(METRICS)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json() == error("METHOD_NOT_ALLOWED", "Method not allowed")
