"""Bearer JWT verification and minting."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import jwt

from core.errors import Forbidden, InvalidToken, TokenExpired

ROLES = ("owner", "admin", "member")
WRITE_ROLES = ("owner", "admin")
ALGORITHM = "HS256"


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
    """Verifies HS256 bearer tokens against the configured secret and claim checks."""

    def __init__(self, secret: str, *, issuer: str | None = None, audience: str | None = None, leeway: int = 30) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway

    def __repr__(self) -> str:
        return "TokenVerifier(***)"

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims as connexion token_info, or raise a 401 error."""
        required = ["exp", "sub"] + (["iss"] if self._issuer else []) + (["aud"] if self._audience else [])
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": required, "verify_aud": bool(self._audience)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise InvalidToken() from None
        sub, business, role = claims.get("sub"), claims.get("businessId"), claims.get("role", "owner")
        for value in (sub, business):
            if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.isprintable():
                raise InvalidToken("Token must carry string sub and businessId claims")
        if role not in ROLES:
            raise InvalidToken("Token role must be owner, admin or member")
        return {"sub": sub, "businessId": business, "role": role}


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
