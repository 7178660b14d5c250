"""Page cursors: an opaque token naming the creation rank (rid) of the last entity served."""

from __future__ import annotations

import base64

from territoires.ngsild.errors import BadRequestData


def encode_cursor(rid: int) -> str:
    return base64.urlsafe_b64encode(f"r{rid}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("r"):
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError):
        raise BadRequestData(f"cursor {cursor!r} is not one this server gave: restart from the first page") from None
