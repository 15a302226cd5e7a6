"""What one app instance is built from: settings, token verifier, providers."""
from __future__ import annotations

import dataclasses

from core.auth import TokenVerifier
from core.settings import Settings
from providers.base import Providers


@dataclasses.dataclass(frozen=True)
class Services:
    """Shared by the middleware (via the ASGI scope) and the handlers (via Flask)."""

    settings: Settings
    verifier: TokenVerifier
    providers: Providers
