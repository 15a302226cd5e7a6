"""Messaging-account connections made through the provider (Unipile or the sandbox)."""
from __future__ import annotations

import re
from typing import Any, Mapping

import mongoengine as me
from bson import ObjectId

from core.settings import PLATFORMS
from models.fields import UtcDateTimeField, EncryptedField, eq, iso, utcnow
from models.paging import Position

STATUSES = ("pending", "active", "inactive", "error")
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")
# Records fetched beyond a page to absorb those newer than the cursor within its second.
_TIE_ALLOWANCE = 10


class Connection(me.Document):
    """One connected messaging account of a business."""

    connectionId = me.StringField(required=True, max_length=200)
    platform = me.StringField(required=True, choices=PLATFORMS)
    name = me.StringField(required=True, max_length=100)
    nameKey = me.StringField(required=True, max_length=400)
    status = me.StringField(required=True, choices=STATUSES, default="pending")
    statusReason = me.StringField(null=True, max_length=500)
    # The user switched the connection off: the provider's account coming back never switches it on.
    userInactive = me.BooleanField(default=False)
    businessId = me.StringField(required=True, max_length=128)
    userId = me.StringField(required=True, max_length=128)
    credentials = EncryptedField(null=True)
    createdAt = UtcDateTimeField(required=True, default=utcnow)
    updatedAt = UtcDateTimeField(required=True, default=utcnow)

    meta = {
        "collection": "connections",
        "auto_create_index": False,
        "indexes": [
            {"fields": ["businessId", "platform", "nameKey"], "unique": True, "name": "business_platform_name_unique"},
            {"fields": ["connectionId"], "unique": True, "name": "connection_id_unique"},
            {"fields": ["businessId", "-createdAt"], "name": "business_newest_first"},
        ],
    }

    @staticmethod
    def name_key(name: str) -> str:
        """The form of a name that uniqueness compares: case-insensitive."""
        return name.casefold()

    @classmethod
    def for_business(cls, business_id: str) -> me.QuerySet:
        """All connections of one business (filter written to use the index)."""
        return cls.objects(__raw__=eq(businessId=business_id))

    @classmethod
    def list_for(cls, business_id: str) -> list[dict[str, Any]]:
        """A business's connections as the API shows them, newest first."""
        # Raw documents: building a Document per record costs more CPU than the rest of the request.
        stored = cls.for_business(business_id).exclude("credentials").order_by("-createdAt", "-id").as_pymongo()
        return [cls.api_view(doc) for doc in stored]

    @classmethod
    def page_for(cls, business_id: str, limit: int | None, after: Position | None) -> tuple[list["Connection"], bool]:
        """Up to limit (None: all) connections after a position in newest-first order, and whether more follow."""
        query = eq(businessId=business_id)
        if after is not None:
            query["createdAt"] = {"$lte": after[0]}
        ordered = cls.objects(__raw__=query).exclude("credentials").order_by("-createdAt", "-id")
        if limit is None:
            return [c for c in ordered if after is None or c.position < after], False
        if after is None:
            found = list(ordered.limit(limit + 1))
            return found[:limit], len(found) > limit
        # The range filter only narrows the scan (the embedded server compares dates to the second, and
        # $lte keeps the cursor's own moment); the exact (createdAt, id) comparison is made here.
        found, skip, batch = [], 0, limit + 1 + _TIE_ALLOWANCE
        while len(found) <= limit:
            chunk = list(ordered.skip(skip).limit(batch))
            found += [c for c in chunk if c.position < after]
            if len(chunk) < batch:
                break
            skip += batch
        return found[:limit], len(found) > limit

    @property
    def position(self) -> Position:
        """Where this connection stands in newest-first order (for cursors)."""
        return self.createdAt, self.id

    @classmethod
    def find_for(cls, business_id: str, reference: str) -> "Connection | None":
        """Look a path reference up as id (when it is 24 hex characters), then as connectionId."""
        if _OBJECT_ID.match(reference):
            found = cls.objects(__raw__={"_id": ObjectId(reference), **eq(businessId=business_id)}).first()
            if found is not None:
                return found
        return cls.objects(__raw__=eq(businessId=business_id, connectionId=reference)).first()

    @classmethod
    def find_pending_twin(cls, business_id: str, platform: str, name: str) -> "Connection | None":
        """The connection that holds this business/platform/name slot, if any."""
        return cls.objects(__raw__=eq(businessId=business_id, platform=platform, nameKey=cls.name_key(name))).first()

    def to_api(self) -> dict[str, Any]:
        """The connection as the API shows it (never its credentials)."""
        return self.api_view({"_id": self.id, **{name: getattr(self, name) for name in _API_FIELDS}})

    @classmethod
    def api_view(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        """A stored connection (field names as in the database) as the API shows it."""
        moment = cls._fields["createdAt"].to_python
        return {
            "id": str(doc["_id"]),
            "connectionId": doc["connectionId"],
            "platform": doc["platform"],
            "name": doc["name"],
            "status": doc["status"],
            "statusReason": doc.get("statusReason"),
            "createdAt": iso(moment(doc["createdAt"])),
            "updatedAt": iso(moment(doc["updatedAt"])),
        }


_API_FIELDS = ("connectionId", "platform", "name", "status", "statusReason", "createdAt", "updatedAt")
