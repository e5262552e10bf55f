"""The user id an erasure is asked for: a hyphenated UUID, or the request is refused naming it."""

from __future__ import annotations

import re
from typing import Any

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class InvalidUserId(ValueError):
    """The `user_id` of an erasure request is not a UUID: nothing is touched."""


def parse_user_id(value: Any) -> str:
    """The canonical (lower-case, hyphenated) form; the same form the ingest keeps user ids in."""
    if not isinstance(value, str) or not _UUID.fullmatch(value.strip().lower()):
        raise InvalidUserId(
            f"invalid user_id {value!r}: expected a UUID like 123e4567-e89b-12d3-a456-426614174000"
        )
    return value.strip().lower()
