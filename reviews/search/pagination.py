"""Opaque page cursors: base64url of an offset into the ranked result window."""

from __future__ import annotations

import base64
import binascii

_PREFIX = "o:"
INVALID_CURSOR = "invalid cursor: pass the nextCursor value from the previous page unchanged"


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, max_offset: int) -> int:
    """Offset encoded in `cursor` (0 for None/empty); ValueError with a clear message otherwise."""
    if cursor is None or cursor == "":
        return 0
    if not isinstance(cursor, str) or len(cursor) > 32:
        raise ValueError(INVALID_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(INVALID_CURSOR) from None
    digits = raw.removeprefix(_PREFIX)
    if not raw.startswith(_PREFIX) or not digits.isdigit() or not digits.isascii():
        raise ValueError(INVALID_CURSOR)
    offset = int(digits)
    if offset > max_offset:
        raise ValueError(INVALID_CURSOR)
    return offset
