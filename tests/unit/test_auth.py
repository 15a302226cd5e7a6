"""Bearer token verification: HS256 pinned, required claims, roles."""
from __future__ import annotations

import time

import jwt
import pytest

from core.auth import Caller, TokenVerifier, caller_from, mint_token
from core.errors import Forbidden, InvalidToken, TokenExpired
from tests.conftest import TEST_JWT_SECRET

verifier = TokenVerifier(TEST_JWT_SECRET)


def encode(claims: dict, secret: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def fresh(**changes) -> dict:
    return {"sub": "u1", "businessId": "b1", "exp": int(time.time()) + 600, **changes}


def test_verify_minted_token_gives_owner_by_default():
    token = mint_token(TEST_JWT_SECRET, business_id="b1", user_id="u1")
    assert verifier.verify(token) == {"sub": "u1", "businessId": "b1", "role": "owner"}


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_verify_role_claim_kept(role):
    assert verifier.verify(mint_token(TEST_JWT_SECRET, business_id="b1", user_id="u1", role=role))["role"] == role


def test_mint_token_hours_sets_expiry():
    before = int(time.time())
    claims = jwt.decode(mint_token(TEST_JWT_SECRET, business_id="b", user_id="u", hours=2), TEST_JWT_SECRET, algorithms=["HS256"])
    assert before + 7200 <= claims["exp"] <= int(time.time()) + 7200
    assert "role" not in claims


def test_verify_expired_token():
    with pytest.raises(TokenExpired):
        verifier.verify(encode(fresh(exp=int(time.time()) - 120)))


def test_verify_leeway_accepts_just_expired():
    assert verifier.verify(encode(fresh(exp=int(time.time()) - 10)))["sub"] == "u1"
    with pytest.raises(TokenExpired):
        TokenVerifier(TEST_JWT_SECRET, leeway=0).verify(encode(fresh(exp=int(time.time()) - 10)))


@pytest.mark.parametrize("token", [
    "garbage",
    encode(fresh(), secret="x" * 40),
    encode(fresh(), secret=TEST_JWT_SECRET * 2, algorithm="HS512"),
    jwt.encode(fresh(), None, algorithm="none"),
    encode({"sub": "u1", "businessId": "b1"}),
    encode({"businessId": "b1", "exp": int(time.time()) + 600}),
    encode(fresh(businessId=None)),
    encode(fresh(businessId=["b1"])),
    encode(fresh(sub="x" * 129)),
    encode(fresh(sub="line\nbreak")),
    encode(fresh(role="root")),
])
def test_verify_rejects_invalid_tokens(token):
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_verify_issuer_and_audience_when_configured():
    strict = TokenVerifier(TEST_JWT_SECRET, issuer="https://id.example", audience="integrations")
    assert strict.verify(encode(fresh(iss="https://id.example", aud="integrations")))["sub"] == "u1"
    for claims in (fresh(), fresh(iss="https://other", aud="integrations"), fresh(iss="https://id.example", aud="x")):
        with pytest.raises(InvalidToken):
            strict.verify(encode(claims))


def test_verifier_repr_hides_secret():
    assert TEST_JWT_SECRET not in repr(verifier)


def test_caller_write_permission_by_role():
    caller_from({"sub": "u", "businessId": "b", "role": "admin"}).require_write()
    Caller(user_id="u", business_id="b", role="owner").require_write()
    with pytest.raises(Forbidden):
        Caller(user_id="u", business_id="b", role="member").require_write()
