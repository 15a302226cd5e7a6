"""Settings and wiring of the live Unipile provider."""
from __future__ import annotations

import dataclasses

import pytest

from app import build_providers
from core.settings import Settings, SettingsError
from providers.unipile import UnipileConnections, UnipileWhatsApp

BASE = {"APP_ENV": "test", "JWT_SECRET": "x" * 40, "ENCRYPTION_KEYS": "uJ6tGGm1JTVuWYvLOgO8ejRjv7ULMcuOr7mUBkq7wIs="}
LIVE = {**BASE, "PROVIDERS": "live", "UNIPILE_DSN": "https://api9.unipile.example:13000", "UNIPILE_API_KEY": "key-abcdef-123456",
        "UNIPILE_WEBHOOK_SECRET": "hook-secret-0987654321", "WHATSAPP_MODE": "qr"}


def test_build_providers_live_qr_uses_unipile_for_both(tmp_path):
    providers = build_providers(Settings.from_env({**LIVE, "DATA_DIR": str(tmp_path)}))
    assert isinstance(providers.connections, UnipileConnections)
    assert isinstance(providers.whatsapp, UnipileWhatsApp)


@pytest.mark.parametrize("missing", ["UNIPILE_DSN", "UNIPILE_API_KEY", "UNIPILE_WEBHOOK_SECRET"])
def test_settings_live_without_unipile_setting_names_it(tmp_path, missing):
    env = {**LIVE, "DATA_DIR": str(tmp_path)}
    del env[missing]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == f"PROVIDERS=live needs {missing}"
    with pytest.raises(SettingsError) as caught:
        build_providers(dataclasses.replace(Settings.from_env({**env, "PROVIDERS": "sandbox"}), providers="live"))
    assert missing in str(caught.value)
    assert "key-abcdef-123456" not in str(caught.value) and "hook-secret-0987654321" not in str(caught.value)


def test_settings_production_live_refuses_to_start_without_webhook_secret(tmp_path):
    env = {**LIVE, "APP_ENV": "production", "MONGODB_URI": "mongodb://db.example:27017", "DATA_DIR": str(tmp_path)}
    del env["UNIPILE_WEBHOOK_SECRET"]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert "UNIPILE_WEBHOOK_SECRET" in str(caught.value)


def test_settings_unipile_read_timeout_is_bounded_and_secrets_hidden(tmp_path):
    settings = Settings.from_env({**LIVE, "DATA_DIR": str(tmp_path), "UNIPILE_READ_TIMEOUT_MS": "2500"})
    assert settings.unipile_read_timeout_ms == 2500
    assert "key-abcdef-123456" not in repr(settings) and "hook-secret-0987654321" not in repr(settings)
    with pytest.raises(SettingsError):
        Settings.from_env({**LIVE, "DATA_DIR": str(tmp_path), "UNIPILE_READ_TIMEOUT_MS": "5"})
