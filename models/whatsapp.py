"""The WhatsApp Business Platform integration of a business (one per business)."""
from __future__ import annotations

import mongoengine as me

from typing import Any

from models.fields import UtcDateTimeField, EncryptedField, eq, iso, utcnow

STATUSES = ("pending", "active", "inactive", "error")


class WhatsAppIntegration(me.Document):
    """WhatsApp Business activation state of one business."""

    businessId = me.StringField(required=True, max_length=128)
    phoneNumber = me.StringField(required=True, default="pending", max_length=32)
    status = me.StringField(required=True, choices=STATUSES, default="pending")
    statusReason = me.StringField(null=True, max_length=500)
    mode = me.StringField(choices=("oauth", "qr"), default="oauth")
    webhookUrl = me.StringField(null=True, max_length=2000)
    accessToken = EncryptedField(null=True)
    # The two-step verification PIN the number was registered with (OAuth mode); kept across attempts
    # because registering the same number again needs the same PIN.
    pin = EncryptedField(null=True)
    wabaId = me.StringField(null=True, max_length=64)
    phoneNumberId = me.StringField(null=True, max_length=64)
    # Epoch seconds until which one OAuth completion holds the record (0: nobody); see models/meta_lifecycle.py.
    completingUntil = me.IntField(required=True, default=0)
    # The Unipile account of a QR-mode activation, matched by Unipile's account-status webhook.
    unipileAccountId = me.StringField(null=True, max_length=200)
    activatedBy = me.StringField(null=True, max_length=128)
    createdAt = UtcDateTimeField(required=True, default=utcnow)
    updatedAt = UtcDateTimeField(required=True, default=utcnow)

    meta = {
        "collection": "whatsapp_integrations",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["businessId"], "unique": True, "name": "business_unique"},
            {"fields": ["unipileAccountId"], "name": "unipile_account"},
            {"fields": ["wabaId"], "name": "waba"},
        ],
    }

    @classmethod
    def find_for(cls, business_id: str) -> "WhatsAppIntegration | None":
        """The business's integration, if it has one."""
        return cls.objects(__raw__=eq(businessId=business_id)).first()

    def to_api(self) -> dict[str, Any]:
        """The API form: no token, PIN or provider ids."""
        return {
            "status": self.status, "phoneNumber": self.phoneNumber, "statusReason": self.statusReason, "mode": self.mode,
            "createdAt": iso(self.createdAt), "updatedAt": iso(self.updatedAt),
        }
