"""The provider interface the handlers use, and the errors providers raise."""
from __future__ import annotations

import abc
import dataclasses

import segno

from core.errors import ProviderError, ProviderUnavailable

__all__ = ["ConnectionProvider", "LinkStart", "ProviderError", "ProviderUnavailable", "Providers", "WhatsAppProvider", "qr_data_url"]


@dataclasses.dataclass(frozen=True)
class LinkStart:
    """How the user continues linking an account: a QR code to scan or a URL to open."""

    account_id: str | None = None
    qr_text: str | None = None
    auth_url: str | None = None

    def __repr__(self) -> str:
        # QR payloads and auth URLs are bearer-like secrets: keep them out of logs and tracebacks.
        return f"LinkStart(account_id={self.account_id!r}, qr_text={'***' if self.qr_text else None}, auth_url={'***' if self.auth_url else None})"


class ConnectionProvider(abc.ABC):
    """Links and unlinks messaging accounts (Unipile in production)."""

    name = "abstract"

    @abc.abstractmethod
    def start_link(self, *, platform: str, reference: str, account_id: str | None) -> LinkStart:
        """Begin (or restart, when account_id is known) linking an account for a platform."""

    @abc.abstractmethod
    def delete_account(self, account_id: str) -> None:
        """Remove a linked account at the provider; an unknown account is not an error."""

    def account_phone(self, account_id: str) -> str | None:
        """The phone number of a linked WhatsApp account, when the provider knows it."""
        return None

    def is_placeholder(self, connection_id: str) -> bool:
        """Whether a connectionId is our own reference rather than a provider account id."""
        return connection_id.startswith(PLACEHOLDER_PREFIX)


class WhatsAppProvider(abc.ABC):
    """Activates the WhatsApp Business Platform for a business (Meta in production)."""

    name = "abstract"

    @abc.abstractmethod
    def start_activation(self, *, business_id: str, reference: str, mode: str) -> LinkStart:
        """Begin activation: an auth URL (mode oauth) or a QR code text (mode qr)."""


@dataclasses.dataclass(frozen=True)
class Providers:
    """The providers an app instance uses."""

    connections: ConnectionProvider
    whatsapp: WhatsAppProvider


PLACEHOLDER_PREFIX = "pending_"


def qr_data_url(text: str) -> str:
    """Render QR code text as a PNG data URL."""
    return segno.make(text, error="m", micro=False).png_data_uri(scale=6, border=2)
