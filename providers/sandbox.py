"""A local provider that behaves like Unipile and Meta without any account or network.

Its QR codes and authorisation links point at this API's own /sandbox pages, where a
person (or a test) completes the flow as a phone scan or a consent screen would.
"""
from __future__ import annotations

import secrets as token_source

from core.settings import QR_PLATFORMS
from providers.base import ConnectionProvider, LinkStart, WhatsAppProvider, WhatsAppSignup


def sandbox_account_id() -> str:
    """A fresh sandbox account id, shaped like a Unipile one."""
    return "sbx_" + token_source.token_urlsafe(16)


def sandbox_phone_number() -> str:
    """A fictional phone number from the 555-01xx range."""
    return "+1555010" + f"{token_source.randbelow(10000):04d}"


class SandboxConnections(ConnectionProvider):
    """Sandbox stand-in for Unipile: QR platforms get an account id at once, others on consent."""

    name = "sandbox"

    def __init__(self, public_base_url: str) -> None:
        self._base = public_base_url.rstrip("/") + "/api/v1/sandbox"

    def start_link(self, *, platform: str, reference: str, account_id: str | None) -> LinkStart:
        if platform in QR_PLATFORMS:
            return LinkStart(account_id=account_id or sandbox_account_id(), qr_text=f"{self._base}/scan/{reference}")
        return LinkStart(account_id=account_id, auth_url=f"{self._base}/authorize/{reference}")

    def delete_account(self, account_id: str) -> None:
        return None


class SandboxWhatsApp(WhatsAppProvider):
    """Sandbox stand-in for Meta Embedded Signup (oauth) or WhatsApp through Unipile (qr)."""

    name = "sandbox"

    def __init__(self, public_base_url: str) -> None:
        self._base = public_base_url.rstrip("/") + "/api/v1/sandbox"

    def start_activation(self, *, business_id: str, reference: str, mode: str, account_id: str | None = None) -> LinkStart:
        if mode == "qr":
            return LinkStart(qr_text=f"{self._base}/scan/{reference}")
        return LinkStart(auth_url=f"{self._base}/authorize/{reference}")

    def finish_signup(self, code: str) -> WhatsAppSignup:
        """A fictional account and number, as if Meta had granted them."""
        return WhatsAppSignup(
            access_token="sbx_token_" + token_source.token_urlsafe(24), waba_id="sbx_waba_" + token_source.token_hex(8),
            phone_number_id="sbx_phone_" + token_source.token_hex(8), phone_number=sandbox_phone_number(),
        )

    def register_number(self, signup: WhatsAppSignup, pin: str) -> None:
        return None

    def subscribe_app(self, signup: WhatsAppSignup) -> None:
        return None
