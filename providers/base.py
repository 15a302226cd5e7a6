"""The provider interface the handlers use, and the errors providers raise."""
from __future__ import annotations

import abc
import dataclasses
import logging

import requests
import segno
from requests.adapters import HTTPAdapter

from core.errors import ProviderError, ProviderUnavailable

__all__ = ["ConnectionProvider", "LinkStart", "ProviderError", "ProviderUnavailable", "Providers", "WhatsAppProvider", "WhatsAppSignup", "pooled_session", "qr_data_url"]


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


@dataclasses.dataclass(frozen=True)
class WhatsAppSignup:
    """What a finished Embedded Signup gives: the business's token, its WhatsApp Business Account and number."""

    access_token: str
    waba_id: str
    phone_number_id: str
    phone_number: str

    def __repr__(self) -> str:
        return f"WhatsAppSignup(access_token=***, waba_id={self.waba_id!r}, phone_number_id={self.phone_number_id!r})"


class WhatsAppProvider(abc.ABC):
    """Activates the WhatsApp Business Platform for a business (Meta in production)."""

    name = "abstract"

    @abc.abstractmethod
    def start_activation(self, *, business_id: str, reference: str, mode: str, account_id: str | None = None) -> LinkStart:
        """Begin activation: an auth URL (mode oauth) or a QR code text (mode qr, for the known account when given)."""

    # The OAuth completion steps; only providers with an OAuth flow (Meta, the sandbox) implement them.
    def finish_signup(self, code: str) -> WhatsAppSignup:
        """Exchange the authorisation code and find the account and phone number it grants."""
        raise ProviderError("This WhatsApp provider has no OAuth activation")

    def register_number(self, signup: WhatsAppSignup, pin: str) -> None:
        """Register the phone number for messaging with a two-step verification PIN."""
        raise ProviderError("This WhatsApp provider has no OAuth activation")

    def subscribe_app(self, signup: WhatsAppSignup) -> None:
        """Subscribe this app to the account's webhooks."""
        raise ProviderError("This WhatsApp provider has no OAuth activation")

    def unsubscribe_app(self, *, waba_id: str, access_token: str) -> None:
        """Stop this app's webhook subscription to the account."""
        return None


@dataclasses.dataclass(frozen=True)
class Providers:
    """The providers an app instance uses."""

    connections: ConnectionProvider
    whatsapp: WhatsAppProvider


PLACEHOLDER_PREFIX = "pending_"


def qr_data_url(text: str) -> str:
    """Render QR code text as a PNG data URL."""
    return segno.make(text, error="m", micro=False).png_data_uri(scale=6, border=2)


def pooled_session(session: requests.Session | None = None) -> requests.Session:
    """A requests session with a connection pool that never repeats a request on its own."""
    # urllib3 logs every request line (hosts, query strings with secrets) at DEBUG and full pools at WARNING.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    session = session or requests.Session()
    # Retries are the caller's decision (a repeated POST could create or register twice).
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
