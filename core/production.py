"""The production server: gunicorn managing uvicorn workers, one app (and database client) per worker."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from core.logs import JsonFormatter
from core.settings import Settings

log = logging.getLogger(__name__)

# Seconds a worker may take to finish its requests after SIGTERM before it is killed.
GRACEFUL_TIMEOUT = 20


class JsonLogger(glogging.Logger):
    """gunicorn's own log lines in the API's JSON form (uvicorn's worker logs through the same handlers)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


class Worker(UvicornWorker):
    """uvicorn under gunicorn, without a Server header (like `serve`)."""

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "server_header": False}


class ProductionServer(BaseApplication):
    """gunicorn configured from the settings; each worker builds its own app after the fork."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options = {
            "bind": [f"{self.settings.host}:{self.settings.port}"],
            "workers": self.settings.web_concurrency,
            "worker_class": f"{Worker.__module__}.{Worker.__qualname__}",
            # No preloading: the app, its MongoDB client and its limiter storage are created in each
            # worker after the fork, so no socket or lock is shared between processes.
            "preload_app": False,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "timeout": 60,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": self.settings.log_level.lower(),
            "logger_class": f"{JsonLogger.__module__}.{JsonLogger.__qualname__}",
            "proc_name": "integrations-api",
            # The control socket defaults to one path per user: two servers on a host would fight over it.
            "control_socket_disable": True,
        }
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self):
        """Build the ASGI app; gunicorn calls this in each worker after forking."""
        from app import create_app

        log.info("worker %s building the app", os.getpid())
        return create_app(self.settings)


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """PROMETHEUS_MULTIPROC_DIR for the workers' samples: the given one emptied, or a fresh one removed afterwards."""
    if "prometheus_client" in sys.modules:
        # prometheus_client picks its storage when imported: too late to switch to multiprocess mode.
        raise RuntimeError("metrics_directory() must run before prometheus_client is imported")
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="integrations-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        # Samples of an earlier run would be added to this one's.
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    owner = os.getpid()
    try:
        yield path
    finally:
        # Workers are forks of this process and unwind through here too: only the owner cleans up.
        if not given and os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)
