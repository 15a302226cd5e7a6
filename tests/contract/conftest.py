"""Schemathesis against the contract as the app serves it (/api/v1/openapi.json)."""
from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode

from core.settings import Settings
from tests.conftest import auth

# Bounded so the whole tox run stays short on a small CI machine; raise locally to dig deeper.
MAX_EXAMPLES = 100
MAX_EXAMPLES_SERVED = 40
# Limits raised through settings, as a deployment would for a load test; the code paths stay the same.
FUZZ_LIMITS = {"RATELIMIT_DEFAULT": "1000000/minute", "RATELIMIT_WRITE": "1000000/minute", "RATELIMIT_CREATE": "1000000/minute",
               "RATELIMIT_IP_FAILURES": "1000000/minute"}
STATEFUL_SCENARIOS = 20
STATEFUL_STEPS = 6
COLLECTIONS = ("connections", "whatsapp_integrations", "auth_attempts")


def empty(db) -> None:
    """Drop every document, so each stateful scenario starts from an empty database."""
    for name in COLLECTIONS:
        db[name].delete_many({})


@pytest.fixture
def app(settings_env, db):
    from app import create_app

    return create_app(Settings.from_env({**settings_env, **FUZZ_LIMITS}))


@pytest.fixture
def api_schema(app):
    """The served contract, fuzzed in-process through the ASGI app with a token of the test business."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES, deterministic=True)
    schema.hook(filter_body)
    return schema


def filter_body(context, body) -> bool:
    """Skip bodies with keys the contract forbids in prose ('$' prefix, NUL): OpenAPI 3.0 has no propertyNames."""
    return not _reserved_key(body)


def _reserved_key(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(isinstance(k, str) and (k.startswith("$") or "\x00" in k) for k in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


AUTH = auth()
