"""Operation handlers, one module per resource; functions are named by operationId."""
from __future__ import annotations

from flask import current_app

from core.services import Services


def services() -> Services:
    """The running app's settings and providers."""
    return current_app.extensions["integrations"]
