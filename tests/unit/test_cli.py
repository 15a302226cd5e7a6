"""The integrations-api token command."""
from __future__ import annotations

import time

import jwt
import pytest

from core.cli import main
from tests.conftest import TEST_JWT_SECRET


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("APP_ENV", "JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL", "ENCRYPTION_KEYS", "MONGODB_URI", "PROVIDERS", "UNIPILE_DSN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    return monkeypatch


def test_token_command_prints_verifiable_token(env, capsys):
    env.setenv("JWT_SECRET", TEST_JWT_SECRET)
    assert main(["token", "--business", "B", "--user", "U", "--role", "admin", "--hours", "2"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["businessId"], claims["role"]) == ("U", "B", "admin")
    assert abs(claims["exp"] - (time.time() + 7200)) < 10


def test_token_command_without_role_means_owner(env, capsys):
    env.setenv("JWT_SECRET", TEST_JWT_SECRET)
    main(["token", "--business", "B", "--user", "U"])
    claims = jwt.decode(capsys.readouterr().out.strip(), TEST_JWT_SECRET, algorithms=["HS256"])
    assert "role" not in claims and abs(claims["exp"] - (time.time() + 86400)) < 10


def test_token_command_uses_the_dev_secret_in_data_dir(env, capsys, tmp_path):
    main(["token", "--business", "B", "--user", "U"])
    secret = (tmp_path / "jwt_secret").read_text()
    assert jwt.decode(capsys.readouterr().out.strip(), secret, algorithms=["HS256"])["sub"] == "U"


@pytest.mark.parametrize("args", [
    ["token", "--business", "B"],
    ["token", "--user", "U"],
    ["token", "--business", "B", "--user", "U", "--role", "root"],
    ["token", "--business", "B", "--user", "U", "--hours", "0"],
    ["token", "--business", "B", "--user", "U", "--hours", "many"],
    ["nothing"],
])
def test_token_command_bad_arguments_exit_2(env, capsys, args):
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2
    assert capsys.readouterr().out == ""


def test_token_command_bad_settings_exit_2(env, capsys):
    env.setenv("APP_ENV", "production")
    assert main(["token", "--business", "B", "--user", "U"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "APP_ENV=production refuses to start" in captured.err


def test_token_command_refused_with_asymmetric_tokens(env, capsys):
    from tests.support.jwks import RSA_KEY, public_pem

    env.setenv("JWT_PUBLIC_KEY", public_pem(RSA_KEY))
    assert main(["token", "--business", "B", "--user", "U"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("integrations-api: tokens are verified with JWT_PUBLIC_KEY or JWT_JWKS_URL; "
                            "your identity provider issues them\n")
