"""Bearer JWT verification and minting."""
from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from collections import OrderedDict
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from core.errors import AuthUnavailable, Forbidden, InvalidToken, TokenExpired

ROLES = ("owner", "admin", "member")
WRITE_ROLES = ("owner", "admin")
ALGORITHM = "HS256"
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
JWKS_TIMEOUT_SECONDS = 2
JWKS_LIFESPAN_SECONDS = 300
# Distinct valid tokens remembered after their first verification (a few hundred bytes each).
VERIFIED_CACHE_SIZE = 4096


def public_key_algorithm(pem: str) -> str:
    """The one algorithm a PEM public key verifies: RS256 for RSA, ES256 for EC P-256 (ValueError otherwise)."""
    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("the public key must be RSA (2048 bits or more) or EC P-256")


class VerifiedTokens:
    """A bounded LRU of tokens that passed verification, each with the moment it stops being valid."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float) -> dict[str, Any] | None:
        """The token's claims if it was verified and is still valid at `now`, else None."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            if now >= entry[1]:
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return dict(entry[0])

    def put(self, token: str, claims: dict[str, Any], valid_until: float) -> None:
        """Remember a verified token until `valid_until`."""
        with self._lock:
            self._entries[token] = (dict(claims), valid_until)
            self._entries.move_to_end(token)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who is calling: taken from a verified token."""

    user_id: str
    business_id: str
    role: str

    def require_write(self) -> None:
        """Raise 403 unless the caller's role may change data."""
        if self.role not in WRITE_ROLES:
            raise Forbidden("Your role may only read")


class TokenVerifier:
    """Verifies bearer tokens: HS256 with the secret, or RS256/ES256 with a public key or a JWKS URL.

    With a public key or JWKS URL configured only those algorithms are accepted, so an HS256
    token "signed" with the public key (algorithm confusion) is never even tried.

    With a fixed key (the secret or a public key) a token that verified once is remembered until
    its exp plus the leeway, when PyJWT would start refusing it: a signature that verified stays
    valid, and nbf and iat, once passed, stay passed. With a JWKS URL every token is verified
    afresh, so that a key withdrawn from the set stops being accepted as soon as the set is refetched.
    """

    def __init__(self, secret: str, *, public_key: str | None = None, jwks_url: str | None = None,
                 issuer: str | None = None, audience: str | None = None, leeway: int = 30,
                 jwks_cooldown: float = 30.0) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._public_key = None
        self._jwks: jwt.PyJWKClient | None = None
        self._jwks_cooldown = jwks_cooldown
        self._jwks_retry_at = 0.0
        if public_key:
            self._algorithms: tuple[str, ...] = (public_key_algorithm(public_key),)
            self._public_key = load_pem_public_key(public_key.encode())
        elif jwks_url:
            self._algorithms = ASYMMETRIC_ALGORITHMS
            # Cached key set, refetched on an unknown kid at most once per cooldown, so tokens
            # with made-up kids cannot turn into a flood of requests to the identity provider.
            self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=JWKS_LIFESPAN_SECONDS,
                                         timeout=JWKS_TIMEOUT_SECONDS, cooldown_duration=jwks_cooldown)
        else:
            self._algorithms = (ALGORITHM,)
        self._verified = VerifiedTokens(VERIFIED_CACHE_SIZE) if self._jwks is None else None

    def __repr__(self) -> str:
        return "TokenVerifier(***)"

    @property
    def accepts_hs256(self) -> bool:
        """Whether tokens minted with the shared secret are accepted."""
        return self._algorithms == (ALGORITHM,)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims as connexion token_info, or raise a 401 error."""
        if self._verified is not None:
            known = self._verified.get(token, time.time())
            if known is not None:
                return known
        info, expires = self._verify(token)
        if self._verified is not None:
            # PyJWT refuses a token once exp <= now - leeway.
            self._verified.put(token, info, expires + self._leeway)
        return info

    def _verify(self, token: str) -> tuple[dict[str, Any], int]:
        required = ["exp", "sub"] + (["iss"] if self._issuer else []) + (["aud"] if self._audience else [])
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm not in self._algorithms:
                raise InvalidToken()
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": required, "verify_aud": bool(self._audience)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.PyJWKClientConnectionError as exc:
            raise AuthUnavailable() from exc
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken() from None
        sub, business, role = claims.get("sub"), claims.get("businessId"), claims.get("role", "owner")
        for value in (sub, business):
            if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.isprintable():
                raise InvalidToken("Token must carry string sub and businessId claims")
        if role not in ROLES:
            raise InvalidToken("Token role must be owner, admin or member")
        return {"sub": sub, "businessId": business, "role": role}, int(claims["exp"])

    def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._public_key or self._secret
        if time.monotonic() < self._jwks_retry_at:
            # The key set failed to load moments ago: answer from the keys already cached, without
            # letting every request (any kid, no valid token needed) wait on the identity provider again.
            return self._cached_jwk(jwt.get_unverified_header(token).get("kid"))
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            self._jwks_retry_at = time.monotonic() + self._jwks_cooldown
            raise

    def _cached_jwk(self, kid: Any) -> Any:
        cache = self._jwks.jwk_set_cache
        data = cache.get() if cache is not None else None
        for key in jwt.PyJWKSet.from_dict(data).keys if data else ():
            if key.key_id == kid:
                return key.key
        raise AuthUnavailable()


def mint_token(secret: str, *, business_id: str, user_id: str, role: str | None = None, hours: float = 24.0) -> str:
    """Create an HS256 token for a user of a business."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "businessId": business_id, "iat": now, "exp": now + int(hours * 3600)}
    if role:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def caller_from(token_info: dict[str, Any]) -> Caller:
    """The Caller of a request from connexion's token_info."""
    return Caller(user_id=token_info["sub"], business_id=token_info["businessId"], role=token_info["role"])


def decode_bearer(token: str, request=None) -> dict[str, Any]:
    """Connexion bearer-info function: verifies the token with the app's verifier."""
    verifier: TokenVerifier = request.scope["state"]["services"].verifier
    return verifier.verify(token)


# Connexion asks inspect.signature() which keywords this function takes twice per request; a stored
# signature is returned as is instead of being rebuilt from the code object each time.
decode_bearer.__signature__ = inspect.signature(decode_bearer)  # type: ignore[attr-defined]
