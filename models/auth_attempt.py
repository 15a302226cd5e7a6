"""Single-use, expiring references that authenticate browser and phone steps of a connection flow."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets as token_source

import mongoengine as me

from models.fields import UtcDateTimeField, eq, utcnow

PURPOSES = ("connection", "whatsapp")


def _digest(reference: str) -> str:
    return hashlib.sha256(reference.encode("utf-8", "surrogatepass")).hexdigest()


class AuthAttempt(me.Document):
    """One attempt to link an account: only the hash of its reference is stored."""

    refHash = me.StringField(required=True, max_length=64)
    purpose = me.StringField(required=True, choices=PURPOSES)
    flow = me.StringField(required=True, choices=("qr", "oauth"))
    businessId = me.StringField(required=True, max_length=128)
    targetId = me.StringField(required=True, max_length=64)
    expiresAt = UtcDateTimeField(required=True)
    usedAt = UtcDateTimeField(null=True)
    createdAt = UtcDateTimeField(required=True, default=utcnow)

    meta = {
        "collection": "auth_attempts",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["refHash"], "unique": True, "name": "ref_hash_unique"},
            {"fields": ["targetId"], "name": "target"},
        ],
    }

    @classmethod
    def start(cls, *, purpose: str, flow: str, business_id: str, target_id: str, ttl_seconds: int) -> str:
        """Create an attempt for a target, replacing its earlier ones; return the secret reference."""
        cls.objects(__raw__=eq(targetId=target_id)).delete()
        reference = token_source.token_urlsafe(24)
        cls(
            refHash=_digest(reference),
            purpose=purpose,
            flow=flow,
            businessId=business_id,
            targetId=target_id,
            expiresAt=utcnow() + dt.timedelta(seconds=ttl_seconds),
        ).save()
        return reference

    @classmethod
    def peek(cls, reference: str) -> "AuthAttempt | None":
        """The live (unused, unexpired) attempt for a reference, without using it."""
        found = cls.objects(__raw__=eq(refHash=_digest(reference))).first()
        if found is None or found.usedAt is not None or found.expiresAt <= utcnow():
            return None
        return found

    @classmethod
    def inspect(cls, reference: str) -> tuple["AuthAttempt | None", str]:
        """The attempt a reference names, whatever its state, and that state: live, expired, used or unknown."""
        found = cls.objects(__raw__=eq(refHash=_digest(reference))).first()
        if found is None:
            return None, "unknown"
        if found.usedAt is not None:
            return found, "used"
        if found.expiresAt <= utcnow():
            return found, "expired"
        return found, "live"

    @classmethod
    def consume(cls, reference: str) -> "AuthAttempt | None":
        """Use a live attempt exactly once; None when unknown, expired or already used."""
        found = cls.peek(reference)
        if found is None:
            return None
        # Atomic claim: of two concurrent uses only one sees usedAt still null.
        claimed = cls.objects(__raw__={"_id": found.id, "usedAt": None}).modify(set__usedAt=utcnow(), new=True)
        return claimed

    @classmethod
    def discard_for(cls, target_id: str) -> None:
        """Drop every attempt of a target (it was deleted or completed)."""
        cls.objects(__raw__=eq(targetId=target_id)).delete()
