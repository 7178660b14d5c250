"""Entities and contexts as rows, the same way in both SQL backends: the checks before an
insert, the stored JSON text of an entity, a stored context read back."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

import orjson

from territoires.ngsild.errors import AlreadyExists, BadRequestData
from territoires.ngsild.model import Entity
from territoires.store.port import StoredContext

# U+0000 as orjson writes it: \u0000 not itself preceded by an escaped backslash.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def check_new(ids: Sequence[str], stored: Callable[[Sequence[str]], Collection[str]]) -> None:
    """Raise ``AlreadyExists`` naming the first id given twice, or else the first already
    stored (``stored(ids)`` answers which of them are)."""
    seen: set[str] = set()
    for eid in ids:
        if eid in seen:
            raise AlreadyExists(f"entity {eid} is given twice")
        seen.add(eid)
    existing = stored(ids)
    if existing:
        first = next(i for i in ids if i in existing)
        raise AlreadyExists(f"entity {first} already exists")


def document(entity: Entity) -> str:
    """The stored JSON text of an entity. Text holding U+0000 is refused on every backend
    alike, since PostgreSQL's text and jsonb cannot hold it."""
    text = orjson.dumps(entity).decode()
    if "\\u0000" in text:  # only then is the entity's id formatted
        refuse_nul(text, f"entity {entity.get('id')}")
    return text


def refuse_nul(json_text: str, whose: str) -> str:
    """``json_text``, unless a string in it holds U+0000."""
    if "\\u0000" in json_text and _ESCAPED_NUL.search(json_text):
        raise nul_refused(whose)
    return json_text


def nul_refused(whose: str) -> BadRequestData:
    return BadRequestData(f"{whose}: text values may not contain the NUL character (U+0000)")


def stored_context(row: tuple) -> StoredContext:
    """A context from its row (id, kind, body as JSON text, created_at, last_usage, hits)."""
    cid, kind, body, created_at, last_usage, hits = row
    return StoredContext(cid, kind, orjson.loads(body), created_at, last_usage, hits)
