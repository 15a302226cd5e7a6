"""Settings: development secrets kept in DATA_DIR, production refusals, secrets hidden."""
from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from core.settings import Settings, SettingsError
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_JWT_SECRET

PRODUCTION = {
    "APP_ENV": "production",
    "MONGODB_URI": "mongodb://db.internal:27017",
    "JWT_SECRET": TEST_JWT_SECRET,
    "ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
    "PROVIDERS": "live",
    "UNIPILE_DSN": "https://api1.unipile.com:13111",
    "UNIPILE_API_KEY": "unipile-key-value",
    "UNIPILE_WEBHOOK_SECRET": "hook-secret-value",
    "META_APP_ID": "1234567890",
    "META_APP_SECRET": "meta-app-secret-value",
    "META_CONFIG_ID": "987654321",
    "META_VERIFY_TOKEN": "meta-verify-token-value",
}


def test_settings_defaults(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert (settings.app_env, settings.host, settings.port) == ("development", "127.0.0.1", 8080)
    assert settings.public_base_url == "http://127.0.0.1:8080"
    assert settings.mongodb_uri is None and settings.sandbox and settings.whatsapp_mode == "oauth"
    assert settings.cors_origins == ("http://localhost:3000", "http://127.0.0.1:3000")
    assert settings.frontend_success_url == "http://127.0.0.1:8080/api/v1/sandbox/complete?outcome=success"
    assert settings.max_body_bytes == 1_048_576 and settings.max_credentials_bytes == 16_384


def test_settings_port_and_public_url_follow_environment(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "PORT": "9000", "HOST": "0.0.0.0"})
    assert settings.port == 9000 and settings.public_base_url == "http://0.0.0.0:9000"
    explicit = Settings.from_env({"DATA_DIR": str(tmp_path), "PUBLIC_BASE_URL": "https://api.example.com/"})
    assert explicit.public_base_url == "https://api.example.com"


def test_settings_dev_secrets_generated_once_and_reused(tmp_path):
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert len(first.jwt_secret) >= 32
    assert first.jwt_secret == second.jwt_secret
    assert first.encryption_keys == second.encryption_keys and len(first.encryption_keys) == 1
    Fernet(first.encryption_keys[0].encode())
    for name in ("jwt_secret", "encryption_key"):
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "jwt_secret").read_text() == first.jwt_secret
    other = Settings.from_env({"DATA_DIR": str(tmp_path / "elsewhere")})
    assert other.jwt_secret != first.jwt_secret


def test_settings_explicit_secrets_win_over_generated(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "JWT_SECRET": TEST_JWT_SECRET,
                                  "ENCRYPTION_KEYS": f"{TEST_ENCRYPTION_KEY}, {Fernet.generate_key().decode()}"})
    assert settings.jwt_secret == TEST_JWT_SECRET
    assert settings.encryption_keys[0] == TEST_ENCRYPTION_KEY and len(settings.encryption_keys) == 2
    assert not (tmp_path / "jwt_secret").exists()


def test_settings_production_complete_accepted(tmp_path):
    settings = Settings.from_env({**PRODUCTION, "DATA_DIR": str(tmp_path)})
    assert settings.production and not settings.sandbox
    assert not (tmp_path / "jwt_secret").exists()


@pytest.mark.parametrize("missing", ["MONGODB_URI", "JWT_SECRET", "ENCRYPTION_KEYS", "UNIPILE_DSN", "UNIPILE_API_KEY",
                                     "UNIPILE_WEBHOOK_SECRET", "META_APP_ID", "META_APP_SECRET", "META_CONFIG_ID",
                                     "META_VERIFY_TOKEN"])
def test_settings_production_refuses_incomplete(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**env, "DATA_DIR": str(tmp_path)})
    assert missing in str(raised.value)
    assert not (tmp_path / "jwt_secret").exists()


def test_settings_production_refuses_sandbox(tmp_path):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**PRODUCTION, "PROVIDERS": "sandbox", "DATA_DIR": str(tmp_path)})
    assert "sandbox is never used for real customers" in str(raised.value)


@pytest.mark.parametrize("name, value", [
    ("PORT", "http"), ("PORT", "70000"), ("APP_ENV", "staging"), ("PROVIDERS", "fake"), ("WHATSAPP_MODE", "sms"),
    ("JWT_SECRET", "short"), ("ENCRYPTION_KEYS", "not-a-fernet-key"), ("VALIDATE_RESPONSES", "maybe"),
    ("MAX_BODY_BYTES", "10"),
])
def test_settings_malformed_value_names_variable(tmp_path, name, value):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"DATA_DIR": str(tmp_path), name: value})
    assert name in str(raised.value)
    assert value not in str(raised.value) or name == "MAX_BODY_BYTES"


def test_settings_repr_hides_secrets(tmp_path):
    settings = Settings.from_env({**PRODUCTION, "DATA_DIR": str(tmp_path), "META_APP_SECRET": "meta-secret-value"})
    text = repr(settings)
    for secret in (TEST_JWT_SECRET, TEST_ENCRYPTION_KEY, "unipile-key-value", "meta-secret-value", "hook-secret-value",
                   "meta-verify-token-value"):
        assert secret not in text and secret not in str(settings)
    assert "jwt_secret='***'" in text and "port=8080" in text and "meta_verify_token='***'" in text


def test_settings_frozen(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize("workers, storage", [("1", ""), ("1", "memory://"), ("4", "redis://cache.internal:6379/0")])
def test_settings_shared_rate_limits_accepted(tmp_path, workers, storage):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "WEB_CONCURRENCY": workers, "RATELIMIT_STORAGE_URI": storage})
    assert settings.web_concurrency == int(workers)


@pytest.mark.parametrize("storage", ["", "memory://", "MEMORY://"])
def test_settings_shared_rate_limits_refuse_memory_with_several_workers(tmp_path, storage):
    with pytest.raises(SettingsError, match=r"^WEB_CONCURRENCY=3 needs a shared RATELIMIT_STORAGE_URI \(e\.g\. redis://"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "WEB_CONCURRENCY": "3", "RATELIMIT_STORAGE_URI": storage})


def test_settings_production_public_key_without_secret_accepted(tmp_path):
    from tests.support.jwks import RSA_KEY, public_pem

    env = {k: v for k, v in PRODUCTION.items() if k != "JWT_SECRET"}
    # One environment line: the PEM's line breaks written as \n.
    settings = Settings.from_env({**env, "DATA_DIR": str(tmp_path), "JWT_PUBLIC_KEY": public_pem(RSA_KEY).replace("\n", "\\n")})
    assert settings.asymmetric_tokens and settings.jwt_public_key == public_pem(RSA_KEY)
    assert not (tmp_path / "jwt_secret").exists()


@pytest.mark.parametrize("env, message", [
    ({"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"}, "JWT_PUBLIC_KEY must be a PEM public key"),
    ({"JWT_JWKS_URL": "file:///etc/passwd"}, "JWT_JWKS_URL must be an http(s) URL"),
    ({"JWT_JWKS_URL": "https://id.example/jwks", "JWT_PUBLIC_KEY": "x"}, "set JWT_PUBLIC_KEY or JWT_JWKS_URL, not both"),
])
def test_settings_asymmetric_token_settings_checked(tmp_path, env, message):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"DATA_DIR": str(tmp_path), **env})
    assert message in str(raised.value)
