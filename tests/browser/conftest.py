"""Browser tests: Debian's chromium driven by Playwright against the API served on a free port."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from core.database import free_port
from tests.conftest import TEST_DB, TEST_ENCRYPTION_KEY, TEST_JWT_SECRET

pytest.importorskip("playwright", reason="browser tests run in `tox -e browser`")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def live_server(mongo_server, tmp_path_factory):
    """`integrations-api serve` with sandbox providers on a free loopback port; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", ""), "APP_ENV": "test", "HOST": "127.0.0.1", "PORT": str(port),
        "PUBLIC_BASE_URL": base, "DATA_DIR": str(tmp_path_factory.mktemp("serve")), "MONGODB_URI": mongo_server.uri,
        "MONGODB_DB": TEST_DB, "JWT_SECRET": TEST_JWT_SECRET, "ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
        "PROVIDERS": "sandbox", "LOG_LEVEL": "WARNING",
    }
    log = open(tmp_path_factory.mktemp("serve-log") / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "serve"], env=env, cwd=Path(__file__).resolve().parents[2],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}; see {log.name}")
            try:
                if requests.get(base + "/api/v1/unipile/connections", timeout=1).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {log.name}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium; nothing is downloaded."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()
