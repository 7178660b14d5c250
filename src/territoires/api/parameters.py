"""Query parameters of the NGSI-LD API: one that no operation of this API reads is refused with
400 InvalidRequest (clause 6.3.20) rather than ignored, so that a misspelt ``limt`` or
``idPatern`` is an error the caller sees, not a wrong answer it trusts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.ngsild.errors import InvalidRequest
from territoires.ngsild.temporal import TEMPORAL_QUERY_MEMBERS

API_PREFIX = "/ngsi-ld/"
# Every query parameter some NGSI-LD operation reads; each operation ignores those of the others.
NGSI_LD_PARAMETERS = frozenset({
    # selecting entities (clauses 6.4.3.2, 4.9, 4.10, 4.19) and pages of them (4.12)
    "id", "type", "idPattern", "attrs", "q", "scopeQ", "csf", "georel", "geometry", "coordinates", "geoproperty",
    # (a string compared with a VocabProperty is always expanded as a vocabulary term, as expandValues asks)
    "expandValues",
    "local", "limit", "offset", "count", "after", "orderBy", "orderFrom", "orderGeometry", "collation",
    # representing them (4.5, 4.21, 4.5.23)
    "options", "format", "lang", "pick", "omit", "geometryProperty", "join", "joinLevel", "containedBy",
    # attribute instances, purge, @contexts, discovery
    "datasetId", "deleteAll", "keep", "drop", "details", "kind", "reload",
    # temporal evolution (clause 6.18.3.2)
    *TEMPORAL_QUERY_MEMBERS,
})

Endpoint = Callable[[Request], Awaitable[Response]]


def refusing_unknown_parameters(routes: Iterable[Route]) -> list[Route]:
    """The routes, those of the NGSI-LD API checking their query parameters first."""
    return [Route(route.path, _checked(route.endpoint), methods=route.methods, name=route.name,
                  include_in_schema=route.include_in_schema) if route.path.startswith(API_PREFIX) else route
            for route in routes]


def _checked(endpoint: Endpoint) -> Endpoint:
    @wraps(endpoint)
    async def checked(request: Request) -> Response:
        unknown = sorted(set(request.query_params) - NGSI_LD_PARAMETERS)
        if unknown:
            raise InvalidRequest(f"unknown query parameter(s) {', '.join(map(repr, unknown))}: "
                                 "no operation of the NGSI-LD API takes them (clause 6.3.20)")
        return await endpoint(request)

    return checked
