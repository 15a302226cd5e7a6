"""Provider implementations that fail in the ways real providers do, for the error paths."""
from __future__ import annotations

from core.errors import ProviderError, ProviderUnavailable
from providers.base import ConnectionProvider, LinkStart, Providers, WhatsAppProvider
from providers.sandbox import SandboxConnections, SandboxWhatsApp
from tests.support.flows import PUBLIC_BASE_URL


class FailingConnections(ConnectionProvider):
    """A connection provider whose every call raises the given exception."""

    name = "failing"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def start_link(self, *, platform: str, reference: str, account_id: str | None) -> LinkStart:
        raise self.exc

    def delete_account(self, account_id: str) -> None:
        raise self.exc


class FailingWhatsApp(WhatsAppProvider):
    """A WhatsApp provider whose activation raises the given exception."""

    name = "failing"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def start_activation(self, *, business_id: str, reference: str, mode: str, account_id: str | None = None) -> LinkStart:
        raise self.exc


def failing(exc: BaseException) -> Providers:
    """Providers that all raise exc."""
    return Providers(connections=FailingConnections(exc), whatsapp=FailingWhatsApp(exc))


def sandbox() -> Providers:
    """The sandbox providers, as create_app builds them for the test server's base URL."""
    return Providers(connections=SandboxConnections(PUBLIC_BASE_URL), whatsapp=SandboxWhatsApp(PUBLIC_BASE_URL))
