"""The /jsonldContexts routes: store, list, serve and delete @contexts (clause 6.29 – 6.30)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import JSON, JSON_LD, bool_param, json_response, negotiate, no_content, read_json, tenant_of
from territoires.store.port import StoredContext

BASE = "/ngsi-ld/v1/jsonldContexts"


def _url(request: Request, stored: StoredContext) -> str:
    if stored.kind in ("Hosted", "ImplicitlyCreated"):  # served by this broker (clause 5.13)
        return str(request.base_url).rstrip("/") + f"{BASE}/{stored.id}"
    return stored.id


def _info(request: Request, stored: StoredContext) -> dict[str, Any]:
    """ContextSourceInfo-like description of a stored context (clause 5.2.39)."""
    info: dict[str, Any] = {
        "URL": _url(request, stored),
        "localId": stored.id,
        "kind": stored.kind,
        "createdAt": stored.created_at,
    }
    if stored.kind != "Hosted":
        info["lastUsage"] = stored.last_usage
        info["numberOfHits"] = stored.number_of_hits
    return info


async def add_context(request: Request) -> Response:
    body = await read_json(request, allow=(JSON, JSON_LD))
    stored = request.app.state.broker.contexts.add(tenant_of(request), body)
    return Response(status_code=201, headers={"Location": f"{BASE}/{stored.id}"})


async def list_contexts(request: Request) -> Response:
    negotiate(request, (JSON,))
    stored = request.app.state.broker.contexts.list(tenant_of(request), request.query_params.get("kind"))
    if bool_param(request, "details"):
        return json_response([_info(request, s) for s in stored])
    return json_response([_url(request, s) for s in stored])


async def serve_context(request: Request) -> Response:
    kind = negotiate(request, (JSON, JSON_LD))
    stored = request.app.state.broker.contexts.get(tenant_of(request), request.path_params["context_id"])
    if bool_param(request, "details"):
        return json_response(_info(request, stored))
    return json_response(stored.body, kind=kind)


async def delete_context(request: Request) -> Response:
    request.app.state.broker.contexts.delete(
        tenant_of(request), request.path_params["context_id"], reload=bool_param(request, "reload")
    )
    return no_content()


routes = [
    Route(BASE, add_context, methods=["POST"]),
    Route(BASE, list_contexts, methods=["GET"]),
    Route(BASE + "/{context_id:path}", serve_context, methods=["GET"]),
    Route(BASE + "/{context_id:path}", delete_context, methods=["DELETE"]),
]
