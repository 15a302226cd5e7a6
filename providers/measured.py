"""Providers wrapped so that every outside call is timed and its failures counted (Prometheus)."""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

from core import metrics
from core.errors import AppError
from providers.base import ConnectionProvider, LinkStart, Providers, WhatsAppProvider, WhatsAppSignup


@contextlib.contextmanager
def _measured(provider: str, call: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except AppError as exc:
        metrics.PROVIDER_ERRORS.labels(provider, call, exc.code).inc()
        raise
    except Exception:
        metrics.PROVIDER_ERRORS.labels(provider, call, "INTERNAL_ERROR").inc()
        raise
    finally:
        metrics.PROVIDER_SECONDS.labels(provider, call).observe(time.perf_counter() - started)


class MeasuredConnections(ConnectionProvider):
    """A ConnectionProvider whose calls are measured; everything else is the wrapped provider's."""

    def __init__(self, inner: ConnectionProvider) -> None:
        self.inner = inner
        self.name = inner.name

    def start_link(self, *, platform: str, reference: str, account_id: str | None) -> LinkStart:
        with _measured(self.name, "start_link"):
            return self.inner.start_link(platform=platform, reference=reference, account_id=account_id)

    def delete_account(self, account_id: str) -> None:
        with _measured(self.name, "delete_account"):
            self.inner.delete_account(account_id)

    def account_phone(self, account_id: str) -> str | None:
        with _measured(self.name, "account_phone"):
            return self.inner.account_phone(account_id)

    def is_placeholder(self, connection_id: str) -> bool:
        return self.inner.is_placeholder(connection_id)


class MeasuredWhatsApp(WhatsAppProvider):
    """A WhatsAppProvider whose activation and OAuth completion calls are measured."""

    def __init__(self, inner: WhatsAppProvider) -> None:
        self.inner = inner
        self.name = inner.name

    def start_activation(self, *, business_id: str, reference: str, mode: str, account_id: str | None = None) -> LinkStart:
        with _measured(self.name, "start_activation"):
            return self.inner.start_activation(business_id=business_id, reference=reference, mode=mode, account_id=account_id)

    def finish_signup(self, code: str) -> WhatsAppSignup:
        with _measured(self.name, "finish_signup"):
            return self.inner.finish_signup(code)

    def register_number(self, signup: WhatsAppSignup, pin: str) -> None:
        with _measured(self.name, "register_number"):
            self.inner.register_number(signup, pin)

    def subscribe_app(self, signup: WhatsAppSignup) -> None:
        with _measured(self.name, "subscribe_app"):
            self.inner.subscribe_app(signup)

    def unsubscribe_app(self, *, waba_id: str, access_token: str) -> None:
        with _measured(self.name, "unsubscribe_app"):
            self.inner.unsubscribe_app(waba_id=waba_id, access_token=access_token)


def measured(providers: Providers) -> Providers:
    """The same providers, with their outside calls measured."""
    return Providers(connections=MeasuredConnections(providers.connections), whatsapp=MeasuredWhatsApp(providers.whatsapp))
