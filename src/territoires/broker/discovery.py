"""Discovery of what a tenant holds: entity types and attributes (clauses 5.7.5 – 5.7.10).

The store summarises types per shape, so these answers never read every entity.
"""

from __future__ import annotations

import hashlib
from typing import Any

from territoires.ngsild.context import Context
from territoires.ngsild.errors import ResourceNotFound
from territoires.store.port import Store, TypeInfo


def _list_id(kind: str, names: list[str]) -> str:
    """A stable identifier for a list answer: the same content gives the same id."""
    digest = hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]
    return f"urn:ngsi-ld:{kind}:{digest}"


class DiscoveryService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _types(self, tenant: str) -> list[TypeInfo]:
        with self.store.session(tenant) as session:
            return session.types()

    # ---- types ------------------------------------------------------------------------------
    def type_list(self, tenant: str, ctx: Context) -> dict[str, Any]:
        names = [ctx.compact(info.type) for info in self._types(tenant)]
        return {"id": _list_id("EntityTypeList", names), "type": "EntityTypeList", "typeList": names}

    def type_details(self, tenant: str, ctx: Context) -> list[dict[str, Any]]:
        return [
            {
                "id": info.type,
                "type": "EntityType",
                "typeName": ctx.compact(info.type),
                "attributeNames": [ctx.compact(a) for a in info.attributes],
            }
            for info in self._types(tenant)
        ]

    def type_info(self, tenant: str, type_name: str, ctx: Context) -> dict[str, Any]:
        iri = ctx.expand(type_name)
        info = next((i for i in self._types(tenant) if i.type == iri), None)
        if info is None:
            raise ResourceNotFound(f"no entity of type {type_name} exists")
        return {
            "id": info.type,
            "type": "EntityTypeInfo",
            "typeName": ctx.compact(info.type),
            "entityCount": info.entity_count,
            "attributeDetails": [
                {"id": attr, "type": "Attribute", "attributeName": ctx.compact(attr), "attributeTypes": sorted(kinds)}
                for attr, kinds in info.attributes.items()
            ],
        }

    # ---- attributes -------------------------------------------------------------------------
    def _attributes(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Attribute IRI -> entity count, kinds and entity types, over every type."""
        summary: dict[str, dict[str, Any]] = {}
        for info in self._types(tenant):
            for attr, kinds in info.attributes.items():
                entry = summary.setdefault(attr, {"count": 0, "kinds": set(), "types": []})
                entry["count"] += info.entity_count
                entry["kinds"].update(kinds)
                entry["types"].append(info.type)
        return dict(sorted(summary.items()))

    def attribute_list(self, tenant: str, ctx: Context) -> dict[str, Any]:
        names = [ctx.compact(a) for a in self._attributes(tenant)]
        return {"id": _list_id("AttributeList", names), "type": "AttributeList", "attributeList": names}

    def attribute_details(self, tenant: str, ctx: Context) -> list[dict[str, Any]]:
        return [
            {"id": attr, "type": "Attribute", "attributeName": ctx.compact(attr),
             "typeNames": [ctx.compact(t) for t in entry["types"]]}
            for attr, entry in self._attributes(tenant).items()
        ]

    def attribute_info(self, tenant: str, attr_name: str, ctx: Context) -> dict[str, Any]:
        iri = ctx.expand(attr_name)
        entry = self._attributes(tenant).get(iri)
        if entry is None:
            raise ResourceNotFound(f"no entity has an attribute {attr_name}")
        return self._attribute(iri, entry, ctx)

    @staticmethod
    def _attribute(iri: str, entry: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {
            "id": iri,
            "type": "Attribute",
            "attributeName": ctx.compact(iri),
            "attributeCount": entry["count"],
            "attributeTypes": sorted(entry["kinds"]),
            "typeNames": [ctx.compact(t) for t in entry["types"]],
        }
