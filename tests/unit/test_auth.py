"""Bearer token verification: HS256 pinned, required claims, roles."""
from __future__ import annotations

import time

import jwt
import pytest

from core.auth import Caller, TokenVerifier, VerifiedTokens, caller_from, mint_token
from core.errors import AuthUnavailable, Forbidden, InvalidToken, TokenExpired
from tests.conftest import TEST_JWT_SECRET
from tests.support.jwks import EC_KEY, OTHER_RSA_KEY, RSA_KEY, claims, hs256_with_key_text, jwk, public_pem, sign

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


def test_verify_again_same_claims_in_a_new_dict():
    token = mint_token(TEST_JWT_SECRET, business_id="b1", user_id="u1", role="member")
    first = TokenVerifier(TEST_JWT_SECRET)
    claims = first.verify(token)
    claims["role"] = "owner"
    assert first.verify(token) == {"sub": "u1", "businessId": "b1", "role": "member"}


def test_verify_again_refused_once_expired_past_leeway():
    strict = TokenVerifier(TEST_JWT_SECRET, leeway=1)
    token = encode(fresh(exp=int(time.time()) + 1))
    assert strict.verify(token)["sub"] == "u1"
    time.sleep(max(0.0, int(jwt.decode(token, options={"verify_signature": False})["exp"]) + 1 - time.time()) + 0.05)
    with pytest.raises(TokenExpired):
        strict.verify(token)


def test_verified_tokens_forgotten_at_valid_until():
    remembered = VerifiedTokens(8)
    remembered.put("t", {"sub": "u1"}, 100.0)
    assert remembered.get("t", 99.9) == {"sub": "u1"}
    assert remembered.get("t", 100.0) is None
    assert remembered.get("t", 50.0) is None


def test_verified_tokens_bounded_least_recently_used_first():
    remembered = VerifiedTokens(2)
    remembered.put("a", {"sub": "a"}, 100.0)
    remembered.put("b", {"sub": "b"}, 100.0)
    assert remembered.get("a", 1.0) == {"sub": "a"}
    remembered.put("c", {"sub": "c"}, 100.0)
    assert [remembered.get(t, 1.0) for t in ("a", "b", "c")] == [{"sub": "a"}, None, {"sub": "c"}]


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


# RS256 / ES256 ------------------------------------------------------------------------------------

RSA_PEM = public_pem(RSA_KEY)
EC_PEM = public_pem(EC_KEY)


def test_verify_rs256_with_public_key():
    verifier = TokenVerifier(TEST_JWT_SECRET, public_key=RSA_PEM)
    assert verifier.verify(sign(RSA_KEY, "RS256")) == {"sub": "test_user_id", "businessId": "test_business_id", "role": "owner"}
    assert not verifier.accepts_hs256


def test_verify_es256_with_public_key():
    assert TokenVerifier(TEST_JWT_SECRET, public_key=EC_PEM).verify(sign(EC_KEY, "ES256", role="member"))["role"] == "member"


@pytest.mark.parametrize("token", [
    hs256_with_key_text(RSA_PEM),
    mint_token(TEST_JWT_SECRET, business_id="test_business_id", user_id="test_user_id"),
    jwt.encode(claims(), None, algorithm="none"),
    sign(OTHER_RSA_KEY, "RS256"),
    sign(RSA_KEY, "RS512"),
    sign(RSA_KEY, "RS256", exp=None),
    sign(RSA_KEY, "RS256", sub=None),
    sign(RSA_KEY, "RS256", businessId=None),
    sign(RSA_KEY, "RS256", sub=12345),
    sign(RSA_KEY, "RS256", nbf=int(time.time()) + 3600),
    sign(RSA_KEY, "RS256", role="superuser"),
], ids=["algorithm-confusion", "hs256-secret", "alg-none", "other-key", "rs512", "no-exp", "no-sub", "no-business",
        "int-sub", "nbf-future", "unknown-role"])
def test_verify_public_key_rejects_invalid_tokens(token):
    with pytest.raises(InvalidToken):
        TokenVerifier(TEST_JWT_SECRET, public_key=RSA_PEM).verify(token)


def test_verify_public_key_nbf_within_leeway_accepted():
    token = sign(RSA_KEY, "RS256", nbf=int(time.time()) + 10)
    assert TokenVerifier(TEST_JWT_SECRET, public_key=RSA_PEM, leeway=30).verify(token)["sub"] == "test_user_id"
    with pytest.raises(InvalidToken):
        TokenVerifier(TEST_JWT_SECRET, public_key=RSA_PEM, leeway=0).verify(token)


def test_verify_public_key_issuer_and_audience():
    strict = TokenVerifier(TEST_JWT_SECRET, public_key=EC_PEM, issuer="https://id.example", audience="integrations")
    assert strict.verify(sign(EC_KEY, "ES256", iss="https://id.example", aud="integrations"))["sub"] == "test_user_id"
    for changes in ({}, {"iss": "https://id.example"}, {"iss": "https://other", "aud": "integrations"}):
        with pytest.raises(InvalidToken):
            strict.verify(sign(EC_KEY, "ES256", **changes))


def test_verify_jwks_caches_key_set(jwks_server):
    jwks_server.keys = [jwk(RSA_KEY, "k1")]
    verifier = TokenVerifier(TEST_JWT_SECRET, jwks_url=jwks_server.url)
    for _ in range(3):
        assert verifier.verify(sign(RSA_KEY, "RS256", kid="k1"))["sub"] == "test_user_id"
    assert jwks_server.fetches == 1


def test_verify_jwks_refreshes_on_unknown_kid(jwks_server):
    jwks_server.keys = [jwk(RSA_KEY, "k1")]
    verifier = TokenVerifier(TEST_JWT_SECRET, jwks_url=jwks_server.url, jwks_cooldown=0)
    verifier.verify(sign(RSA_KEY, "RS256", kid="k1"))
    # The identity provider rotates: a new EC key appears in the set.
    jwks_server.keys = [jwk(EC_KEY, "k2"), jwk(RSA_KEY, "k1")]
    assert verifier.verify(sign(EC_KEY, "ES256", kid="k2"))["sub"] == "test_user_id"
    assert jwks_server.fetches == 2


@pytest.mark.parametrize("token", [
    sign(RSA_KEY, "RS256", kid="nope"),
    sign(OTHER_RSA_KEY, "RS256", kid="k1"),
    sign(RSA_KEY, "RS256"),
    hs256_with_key_text(RSA_PEM),
], ids=["unknown-kid", "wrong-key-same-kid", "no-kid", "algorithm-confusion"])
def test_verify_jwks_rejects_invalid_tokens(jwks_server, token):
    jwks_server.keys = [jwk(RSA_KEY, "k1")]
    with pytest.raises(InvalidToken):
        TokenVerifier(TEST_JWT_SECRET, jwks_url=jwks_server.url).verify(token)


def test_verify_jwks_unknown_kid_refetch_waits_for_cooldown(jwks_server):
    jwks_server.keys = [jwk(RSA_KEY, "k1")]
    verifier = TokenVerifier(TEST_JWT_SECRET, jwks_url=jwks_server.url)
    verifier.verify(sign(RSA_KEY, "RS256", kid="k1"))
    for kid in ("guess1", "guess2", "guess3"):
        with pytest.raises(InvalidToken):
            verifier.verify(sign(RSA_KEY, "RS256", kid=kid))
    assert jwks_server.fetches == 1


def test_verify_jwks_unreachable_auth_unavailable(jwks_server):
    url = jwks_server.url
    jwks_server.stop()
    with pytest.raises(AuthUnavailable):
        TokenVerifier(TEST_JWT_SECRET, jwks_url=url).verify(sign(RSA_KEY, "RS256", kid="k1"))
