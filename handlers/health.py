"""Probes for load balancers and orchestrators: liveness and readiness."""
from __future__ import annotations

from core import database
from core.errors import DatabaseUnavailable

# A readiness probe must answer before the prober gives up (often 1-2 s), even with the database gone.
READY_TIMEOUT_SECONDS = 1.0
_OK = {"success": True, "data": {"status": "ok"}}


def health() -> tuple[dict, int]:
    """Liveness: the process answers; no token, no database."""
    return _OK, 200


def ready() -> tuple[dict, int]:
    """Readiness: the database answers a ping within READY_TIMEOUT_SECONDS."""
    if not database.ping(READY_TIMEOUT_SECONDS):
        raise DatabaseUnavailable()
    return _OK, 200
