"""The Unipile provider against the local fake Unipile server (real HTTP on loopback)."""
from __future__ import annotations

import datetime as dt
import email.utils
import logging
import re
import time

import pytest

from core.errors import ConnectionInProgress, ProviderError, ProviderUnavailable
from core.database import free_port
from providers.base import LinkStart
from providers.unipile import RetryPolicy, UnipileClient, UnipileConnections, UnipileWhatsApp, notify_path_secret
from tests.fakes.unipile import API_KEY

NOTIFY = "https://api.example.test/api/v1/unipile/notify/" + "n" * 32
SUCCESS, FAILURE = "https://app.example.test/ok", "https://app.example.test/failed"
EXPIRES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Sleeps(list):
    """Records every wait the client asks for, and really waits."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def provider_for(url: str, sleeps: Sleeps, *, key: str = API_KEY, read_timeout: float = 0.4) -> UnipileConnections:
    client = UnipileClient(
        dsn=url, api_key=key, timeout=(1.0, read_timeout),
        retry=RetryPolicy(attempts=3, backoff_seconds=0.01, max_retry_after_seconds=2.0), sleep=sleeps,
    )
    return UnipileConnections(client, notify_url=NOTIFY, success_url=SUCCESS, failure_url=FAILURE, link_ttl_seconds=900)


@pytest.fixture
def unipile(fake_unipile, sleeps) -> UnipileConnections:
    return provider_for(fake_unipile.url, sleeps)


def test_start_link_whatsapp_creates_account_with_qr(unipile, fake_unipile):
    link = unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert isinstance(link, LinkStart) and link.auth_url is None
    assert link.account_id in fake_unipile.accounts
    assert link.qr_text.startswith("2@")
    [call] = fake_unipile.calls
    assert (call.method, call.path, call.header("X-API-KEY"), call.body) == ("POST", "/api/v1/accounts", API_KEY, {"provider": "WHATSAPP"})


def test_start_link_known_account_reissues_qr_for_same_account(unipile, fake_unipile):
    first = unipile.start_link(platform="telegram", reference="r" * 32, account_id=None)
    again = unipile.start_link(platform="telegram", reference="s" * 32, account_id=first.account_id)
    assert again.account_id == first.account_id
    assert again.qr_text != first.qr_text
    assert [(c.method, c.path, c.body) for c in fake_unipile.calls] == [
        ("POST", "/api/v1/accounts", {"provider": "TELEGRAM"}),
        ("POST", f"/api/v1/accounts/{first.account_id}", {"provider": "TELEGRAM"}),
    ]
    assert len(fake_unipile.accounts) == 1


def test_start_link_known_account_gone_at_unipile_creates_a_new_one(unipile, fake_unipile):
    link = unipile.start_link(platform="whatsapp", reference="r" * 32, account_id="acc_expired")
    assert link.account_id in fake_unipile.accounts and link.account_id != "acc_expired"
    assert [(c.method, c.path) for c in fake_unipile.calls] == [
        ("POST", "/api/v1/accounts/acc_expired"), ("POST", "/api/v1/accounts")]


def test_start_link_hosted_platform_requests_create_link(unipile, fake_unipile):
    before = dt.datetime.now(dt.timezone.utc)
    link = unipile.start_link(platform="instagram", reference="ref-" + "a" * 28, account_id=None)
    assert link == LinkStart(account_id=None, auth_url=link.auth_url)
    assert re.fullmatch(r"https://account\.unipile\.com/[A-Za-z0-9_-]+", link.auth_url)
    [call] = fake_unipile.calls
    body = dict(call.body)
    expires = body.pop("expiresOn")
    assert EXPIRES.match(expires)
    moment = dt.datetime.strptime(expires, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    assert dt.timedelta(seconds=899) <= moment - before <= dt.timedelta(seconds=901)
    assert (call.path, body) == ("/api/v1/hosted/accounts/link", {
        "type": "create", "providers": ["INSTAGRAM"], "api_url": fake_unipile.url, "name": "ref-" + "a" * 28,
        "notify_url": NOTIFY, "success_redirect_url": SUCCESS, "failure_redirect_url": FAILURE,
    })


def test_start_link_email_offers_every_mail_provider(unipile, fake_unipile):
    unipile.start_link(platform="email", reference="r" * 32, account_id=None)
    assert fake_unipile.calls[0].body["providers"] == ["GOOGLE", "OUTLOOK", "MAIL"]


def test_start_link_hosted_known_account_requests_reconnect_link(unipile, fake_unipile):
    fake_unipile.accounts["acc_known"] = {"provider": "LINKEDIN", "status": "CREDENTIALS"}
    link = unipile.start_link(platform="linkedin", reference="r" * 32, account_id="acc_known")
    assert link.account_id == "acc_known" and link.auth_url.startswith("https://account.unipile.com/")
    body = fake_unipile.calls[0].body
    assert (body["type"], body["reconnect_account"], body["providers"]) == ("reconnect", "acc_known", ["LINKEDIN"])


def test_start_link_post_timeout_is_never_retried(unipile, fake_unipile, sleeps):
    fake_unipile.fail("POST", "/api/v1/accounts", "slow", seconds=1.0)
    with pytest.raises(ProviderUnavailable) as caught:
        unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert (caught.value.status_code, caught.value.code) == (503, "PROVIDER_UNAVAILABLE")
    assert len(fake_unipile.calls_to("POST", "/api/v1/accounts")) == 1
    assert sleeps == []


def test_start_link_dropped_connection_is_never_retried(unipile, fake_unipile, sleeps):
    fake_unipile.fail("POST", "/api/v1/accounts", "drop", times=3)
    with pytest.raises(ProviderUnavailable):
        unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert len(fake_unipile.calls) == 1 and sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_start_link_server_error_is_unavailable_without_retry(unipile, fake_unipile, sleeps, status):
    fake_unipile.fail("POST", "/api/v1/accounts", "status", status=status, times=3)
    with pytest.raises(ProviderUnavailable):
        unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert len(fake_unipile.calls) == 1 and sleeps == []


@pytest.mark.parametrize("status", [429, 503])
def test_start_link_refused_with_retry_after_is_retried_after_waiting(unipile, fake_unipile, sleeps, status):
    fake_unipile.fail("POST", "/api/v1/accounts", "status", status=status, retry_after="1", error_type="api/too_many_requests")
    started = time.monotonic()
    link = unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert time.monotonic() - started >= 1.0
    assert link.account_id in fake_unipile.accounts
    assert len(fake_unipile.calls) == 2 and sleeps == [1.0]


def test_start_link_retry_after_http_date_is_honoured(unipile, fake_unipile, sleeps):
    when = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2), usegmt=True)
    fake_unipile.fail("POST", "/api/v1/accounts", "status", status=429, retry_after=when)
    unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert len(sleeps) == 1 and 0.0 <= sleeps[0] <= 2.0


def test_start_link_retry_after_beyond_bound_fails_at_once_with_retry_after(unipile, fake_unipile, sleeps):
    fake_unipile.fail("POST", "/api/v1/accounts", "status", status=429, retry_after="60")
    with pytest.raises(ProviderUnavailable) as caught:
        unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert caught.value.headers == {"Retry-After": "60"}
    assert len(fake_unipile.calls) == 1 and sleeps == [] and fake_unipile.accounts == {}


def test_start_link_rate_limited_every_time_gives_up_after_bounded_attempts(unipile, fake_unipile, sleeps):
    fake_unipile.fail("POST", "/api/v1/accounts", "status", status=429, times=5)
    with pytest.raises(ProviderUnavailable) as caught:
        unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert caught.value.headers == {}
    assert len(fake_unipile.calls) == 3 and sleeps == [0.01, 0.02]


def test_start_link_425_is_connection_in_progress(unipile, fake_unipile):
    fake_unipile.accounts["acc_busy"] = {"provider": "WHATSAPP", "status": "CONNECTING"}
    fake_unipile.fail("POST", "/api/v1/accounts/acc_busy", "status", status=425, error_type="errors/authentication_intent_in_progress")
    with pytest.raises(ConnectionInProgress) as caught:
        unipile.start_link(platform="whatsapp", reference="r" * 32, account_id="acc_busy")
    assert (caught.value.status_code, caught.value.code) == (409, "CONNECTION_IN_PROGRESS")
    assert len(fake_unipile.calls) == 1


def test_start_link_client_error_is_provider_error_with_safe_message(unipile, fake_unipile, caplog):
    fake_unipile.fail("POST", "/api/v1/hosted/accounts/link", "status", status=400, error_type="errors/invalid_parameters")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ProviderError) as caught:
            unipile.start_link(platform="linkedin", reference="r" * 32, account_id=None)
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        502, "PROVIDER_ERROR", "The messaging provider rejected the request (HTTP 400)")
    assert "Injected failure" not in caplog.text and "errors/invalid_parameters" in caplog.text


def test_start_link_wrong_api_key_is_provider_error_and_never_leaks(fake_unipile, sleeps, caplog):
    unipile = provider_for(fake_unipile.url, sleeps, key="wrong-key-3141592653")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ProviderError) as caught:
            unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert caught.value.message == "The messaging provider refused this server's credentials"
    for secret in ("wrong-key-3141592653", fake_unipile.url, "Missing credentials", "The API key is missing"):
        assert secret not in caplog.text
        assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_start_link_malformed_json_is_unavailable(unipile, fake_unipile):
    fake_unipile.fail("POST", "/api/v1/accounts", "malformed")
    with pytest.raises(ProviderUnavailable):
        unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)


def test_start_link_unreachable_dsn_is_unavailable_and_never_leaks(sleeps, caplog):
    dsn = f"http://127.0.0.1:{free_port()}"
    unipile = provider_for(dsn, sleeps)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ProviderUnavailable) as caught:
            unipile.start_link(platform="whatsapp", reference="r" * 32, account_id=None)
    assert dsn not in caplog.text and dsn not in str(caught.value) and caught.value.__cause__ is None
    assert sleeps == []


def test_delete_account_removes_it(unipile, fake_unipile):
    fake_unipile.accounts["acc_1"] = {"provider": "WHATSAPP", "status": "OK"}
    assert unipile.delete_account("acc_1") is None
    assert fake_unipile.accounts == {}
    assert [(c.method, c.path) for c in fake_unipile.calls] == [("DELETE", "/api/v1/accounts/acc_1")]


def test_delete_account_unknown_at_unipile_is_not_an_error(unipile, fake_unipile):
    assert unipile.delete_account("acc_gone") is None
    assert len(fake_unipile.calls) == 1


def test_delete_account_timeout_is_retried_with_backoff(unipile, fake_unipile, sleeps):
    fake_unipile.accounts["acc_1"] = {"provider": "WHATSAPP", "status": "OK"}
    fake_unipile.fail("DELETE", "/api/v1/accounts/acc_1", "slow", seconds=0.8)
    unipile.delete_account("acc_1")
    assert fake_unipile.accounts == {}
    assert len(fake_unipile.calls_to("DELETE", "/api/v1/accounts/acc_1")) == 2 and sleeps == [0.01]


def test_delete_account_outage_gives_up_after_bounded_attempts(unipile, fake_unipile, sleeps):
    fake_unipile.accounts["acc_1"] = {"provider": "WHATSAPP", "status": "OK"}
    fake_unipile.fail("DELETE", "/api/v1/accounts/acc_1", "status", status=503, times=10)
    with pytest.raises(ProviderUnavailable):
        unipile.delete_account("acc_1")
    assert "acc_1" in fake_unipile.accounts
    assert len(fake_unipile.calls) == 3 and sleeps == [0.01, 0.02]


def test_delete_account_dropped_connection_is_retried(unipile, fake_unipile, sleeps):
    fake_unipile.accounts["acc_1"] = {"provider": "WHATSAPP", "status": "OK"}
    fake_unipile.fail("DELETE", "/api/v1/accounts/acc_1", "drop", times=2)
    unipile.delete_account("acc_1")
    assert fake_unipile.accounts == {} and len(fake_unipile.calls) == 3


def test_account_phone_reads_connection_params(unipile, fake_unipile):
    fake_unipile.accounts["acc_1"] = {"provider": "WHATSAPP", "status": "OK"}
    assert unipile.account_phone("acc_1") == "+33612345678"
    assert len(fake_unipile.calls_to("GET", "/api/v1/accounts/acc_1")) == 1


@pytest.mark.parametrize("kind, details", [("status", {"status": 502}), ("status", {"status": 404}), ("drop", {}),
                                           ("slow", {"seconds": 2.0})])
def test_account_phone_one_quick_attempt_then_not_known(unipile, fake_unipile, sleeps, kind, details):
    # Asked while answering Unipile's webhook: no retries and no waiting, "not known yet" instead.
    fake_unipile.accounts["acc_1"] = {"provider": "WHATSAPP", "status": "OK"}
    fake_unipile.fail("GET", "/api/v1/accounts/acc_1", kind, **details)
    assert unipile.account_phone("acc_1") is None
    assert len(fake_unipile.calls_to("GET", "/api/v1/accounts/acc_1")) == 1
    assert sleeps == []


def test_account_phone_missing_is_none(unipile, fake_unipile):
    fake_unipile.accounts["acc_1"] = {"provider": "WHATSAPP", "status": "OK"}
    fake_unipile.phone_number = None
    assert unipile.account_phone("acc_1") is None


def test_whatsapp_start_activation_qr_creates_whatsapp_account(unipile, fake_unipile):
    link = UnipileWhatsApp(unipile).start_activation(business_id="b", reference="r" * 32, mode="qr")
    assert link.account_id in fake_unipile.accounts and link.qr_text.startswith("2@")
    assert fake_unipile.calls[0].body == {"provider": "WHATSAPP"}


def test_unipile_repr_hides_key_and_dsn(unipile, fake_unipile):
    for text in (repr(unipile), repr(unipile._client), repr(UnipileWhatsApp(unipile))):
        assert API_KEY not in text and fake_unipile.url not in text


def test_notify_path_secret_is_stable_and_not_the_secret():
    value = notify_path_secret("s3cret-value-xyz")
    assert value == notify_path_secret("s3cret-value-xyz") and re.fullmatch(r"[0-9a-f]{64}", value)
    assert "s3cret" not in value and value != notify_path_secret("other")
