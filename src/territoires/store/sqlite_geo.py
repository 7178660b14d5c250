"""Geo-queries in SQLite: an R*Tree of every GeoProperty instance, and the exact predicate as
an SQL function.

Per tenant database, one row per GeoProperty instance::

    geo(gid = rid * 256 + k, min_x, max_x, min_y, max_y, +rid, +attr, +geometry)

``rid`` is the entity's rowid in ``entities``, ``k`` the instance's rank in the entity (k < 256),
``attr`` the expanded attribute name, ``geometry`` the GeoJSON text.  A query first narrows the
candidates with the R*Tree (boxes in degrees; SQLite stores them as 32-bit floats rounded
outwards, so a box never shrinks), then ``geo_match`` applies the exact predicate of
``territoires.ngsild.geo`` to each candidate.

Queries reach ``geo_match`` by key: :func:`compile_geo` registers the compiled query (its
reference geometry built and prepared once) in a process-wide table, and the SQL passes the key.

Sorting by distance (clause 4.23) calls ``geo_distance(reference, instance)`` on the stored
GeoProperty instances of each entity: metres from the reference geometry (GeoJSON text) to the
instance's value, NULL for an instance that holds no geometry.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson

from territoires.ngsild.geo import (
    GEOMETRY_TYPES,
    MAX_GEO_INSTANCES,
    GeoQuery,
    Matcher,
    Ruler,
    bounding_box,
    geo_instances,
    geometry_box,
    matcher,
)
from territoires.ngsild.model import Entity

GEO_SCHEMA = ("CREATE VIRTUAL TABLE IF NOT EXISTS geo USING rtree("
              "gid, min_x, max_x, min_y, max_y, +rid INTEGER, +attr TEXT, +geometry TEXT)")

MAX_INSTANCES = MAX_GEO_INSTANCES  # gid = rid * MAX_INSTANCES + k

_REGISTRY_SIZE = 1024
_registry: OrderedDict[str, Matcher] = OrderedDict()
_registry_lock = threading.Lock()


def register_functions(conn: sqlite3.Connection) -> None:
    """Install ``geo_match(query_key, geometry_text)`` and ``geo_distance(reference_text,
    instance_text)`` on a connection."""
    conn.create_function("geo_match", 2, _geo_match, deterministic=True)
    conn.create_function("geo_distance", 2, _geo_distance, deterministic=True)


@lru_cache(maxsize=64)
def _ruler(reference_text: str) -> Ruler:
    return Ruler(orjson.loads(reference_text))


def _geo_distance(reference_text: str, instance_text: str) -> float | None:
    value = orjson.loads(instance_text).get("value")
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        return None
    return _ruler(reference_text)(value)


def _geo_match(key: str, geometry_text: str) -> int:
    compiled = _registry.get(key)
    if compiled is None:  # only if 1024 other queries were compiled while this one ran
        raise LookupError(f"geo-query {key} is no longer registered; compile it again")
    return 1 if compiled.match_text(geometry_text) else 0


def register_query(query: GeoQuery) -> str:
    """Register ``query`` for ``geo_match`` and return its key (stable for equal queries)."""
    key = hashlib.blake2b(query.key.encode(), digest_size=12).hexdigest()
    with _registry_lock:
        if key in _registry:
            _registry.move_to_end(key)
        else:
            _registry[key] = matcher(query)
            if len(_registry) > _REGISTRY_SIZE:
                _registry.popitem(last=False)
    return key


def compile_geo(query: GeoQuery) -> tuple[str, list[Any]]:
    """A boolean SQL expression over the row alias ``e`` of ``entities`` with its parameters:
    true when the entity has an instance of ``query.geoproperty`` that satisfies ``query``.
    Entities without that GeoProperty never match, ``disjoint`` included (clause 4.10)."""
    key = register_query(query)
    box = bounding_box(query)
    terms: list[str] = []
    params: list[Any] = []
    if box is not None:
        min_x, max_x, min_y, max_y = box
        if (min_x, max_x) != (-180.0, 180.0):
            terms += ["min_x <= ?", "max_x >= ?"]
            params += [max_x, min_x]
        if (min_y, max_y) != (-90.0, 90.0):
            terms += ["min_y <= ?", "max_y >= ?"]
            params += [max_y, min_y]
    terms += ["attr = ?", "geo_match(?, geometry)"]
    params += [query.geoproperty, key]
    return f"e.rid IN (SELECT rid FROM geo WHERE {' AND '.join(terms)})", params


# What an R*Tree row holds but the entity's row number: the box, the attribute, the geometry's JSON.
GeoPart = tuple[float, float, float, float, str, str]


def geo_parts(entity: Entity) -> list[GeoPart]:
    """The R*Tree rows of an entity in internal form, but its row number: one per GeoProperty
    instance that ``geo_instances`` indexes."""
    return [(*geometry_box(geometry), attr, orjson.dumps(geometry).decode()) for attr, geometry in geo_instances(entity)]


def geo_rows(rid: int, parts: Sequence[GeoPart]) -> list[tuple[int, float, float, float, float, int, str, str]]:
    """The R*Tree rows of the entity numbered ``rid`` from its ``geo_parts``."""
    return [(rid * MAX_INSTANCES + k, min_x, max_x, min_y, max_y, rid, attr, text)
            for k, (min_x, max_x, min_y, max_y, attr, text) in enumerate(parts)]
