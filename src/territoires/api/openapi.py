"""``/openapi.json``: an OpenAPI 3.1 description of every JSON route of the platform."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from territoires import __version__
from territoires.api.http import json_response

PROBLEM_RESPONSE = {
    "description": "Erreur (ProblemDetails, RFC 7807) / error",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
}
TENANT_PARAMETER = {
    "name": "NGSILD-Tenant", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "Locataire (collectivité membre) visé ; absent : le locataire par défaut.",
}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def describe(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or route.path == "/":
            continue
        path = route.path.replace(":path}", "}")
        for method in sorted((route.methods or set()) - {"HEAD"}):
            summary = (route.endpoint.__doc__ or route.endpoint.__name__.replace("_", " ")).strip().splitlines()[0]
            operation: dict[str, Any] = {
                "operationId": route.endpoint.__name__,
                "summary": summary,
                "parameters": _path_parameters(path) + ([TENANT_PARAMETER] if path.startswith("/ngsi-ld") else []),
                "responses": {"2XX": {"description": "Succès / success"}, "4XX": PROBLEM_RESPONSE},
            }
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Territoires", "version": __version__, "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"}},
        "paths": paths,
        "components": {
            "schemas": {
                "ProblemDetails": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"type": "string", "format": "uri"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                }
            }
        },
    }


def endpoint(routes: Sequence[BaseRoute]) -> Callable[[Request], Any]:
    cached: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        """OpenAPI description of the platform's JSON APIs."""
        if "doc" not in cached:
            cached["doc"] = describe(routes)
        return json_response(cached["doc"])

    return openapi
