"""The real server process, started through the console entry point `tox -e serve` runs.

`live_server` is a factory: `server = live_server()` starts `integrations-api serve` on a free
loopback port with its own DATA_DIR (embedded database unless env gives MONGODB_URI) and returns
a LiveServer once the API answers. Every server a test started is stopped afterwards, and any
embedded database left behind for its DATA_DIR is killed.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from core.database import free_port
from tests.support.contract import check_response

TOKEN_LINE = re.compile(r"^export TOKEN=(\S+)$")
# Settings the server reads; none leaks in from the environment the tests run in.
SETTINGS = re.compile(
    r"^(APP_ENV|HOST|PORT|PUBLIC_BASE_URL|DATA_DIR|MONGODB_\w+|DB_TIMEOUT_MS|JWT_\w+|ENCRYPTION_KEYS|CORS_ORIGINS|"
    r"FRONTEND_\w+|PROVIDERS|UNIPILE_\w+|WHATSAPP_MODE|META_\w+|AUTH_LINK_TTL_SECONDS|RATELIMIT_\w+|"
    r"TRUSTED_PROXY_HOPS|MAX_BODY_BYTES|WEB_CONCURRENCY|LOG_LEVEL|VALIDATE_RESPONSES|SWAGGER_UI|"
    r"METRICS_ENABLED|PROMETHEUS_MULTIPROC_DIR)$"
)


def serve_command(command: str = "serve") -> list[str]:
    """The installed console script next to this interpreter (what `tox -e serve` or `tox -e prod` runs)."""
    script = Path(sys.executable).with_name("integrations-api")
    if script.exists():
        return [str(script), command]
    return [sys.executable, "-m", "core.cli", command]


def embedded_database_pids(data_dir: Path) -> list[int]:
    """PIDs of nx-27017 servers running on a file in data_dir."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "nx_27017" in cmdline and str(data_dir) in cmdline:
            pids.append(int(entry.name))
    return pids


class LiveServer:
    """One `integrations-api serve` (or `prod`) process; env may be changed before start() or restart()."""

    def __init__(self, data_dir: Path, env: dict[str, str], command: str = "serve") -> None:
        self.data_dir = data_dir
        self.command = command
        self.port = free_port()
        base = {k: v for k, v in os.environ.items() if not SETTINGS.match(k)}
        self.env: dict[str, str] = {**base, "HOST": "127.0.0.1", "PORT": str(self.port), "DATA_DIR": str(data_dir),
                                    "LOG_LEVEL": "INFO", **env}
        self.process: subprocess.Popen | None = None
        self.token: str | None = None
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return self.base_url + "/api/v1"

    def start(self, timeout: float = 60.0) -> "LiveServer":
        """Start the process and wait until it printed its token and answers HTTP."""
        self.port = int(self.env["PORT"])
        self.token, self.output = None, []
        self.process = subprocess.Popen(
            serve_command(self.command), env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"server exited with {self.process.returncode}:\n" + "\n".join(self.output[-40:]))
            try:
                if requests.get(self.api + "/openapi.json", timeout=2).status_code == 200 and self.token:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                # gunicorn binds the port before its workers are ready: a connection may wait unanswered.
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not answer in time:\n" + "\n".join(self.output[-40:]))

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            match = TOKEN_LINE.match(line.strip())
            if match:
                self.token = match.group(1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Send sig and wait for the process to end; its exit code (None if it was not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        return process.returncode

    def restart(self, timeout: float = 60.0) -> "LiveServer":
        """Stop cleanly and start again with the same DATA_DIR, port and env."""
        self.stop()
        return self.start(timeout)

    def headers(self, token: str | None = None) -> dict[str, str]:
        """Authorization header with the printed token (or another)."""
        return {"Authorization": f"Bearer {token or self.token}"}

    def request(self, method: str, path: str, *, check: bool = True, **kwargs: Any) -> requests.Response:
        """Call the API over HTTP; the response is checked against the contract like every test response."""
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        url = path if path.startswith("http") else self.api + path
        response = requests.request(method, url, **kwargs)
        if check:
            request = response.request
            body = request.body.encode() if isinstance(request.body, str) else request.body
            check_response(method, response.url, dict(request.headers), body, response)
        return response


@pytest.fixture
def live_server(tmp_path_factory) -> Callable[..., LiveServer]:
    """Factory: live_server(env={...}, start=True, command="serve") -> a running LiveServer with its own DATA_DIR."""
    servers: list[LiveServer] = []

    def make(env: dict[str, str] | None = None, *, start: bool = True, command: str = "serve") -> LiveServer:
        server = LiveServer(tmp_path_factory.mktemp(command), dict(env or {}), command)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()
        for pid in embedded_database_pids(server.data_dir):
            os.kill(pid, signal.SIGKILL)
