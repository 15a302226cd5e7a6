"""Asymmetric test keys and a JWKS endpoint on loopback that counts how often it is fetched."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for the test business's user, with some changed (None removes a claim)."""
    now = int(time.time())
    base = {"sub": "test_user_id", "businessId": "test_business_id", "iat": now, "exp": now + 600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(private_key, algorithm: str, kid: str | None = None, **changes: Any) -> str:
    """A token signed with an asymmetric key."""
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**changes), private_key, algorithm=algorithm, headers=headers)


def hs256_with_key_text(key_text: str, **changes: Any) -> str:
    """An HS256 token whose HMAC key is the public key's PEM text (the algorithm-confusion attack)."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims(**changes))}"
    signature = hmac.new(key_text.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def jwk(private_key, kid: str) -> dict[str, Any]:
    """The public JWK of a key, as an identity provider publishes it."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        data = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
        data["alg"] = "RS256"
    else:
        data = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
        data["alg"] = "ES256"
    return {**data, "kid": kid, "use": "sig"}


class JwksServer:
    """Serves {"keys": [...]} at /.well-known/jwks.json on a free loopback port."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.status = 200  # anything else: the identity provider failing
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(server.status if self.path == "/.well-known/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/.well-known/jwks.json"

    def start(self) -> "JwksServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
