"""Re-encrypting every stored secret with the newest key, and flagging the ones no key can read."""
from __future__ import annotations

import dataclasses
from typing import Iterator

import mongoengine as me
from bson import Binary
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from models import ALL_DOCUMENTS
from models.fields import EncryptedField, utcnow

# What the API shows for a record whose secret no configured key can decrypt.
REAUTHORISE_REASON = "Stored secrets can no longer be decrypted (encryption key removed); reconnect the account"


@dataclasses.dataclass
class RotationCount:
    """Outcome for one encrypted field of one collection."""

    collection: str
    field: str
    rotated: int = 0
    current: int = 0
    undecryptable: int = 0

    def __str__(self) -> str:
        return (f"{self.collection}.{self.field}: rotated {self.rotated}, already current {self.current}, "
                f"undecryptable {self.undecryptable}")


def encrypted_fields() -> Iterator[tuple[type[me.Document], str]]:
    """Every (document class, field name) stored with EncryptedField."""
    for document in ALL_DOCUMENTS:
        for name, field in document._fields.items():
            if isinstance(field, EncryptedField):
                yield document, field.db_field or name


def rotate_all(keys: tuple[str, ...]) -> list[RotationCount]:
    """Re-encrypt every stored secret with keys[0]; records no key can read are marked for re-authorisation."""
    newest = Fernet(keys[0].encode())
    ring = MultiFernet([Fernet(key.encode()) for key in keys])
    counts = []
    for document, field in encrypted_fields():
        collection = document._get_collection()
        count = RotationCount(collection.name, field)
        for raw in collection.find({field: {"$ne": None}}, {field: 1, "status": 1}):
            token = bytes(raw[field]) if isinstance(raw[field], (bytes, Binary)) else None
            if token is None:
                continue
            try:
                newest.decrypt(token)
                count.current += 1
                continue
            except InvalidToken:
                pass
            try:
                rotated = ring.rotate(token)
            except InvalidToken:
                count.undecryptable += 1
                collection.update_one({"_id": raw["_id"]}, {"$set": {
                    "status": "error", "statusReason": REAUTHORISE_REASON, "updatedAt": utcnow(),
                }})
                continue
            collection.update_one({"_id": raw["_id"]}, {"$set": {field: Binary(rotated)}})
            count.rotated += 1
        counts.append(count)
    return counts
