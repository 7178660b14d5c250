"""What a public reader sees: only the entity types the tenant publishes.

The gate lets anyone read a tenant's public types through the read routes (``public`` rules)
and leaves those types in ``request.state.public_types``; None means the caller may read
everything of the tenant. Queries are narrowed in the database (an AND with the public types);
an entity asked by id that is not public is answered as absent, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from starlette.requests import Request

from territoires.auth.errors import Forbidden
from territoires.ngsild.errors import ResourceNotFound
from territoires.ngsild.query import And, Or, TypeName, link_depth
from territoires.store.port import EntityQuery


def _public(request: Request) -> frozenset[str] | None:
    return getattr(request.state, "public_types", None)


def visible_query(request: Request, query: EntityQuery) -> EntityQuery:
    public = _public(request)
    if public is None:
        return query
    if query.q is not None and link_depth(query.q):  # the linked entities may not be public
        raise Forbidden("public readers cannot query through linked entities (rel{…} in q); query each type")
    published = Or(tuple(TypeName(iri) for iri in sorted(public)))
    return replace(query, types=published if query.types is None else And((query.types, published)))


def check_visible(request: Request, entity_id: str, types: Iterable[str]) -> None:
    public = _public(request)
    if public is not None and public.isdisjoint(types):
        raise ResourceNotFound(f"entity {entity_id} does not exist")


def refuse_links(request: Request) -> None:
    """Linked entities would bypass the narrowing: public readers fetch them by their own query."""
    if _public(request) is not None:
        raise Forbidden("public readers cannot ask for linked entities (join); query each type")
