"""Encryption of secrets at rest with MultiFernet (newest key first)."""
from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class Undecryptable:
    """Stands in for a stored secret that no configured key can decrypt (needs re-authorisation)."""

    def __repr__(self) -> str:
        return "<undecryptable secret>"

    def __bool__(self) -> bool:
        return False


UNDECRYPTABLE = Undecryptable()


class SecretBox:
    """Encrypts JSON-serialisable values to Fernet tokens and back."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def __repr__(self) -> str:
        return "SecretBox(***)"

    def encrypt(self, value: Any) -> str:
        """Serialise and encrypt a value with the newest key."""
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def decrypt(self, token: str) -> Any:
        """Decrypt a stored token, or UNDECRYPTABLE when no key fits."""
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError, TypeError):
            return UNDECRYPTABLE

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored token with the newest key (raises InvalidToken if no key fits)."""
        return self._fernet.rotate(token.encode()).decode()
