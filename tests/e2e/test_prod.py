"""The real `integrations-api prod` process: gunicorn with two uvicorn workers over HTTP, and its shutdown."""
from __future__ import annotations

import json
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import embedded_database_pids, serve_command
from tests.support.flows import CREATE_PAYLOAD
from tests.support.metrics import value

pytestmark = pytest.mark.e2e


def worker_pids(master: int) -> list[int]:
    """The processes gunicorn forked as workers (children of the master other than the database)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children if b"nx_27017" not in Path(f"/proc/{pid}/cmdline").read_bytes())


def test_prod_two_workers_serve_the_api_and_stop_on_sigterm(live_server, redis_server, tmp_path):
    metrics_dir = tmp_path / "metrics"
    server = live_server({"WEB_CONCURRENCY": "2", "RATELIMIT_STORAGE_URI": redis_server, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
                         command="prod")
    master = server.process.pid
    workers = worker_pids(master)
    assert len(workers) == 2
    for probe in ("/health", "/ready"):
        answer = server.request("GET", probe)
        assert (answer.status_code, answer.json()) == (200, {"success": True, "data": {"status": "ok"}})
    created = server.request("POST", "/unipile/connections", headers={**server.headers(), "Content-Type": "application/json"},
                             data=CREATE_PAYLOAD)
    assert created.status_code == 201
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: server.request("GET", "/unipile/connections", headers=server.headers()), range(40)))
    assert {a.status_code for a in answers} == {200}
    assert {tuple(c["id"] for c in a.json()["data"]) for a in answers} == {(created.json()["data"]["id"],)}
    # One counter shared by both workers: the answer read after the last hit saw all 40 (per-worker counters would not).
    assert min(int(a.headers["X-RateLimit-Remaining"]) for a in answers) == 600 - 40
    assert "server" not in {k.lower() for k in answers[0].headers}
    # Both workers record into the shared directory; /metrics, answered by either, adds them up.
    scraped = server.request("GET", server.base_url + "/metrics", check=False)
    assert scraped.status_code == 200
    assert value(scraped.text, "integrations_http_request_duration_seconds_count", operation="list_connections", status="200") == 40
    assert list(metrics_dir.glob("histogram_*.db"))

    assert server.stop(signal.SIGTERM) == 0
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []
    assert embedded_database_pids(server.data_dir) == []
    assert any("embedded database stopped" in line for line in server.output)
    # Apart from the development banner, every line (gunicorn's and uvicorn's included) is a JSON log record.
    plain = [line.split(" ", 1)[0] for line in server.output if line.strip() and not line.startswith("{")]
    assert plain == ["Integrations", "Token", "export"]
    records = [json.loads(line) for line in server.output if line.startswith("{")]
    assert {"gunicorn.error", "uvicorn.error", "integrations.access", "core.cli"} <= {r["logger"] for r in records}


def test_prod_refuses_several_workers_with_memory_rate_limits(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "WEB_CONCURRENCY": "2", "RATELIMIT_STORAGE_URI": "memory://"}
    finished = subprocess.run(serve_command("prod"), env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    assert finished.stderr == (
        "integrations-api: WEB_CONCURRENCY=2 needs a shared RATELIMIT_STORAGE_URI (e.g. redis://host:6379/0): with memory:// "
        "each worker counts on its own and every limit is multiplied by the number of workers\n"
    )
    assert finished.stdout == "" and embedded_database_pids(tmp_path) == []
