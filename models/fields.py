"""Custom fields and helpers shared by the documents."""
from __future__ import annotations

import datetime as dt
from typing import Any

import mongoengine as me
from mongoengine.base import BaseField
from bson import Binary

from core.crypto import UNDECRYPTABLE, SecretBox

_box: SecretBox | None = None


def configure_encryption(box: SecretBox) -> None:
    """Set the key ring every EncryptedField uses (done once by the app factory)."""
    global _box
    _box = box


def secret_box() -> SecretBox:
    if _box is None:
        raise RuntimeError("encryption is not configured")
    return _box


class EncryptedField(BaseField):
    """Stores any JSON value as a binary Fernet token; Python code sees plaintext.

    Ciphertext is kept as BSON binary so it can never be confused with a plaintext string.
    """

    def to_mongo(self, value: Any) -> Any:
        if value is None:
            return None
        if value is UNDECRYPTABLE:
            raise ValueError("cannot store an undecryptable secret")
        return Binary(secret_box().encrypt(value).encode())

    def to_python(self, value: Any) -> Any:
        if isinstance(value, bytes):
            return secret_box().decrypt(value.decode("ascii", "replace"))
        return value

    def validate(self, value: Any) -> None:
        return None

    def prepare_query_value(self, op: str, value: Any) -> Any:
        if op == "set":
            return self.to_mongo(value)  # an atomic update writes ciphertext like save() does
        raise me.ValidationError("encrypted fields cannot be queried")

    def __repr__(self) -> str:
        return "EncryptedField(***)"


class UtcDateTimeField(me.DateTimeField):
    """A naive-UTC datetime that also reads back the text form some wire-protocol servers store for $set values."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "")).replace(tzinfo=None)
            except ValueError:
                return value
        return super().to_python(value)


def utcnow() -> dt.datetime:
    """Now in UTC, truncated to milliseconds (what MongoDB stores)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: dt.datetime) -> str:
    """YYYY-MM-DDTHH:MM:SS.sssZ"""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def eq(**filters: Any) -> dict[str, Any]:
    """A raw filter written with $eq, which uses indexes on the embedded server too."""
    return {key: {"$eq": value} for key, value in filters.items()}
