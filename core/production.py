"""The production server: gunicorn managing uvicorn workers, one app (and database client) per worker."""
from __future__ import annotations

import logging
import os
from typing import Any

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from core.settings import Settings

log = logging.getLogger(__name__)

# Seconds a worker may take to finish its requests after SIGTERM before it is killed.
GRACEFUL_TIMEOUT = 20


class Worker(UvicornWorker):
    """uvicorn under gunicorn, without a Server header (like `serve`)."""

    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "server_header": False}


class ProductionServer(BaseApplication):
    """gunicorn configured from the settings; each worker builds its own app after the fork."""

    def __init__(self, settings: Settings, *, hooks: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.hooks = hooks or {}
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
            "proc_name": "integrations-api",
            # The control socket defaults to one path per user: two servers on a host would fight over it.
            "control_socket_disable": True,
            **self.hooks,
        }
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self):
        """Build the ASGI app; gunicorn calls this in each worker after forking."""
        from app import create_app

        log.info("worker %s building the app", os.getpid())
        return create_app(self.settings)
