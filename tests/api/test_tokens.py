"""RS256/ES256 tokens through the API: public key and JWKS, every rejection a 401 in the envelope."""
from __future__ import annotations

import time

import jwt
import pytest

from tests.conftest import auth
from tests.support.flows import CONNECTIONS, create, error
from tests.support.jwks import EC_KEY, OTHER_RSA_KEY, RSA_KEY, claims, hs256_with_key_text, jwk, public_pem, sign

INVALID = error("INVALID_TOKEN", "Token is invalid")
CLAIMS_MISSING = error("INVALID_TOKEN", "Token must carry string sub and businessId claims")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def rs256_client(make_client):
    return make_client(JWT_PUBLIC_KEY=public_pem(RSA_KEY))


def test_list_connections_rs256_token_accepted(rs256_client, db):
    made = create(rs256_client, headers=bearer(sign(RSA_KEY, "RS256")))
    response = rs256_client.get(CONNECTIONS, headers=bearer(sign(RSA_KEY, "RS256", role="member")))
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["data"]] == [made["id"]]


@pytest.mark.parametrize("token, body", [
    (hs256_with_key_text(public_pem(RSA_KEY)), INVALID),
    (auth()["Authorization"].split()[1], INVALID),
    (jwt.encode(claims(), None, algorithm="none"), INVALID),
    (sign(OTHER_RSA_KEY, "RS256"), INVALID),
    (sign(EC_KEY, "ES256"), INVALID),
    (sign(RSA_KEY, "RS256", exp=None), INVALID),
    (sign(RSA_KEY, "RS256", sub=None), INVALID),
    (sign(RSA_KEY, "RS256", sub=42), INVALID),
    (sign(RSA_KEY, "RS256", businessId=None), CLAIMS_MISSING),
    (sign(RSA_KEY, "RS256", nbf=int(time.time()) + 3600), INVALID),
    (sign(RSA_KEY, "RS256", role="root"), error("INVALID_TOKEN", "Token role must be owner, admin or member")),
], ids=["algorithm-confusion", "hs256-secret", "alg-none", "other-key", "es256-for-rsa-key", "no-exp", "no-sub",
        "int-sub", "no-business", "nbf-future", "unknown-role"])
def test_list_connections_public_key_bad_token_invalid(rs256_client, db, token, body):
    response = rs256_client.get(CONNECTIONS, headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == body


def test_create_connection_algorithm_confusion_changes_nothing(rs256_client, db):
    response = rs256_client.post(CONNECTIONS, headers=bearer(hs256_with_key_text(public_pem(RSA_KEY))),
                                 json={"platform": "whatsapp", "name": "Sneaky"})
    assert response.status_code == 401
    assert response.json() == INVALID
    assert db.connections.count_documents({}) == 0


def test_list_connections_expired_rs256_token(rs256_client, db):
    response = rs256_client.get(CONNECTIONS, headers=bearer(sign(RSA_KEY, "RS256", exp=int(time.time()) - 3600)))
    assert response.status_code == 401
    assert response.json() == error("TOKEN_EXPIRED", "Token has expired")


def test_list_connections_jwks_es256_token_accepted(make_client, db, jwks_server):
    jwks_server.keys = [jwk(EC_KEY, "ec-1"), jwk(RSA_KEY, "rsa-1")]
    client = make_client(JWT_JWKS_URL=jwks_server.url, JWT_ISSUER="https://id.example", JWT_AUDIENCE="integrations")
    good = dict(iss="https://id.example", aud="integrations")
    assert client.get(CONNECTIONS, headers=bearer(sign(EC_KEY, "ES256", kid="ec-1", **good))).status_code == 200
    assert client.get(CONNECTIONS, headers=bearer(sign(RSA_KEY, "RS256", kid="rsa-1", **good))).status_code == 200
    response = client.get(CONNECTIONS, headers=bearer(sign(EC_KEY, "ES256", kid="ec-1", iss="https://id.example", aud="other")))
    assert response.status_code == 401
    assert response.json() == INVALID
    assert jwks_server.fetches == 1


def test_list_connections_jwks_unreachable_auth_unavailable(make_client, db, jwks_server):
    url = jwks_server.url
    jwks_server.stop()
    client = make_client(JWT_JWKS_URL=url)
    response = client.get(CONNECTIONS, headers=bearer(sign(RSA_KEY, "RS256", kid="rsa-1")))
    assert response.status_code == 503
    assert response.json() == error("AUTH_UNAVAILABLE", "The token signing keys cannot be fetched; try again shortly")



def test_list_connections_jwks_failing_is_asked_once_per_cooldown(make_client, db, jwks_server):
    jwks_server.keys = [jwk(RSA_KEY, "rsa-1")]
    jwks_server.status = 500
    client = make_client(JWT_JWKS_URL=jwks_server.url)
    unavailable = error("AUTH_UNAVAILABLE", "The token signing keys cannot be fetched; try again shortly")
    # Tokens (any kid, no valid signature needed) cannot make every request wait on a failing identity provider.
    for kid in ("rsa-1", "made-up-1", "made-up-2"):
        response = client.get(CONNECTIONS, headers=bearer(sign(RSA_KEY, "RS256", kid=kid)))
        assert (response.status_code, response.json()) == (503, unavailable)
    assert jwks_server.fetches == 1


@pytest.mark.parametrize("method, suffix, body", [
    ("DELETE", "", None), ("PATCH", "/status", {"status": "inactive"}), ("POST", "/reconnect", None),
])
def test_member_write_forbidden_before_lookup(client, db, method, suffix, body):
    # An id that exists nowhere: a member learns nothing, not even that it is missing.
    response = client.request(method, f"{CONNECTIONS}/{'0' * 24}{suffix}", headers=auth(role="member"), json=body)
    assert response.status_code == 403
    assert response.json() == error("FORBIDDEN", "Your role may only read")
