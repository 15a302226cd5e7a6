"""Keyset cursors: a position in (createdAt, _id) newest-first order, written `<milliseconds>-<id>`.

Every string of that shape (the contract's Cursor pattern) is a position, so any such cursor is
answered; clients still pass nextCursor on unchanged rather than making their own.
"""
from __future__ import annotations

import datetime as dt
import re

from bson import ObjectId

from core.errors import ValidationError

Position = tuple[dt.datetime, ObjectId]
_CURSOR = re.compile(r"^(\d{1,13})-([0-9a-f]{24})$")
_EPOCH = dt.datetime(1970, 1, 1)
_INVALID = "cursor is invalid: pass the nextCursor of a previous page unchanged"


def encode_cursor(created_at: dt.datetime, object_id: ObjectId) -> str:
    """The cursor after a record: its createdAt in milliseconds and its id."""
    millis = (created_at - _EPOCH) // dt.timedelta(milliseconds=1)
    return f"{millis}-{object_id}"


def decode_cursor(cursor: str) -> Position:
    """The position a cursor stands for; a 400 when it is not of the cursor's shape."""
    match = _CURSOR.match(cursor)
    if match is None:
        raise ValidationError(_INVALID)
    return _EPOCH + dt.timedelta(milliseconds=int(match.group(1))), ObjectId(match.group(2))
