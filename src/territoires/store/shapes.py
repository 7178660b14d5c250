"""Entity shapes, shared by the SQL backends: the exact combination of an entity's types and
attribute names (with their kinds). Entities of one kind share a shape, so type filters and
discovery read a small table of shapes instead of every entity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from territoires.ngsild.model import Entity
from territoires.store.port import TypeInfo

ShapeKey = tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]


def shape_key(entity: Entity) -> ShapeKey:
    """The shape of an entity: its sorted types and its attributes with their sorted kinds."""
    kinds = tuple(
        (name, tuple(sorted({inst["type"] for inst in insts})) if len(insts) > 1 else (insts[0]["type"],))
        for name, insts in entity["attrs"].items()
    )
    return tuple(sorted(entity["type"])), tuple(sorted(kinds))


def shape_record(key: ShapeKey) -> tuple[str, tuple[str, ...], dict[str, list[str]]]:
    """What a shapes row holds: its unique key text, its types, and {attribute: [kinds]}."""
    types, kinds = key
    attrs = {name: list(k) for name, k in kinds}
    return orjson.dumps([types, attrs]).decode(), types, attrs


def type_infos(rows: Iterable[tuple[Iterable[str], dict[str, Any], int]]) -> list[TypeInfo]:
    """Discovery's view of a tenant from (types, {attribute: kinds}, entity count) per shape."""
    merged: dict[str, tuple[int, dict[str, set[str]]]] = {}
    for types, attrs, count in rows:
        for type_iri in types:
            total, known = merged.get(type_iri, (0, {}))
            for name, kinds in attrs.items():
                known.setdefault(name, set()).update(kinds)
            merged[type_iri] = (total + count, known)
    return [
        TypeInfo(t, n, {a: frozenset(k) for a, k in sorted(attrs.items())})
        for t, (n, attrs) in sorted(merged.items())
    ]
