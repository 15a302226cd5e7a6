"""The database connection, and the embedded wire-protocol server used when MONGODB_URI is unset."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mongoengine as me
import pymongo
from pymongo.errors import PyMongoError

from core import metrics

log = logging.getLogger(__name__)


def connect(uri: str, *, db: str, timeout_ms: int) -> None:
    """(Re)register the default MongoEngine connection; the client connects lazily (safe across fork)."""
    me.disconnect()
    me.connect(
        host=uri,
        db=db,
        connect=False,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 5, 10000),
        uuidRepresentation="standard",
        tz_aware=False,
    )


def ping(timeout_seconds: float) -> bool:
    """Whether the database answers a ping within the timeout (server selection included)."""
    try:
        with pymongo.timeout(timeout_seconds):
            me.get_db().command("ping")
    except PyMongoError as exc:
        log.warning("database ping failed: %s", type(exc).__name__)
        metrics.count_database_error(exc)
        return False
    return True


def ensure_indexes(documents) -> None:
    """Create every index the queries need (idempotent)."""
    for document in documents:
        document.ensure_indexes()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmbeddedMongo:
    """The nx-27017 MongoDB wire-protocol server as a child process on loopback."""

    def __init__(self, data_dir: Path, *, port: int | None = None, db_file: str = "integrations.db") -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.db_path = self.data_dir / db_file
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "EmbeddedMongo":
        """Start the server and wait until it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stem = self.db_path.stem
        self._stop_stale()
        command = [
            sys.executable, "-c", "import sys; from nx_27017.nx_27017 import main; sys.exit(main())",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--db", str(self.db_path),
            "--pid-file", str(self.data_dir / f"{stem}.pid"),
            "--log-file", str(self.data_dir / f"{stem}.log"),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the embedded database exited with code {self.process.returncode}; see {self.data_dir / (stem + '.log')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if self.process.poll() is None:
                log.info("embedded database listening on 127.0.0.1:%s (file %s)", self.port, self.db_path)
                return self
        self.stop()
        raise RuntimeError("the embedded database did not start in time")

    def running_pid(self) -> int | None:
        """The pid of a server already running on this database file, if any."""
        try:
            pid = int((self.data_dir / f"{self.db_path.stem}.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            return None
        return pid if "nx_27017" in cmdline and str(self.db_path) in cmdline else None

    def _stop_stale(self) -> None:
        """A server left running on our file by a killed parent would share it with the new one: stop it."""
        pid = self.running_pid()
        if pid is not None:
            log.warning("stopping a leftover embedded database (pid %s) on %s", pid, self.db_path)
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server cleanly (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def kill(self) -> None:
        """Stop the server abruptly, as a crash would."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
