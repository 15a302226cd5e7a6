"""The Meta WhatsApp provider against the fake Graph API: real HTTP on loopback, no patching."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from app import build_providers
from core.errors import Forbidden, ProviderError, ProviderUnavailable
from core.settings import Settings, SettingsError
from providers.meta_whatsapp import REAUTHORISE, GraphClient, GraphError, MetaWhatsApp, check_signature
from tests.fakes.meta_graph import APP_ID, APP_SECRET, REDIRECT_URI, VERSION

CONFIG_ID = "424242"


@pytest.fixture
def meta(fake_graph) -> MetaWhatsApp:
    client = GraphClient(base_url=fake_graph.url, version=VERSION, timeout=(1.0, 0.5))
    return MetaWhatsApp(client, app_id=APP_ID, app_secret=APP_SECRET, config_id=CONFIG_ID, redirect_uri=REDIRECT_URI,
                        dialog_url="https://www.facebook.com")


def test_start_activation_builds_facebook_login_for_business_url(meta):
    link = meta.start_activation(business_id="b1", reference="ref-0123456789abcdef", mode="oauth")
    parts = urlsplit(link.auth_url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.facebook.com", f"/{VERSION}/dialog/oauth")
    assert parse_qs(parts.query) == {
        "client_id": [APP_ID], "redirect_uri": [REDIRECT_URI], "state": ["ref-0123456789abcdef"], "config_id": [CONFIG_ID],
        "response_type": ["code"], "override_default_response_type": ["true"],
    }
    assert APP_SECRET not in link.auth_url and "***" in repr(link)


def test_start_activation_qr_mode_rejected(meta):
    with pytest.raises(ProviderError):
        meta.start_activation(business_id="b1", reference="r" * 20, mode="qr")


def test_finish_signup_exchanges_code_and_finds_account(meta, fake_graph):
    code = fake_graph.issue_code(phone="+1 555-010-2030")
    signup = meta.finish_signup(code)
    account = fake_graph.account_of(code)
    assert (signup.access_token, signup.waba_id, signup.phone_number_id, signup.phone_number) == (
        fake_graph.token_of(code), account.waba_id, account.phone_id, "+15550102030")
    assert signup.access_token not in repr(signup)
    exchange, = fake_graph.calls_to("GET", "/oauth/access_token")
    assert exchange.query == {"client_id": APP_ID, "client_secret": APP_SECRET, "redirect_uri": REDIRECT_URI, "code": code}
    inspect, = fake_graph.calls_to("GET", "/debug_token")
    assert inspect.query == {"input_token": signup.access_token}
    lookup, = fake_graph.calls_to("GET", r"/\d+/phone_numbers")
    assert lookup.header("Authorization") == f"Bearer {signup.access_token}" and lookup.query == {}


def test_finish_signup_used_code_is_provider_error(meta, fake_graph):
    code = fake_graph.issue_code()
    meta.finish_signup(code)
    with pytest.raises(GraphError) as caught:
        meta.finish_signup(code)
    assert caught.value.message == "Meta did not accept the authorisation code (expired or already used); activate WhatsApp again"
    assert (caught.value.status_code, caught.value.code, caught.value.graph_code) == (502, "PROVIDER_ERROR", 100)


def test_finish_signup_without_whatsapp_scope_is_provider_error(meta, fake_graph):
    with pytest.raises(ProviderError) as caught:
        meta.finish_signup(fake_graph.issue_code(granted=False))
    assert caught.value.message == "Meta did not grant access to a WhatsApp Business Account; activate WhatsApp again and choose one"


def test_graph_code_190_means_reauthorisation(meta, fake_graph):
    fake_graph.fail("GET", r"/\d+/phone_numbers", "graph", status=400, code=190, subcode=463)
    with pytest.raises(GraphError) as caught:
        meta.finish_signup(fake_graph.issue_code())
    assert (caught.value.message, caught.value.graph_code) == (REAUTHORISE, 190)


@pytest.mark.parametrize("kind, options", [
    ("status", {"status": 500}), ("status", {"status": 503}), ("malformed", {}), ("drop", {}), ("slow", {"seconds": 1.0}),
    ("graph", {"status": 400, "code": 4}),
])
def test_finish_signup_outage_is_unavailable(meta, fake_graph, kind, options):
    fake_graph.fail("GET", "/oauth/access_token", kind, **options)
    with pytest.raises(ProviderUnavailable) as caught:
        meta.finish_signup(fake_graph.issue_code())
    assert (caught.value.status_code, caught.value.message) == (503, "Meta is unavailable; try again shortly")
    assert len(fake_graph.calls_to("GET", "/oauth/access_token")) == 1  # never repeated: the code works once


def test_register_number_sends_pin_and_subscribe(meta, fake_graph):
    signup = meta.finish_signup(fake_graph.issue_code())
    meta.register_number(signup, "123456")
    meta.subscribe_app(signup)
    register, = fake_graph.calls_to("POST", r"/\d+/register")
    assert (register.path, register.body) == (f"/{signup.phone_number_id}/register", {"messaging_product": "whatsapp", "pin": "123456"})
    assert fake_graph.account_of(fake_graph.calls_to("GET", "/oauth/access_token")[0].query["code"]).subscribed


def test_register_number_pin_mismatch_and_too_many_attempts(meta, fake_graph):
    signup = meta.finish_signup(fake_graph.issue_code())
    meta.register_number(signup, "111111")
    with pytest.raises(GraphError) as mismatch:
        meta.register_number(signup, "222222")
    assert mismatch.value.graph_code == 133005 and "two-step verification PIN" in mismatch.value.message
    fake_graph.register_attempts[signup.phone_number_id] = 10
    with pytest.raises(GraphError) as blocked:
        meta.register_number(signup, "111111")
    assert blocked.value.graph_code == 133016
    assert blocked.value.message == "Meta blocked registering this phone number after too many attempts (10 in 72 hours); try again later"


def test_unsubscribe_app_and_withdrawn_access_counts_as_done(meta, fake_graph):
    code = fake_graph.issue_code()
    signup = meta.finish_signup(code)
    meta.subscribe_app(signup)
    meta.unsubscribe_app(waba_id=signup.waba_id, access_token=signup.access_token)
    assert not fake_graph.account_of(code).subscribed
    fake_graph.revoked.add(signup.access_token)
    meta.unsubscribe_app(waba_id=signup.waba_id, access_token=signup.access_token)
    fake_graph.fail("DELETE", r"/\d+/subscribed_apps", "status", status=502)
    with pytest.raises(ProviderUnavailable):
        meta.unsubscribe_app(waba_id=signup.waba_id, access_token=signup.access_token)


def test_provider_never_logs_or_raises_secrets(meta, fake_graph, caplog):
    caplog.set_level(logging.DEBUG)
    code = fake_graph.issue_code()
    signup = meta.finish_signup(code)
    fake_graph.fail("POST", r"/\d+/register", "drop")
    with pytest.raises(ProviderUnavailable) as dropped:
        meta.register_number(signup, "654321")
    with pytest.raises(GraphError) as used:
        meta.finish_signup(code)
    text = "\n".join(r.getMessage() for r in caplog.records) + str(dropped.value) + str(used.value) + repr(meta)
    for secret in (APP_SECRET, code, signup.access_token, "654321"):
        assert secret not in text
    assert dropped.value.__cause__ is None and dropped.value.__suppress_context__


def test_check_signature_over_raw_bytes():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    good = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    check_signature(APP_SECRET, body, good)
    check_signature(APP_SECRET, body, good.upper().replace("SHA256=", "sha256="))
    for header in (None, "", good[:-1] + "0", "sha1=" + good[7:47], good + " "):
        with pytest.raises(Forbidden):
            check_signature(APP_SECRET, body, header)
    with pytest.raises(Forbidden):
        check_signature(APP_SECRET, body + b" ", good)
    with pytest.raises(Forbidden):
        check_signature(None, body, good)


BASE = {"APP_ENV": "test", "JWT_SECRET": "x" * 40, "ENCRYPTION_KEYS": "uJ6tGGm1JTVuWYvLOgO8ejRjv7ULMcuOr7mUBkq7wIs=",
        "PROVIDERS": "live", "UNIPILE_DSN": "https://api9.unipile.example:13000", "UNIPILE_API_KEY": "key-abcdef-123456",
        "UNIPILE_WEBHOOK_SECRET": "hook-secret-0987654321", "META_APP_ID": APP_ID, "META_APP_SECRET": APP_SECRET,
        "META_CONFIG_ID": CONFIG_ID, "META_VERIFY_TOKEN": "verify-token-value"}


def test_build_providers_live_oauth_uses_meta(tmp_path):
    settings = Settings.from_env({**BASE, "DATA_DIR": str(tmp_path), "PUBLIC_BASE_URL": "https://api.example.com"})
    providers = build_providers(settings)
    assert isinstance(providers.whatsapp, MetaWhatsApp)
    assert settings.meta_redirect_uri == "https://api.example.com/api/v1/whatsapp/oauth/callback"
    assert (settings.meta_graph_url, settings.meta_dialog_url, settings.meta_graph_version) == (
        "https://graph.facebook.com", "https://www.facebook.com", "v21.0")
    assert APP_SECRET not in repr(providers.whatsapp) and "verify-token-value" not in repr(settings)


@pytest.mark.parametrize("missing", ["META_APP_ID", "META_APP_SECRET", "META_CONFIG_ID", "META_VERIFY_TOKEN"])
def test_settings_live_oauth_without_meta_setting_names_it(tmp_path, missing):
    env = {**BASE, "DATA_DIR": str(tmp_path)}
    del env[missing]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == f"PROVIDERS=live needs {missing}"
    Settings.from_env({**env, "WHATSAPP_MODE": "qr"})  # QR mode goes through Unipile: no Meta app needed
    with pytest.raises(SettingsError) as caught:
        build_providers(dataclasses.replace(Settings.from_env({**env, "PROVIDERS": "sandbox"}), providers="live"))
    assert missing in str(caught.value) and APP_SECRET not in str(caught.value)
