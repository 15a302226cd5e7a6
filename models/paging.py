"""Opaque keyset cursors: a position in (createdAt, _id) newest-first order."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import re

from bson import ObjectId

from core.errors import ValidationError

Position = tuple[dt.datetime, ObjectId]
_DECODED = re.compile(r"^(\d{1,15}):([0-9a-f]{24})$")
_EPOCH = dt.datetime(1970, 1, 1)
_INVALID = "cursor is invalid: pass the nextCursor of a previous page unchanged"


def encode_cursor(created_at: dt.datetime, object_id: ObjectId) -> str:
    """The cursor after a record: its createdAt in milliseconds and its id, base64url without padding."""
    millis = (created_at - _EPOCH) // dt.timedelta(milliseconds=1)
    return base64.urlsafe_b64encode(f"{millis}:{object_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor stands for; a 400 when it was not made by encode_cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise ValidationError(_INVALID) from None
    match = _DECODED.match(text)
    if match is None:
        raise ValidationError(_INVALID)
    try:
        created_at = _EPOCH + dt.timedelta(milliseconds=int(match.group(1)))
    except OverflowError:
        raise ValidationError(_INVALID) from None
    return created_at, ObjectId(match.group(2))
