"""Page cursors: an opaque token naming the creation rank (rid) of the last entity served.
Both SQL backends page the same way with them."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from territoires.ngsild.errors import BadRequestData
from territoires.store.port import EntityQuery, QueryPage


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


def after_rid(query: EntityQuery) -> int | None:
    """The rid the page starts after, if the query gives a cursor (refused with orderBy)."""
    if query.after is None:
        return None
    if query.order_by:
        raise BadRequestData("after (a page cursor) cannot be used with orderBy: page with offset and limit")
    return decode_cursor(query.after)


def page(rows: Sequence[tuple[int, Any]], count: int | None, query: EntityQuery,
         load: Callable[[Any], Any] = lambda doc: doc) -> QueryPage:
    """The page of (rid, document) rows, with the cursor of the next page when it may have
    entities. Cursors follow creation order only: an ordered query pages with offset."""
    full = rows and len(rows) == query.limit and not query.order_by
    return QueryPage([load(doc) for _, doc in rows], count, encode_cursor(rows[-1][0]) if full else None)
