"""Public types: the entity types of a tenant that anyone may read, without a credential.

A tenant admin publishes open data type by type (parking spots, air quality…). Types are kept
expanded (IRIs), as entities carry them; people name them with short names that the request's
@context resolves, like every NGSI-LD type. The enforcement point asks :meth:`PublicTypes.of` on
every anonymous read: answers are kept in memory for ``cache_seconds`` (5 s), so a change made
through another process reaches this one within that delay (at once through this one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

from territoires.auth.grants import require_tenant
from territoires.ngsild.context import Context
from territoires.ngsild.entity import validate_name
from territoires.ngsild.errors import BadRequestData
from territoires.store.port import Store

MAX_TYPES = 1000
# Tenants remembered at most: anonymous requests name any tenant they like.
_CACHE_ENTRIES = 10_000


def public_types_json(types: Collection[str], ctx: Context) -> dict[str, Any]:
    """``{"types": [short names], "expandedTypes": [IRIs]}``, both in the order of the IRIs."""
    ordered = sorted(types)
    return {"types": [ctx.compact(iri) for iri in ordered], "expandedTypes": ordered}


def expanded_types(body: Any, ctx: Context) -> frozenset[str]:
    """The IRIs of the types a ``{"types": [...]}`` body names under ``ctx``."""
    if not isinstance(body, dict) or not isinstance(body.get("types"), list):
        raise BadRequestData('give the public types as {"types": ["ParkingSpot", …]} (an empty list publishes none)')
    extra = sorted(set(body) - {"types", "@context"})
    if extra:
        raise BadRequestData(f"unknown member {extra[0]!r}: the body holds only types")
    names = body["types"]
    if len(names) > MAX_TYPES:
        raise BadRequestData(f"at most {MAX_TYPES} types may be public, not {len(names)}")
    types = set()
    for name in names:
        iri = ctx.expand(validate_name(name, "types"))
        if iri.startswith("@"):
            raise BadRequestData(f"types: {name!r} names a JSON-LD keyword, not an entity type")
        types.add(iri)
    return frozenset(types)


class PublicTypes:
    def __init__(self, store: Store, *, cache_seconds: float = 5.0) -> None:
        self.store = store
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()

    def of(self, tenant: str) -> frozenset[str]:
        """The public types of ``tenant`` (empty for a tenant that does not exist), from memory
        when read less than ``cache_seconds`` ago."""
        now = time.monotonic()
        cached = self._cache.get(tenant)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        types = self.store.public_types(tenant)
        with self._lock:
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
            self._cache[tenant] = (types, now)
        return types

    def read(self, tenant: str) -> frozenset[str]:
        """The public types of an existing tenant, from the store (``NonexistentTenant`` else)."""
        require_tenant(self.store, tenant)
        return self.store.public_types(tenant)

    def replace(self, tenant: str, types: frozenset[str]) -> frozenset[str]:
        """Publish exactly ``types`` (IRIs) in ``tenant``."""
        self.store.set_public_types(tenant, types)
        with self._lock:
            self._cache.pop(tenant, None)
        return types
