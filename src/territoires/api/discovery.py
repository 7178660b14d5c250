"""NGSI-LD discovery routes: /types and /attributes (clauses 6.25 – 6.28)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import bool_param, json_response, link_context, negotiate, tenant_of

BASE = "/ngsi-ld/v1"


def _setup(request: Request):
    kind = negotiate(request)
    broker = request.app.state.broker
    tenant = tenant_of(request)
    return kind, broker.discovery, tenant, broker.contexts.compile(tenant, link_context(request))


async def types(request: Request) -> Response:
    kind, discovery, tenant, ctx = _setup(request)
    if bool_param(request, "details"):
        return json_response(discovery.type_details(tenant, ctx), ctx=ctx, kind=kind)
    return json_response(discovery.type_list(tenant, ctx), ctx=ctx, kind=kind)


async def type_info(request: Request) -> Response:
    if not request.path_params["type"]:  # "/types/" is the list
        return await types(request)
    kind, discovery, tenant, ctx = _setup(request)
    return json_response(discovery.type_info(tenant, request.path_params["type"], ctx), ctx=ctx, kind=kind)


async def attributes(request: Request) -> Response:
    kind, discovery, tenant, ctx = _setup(request)
    if bool_param(request, "details"):
        return json_response(discovery.attribute_details(tenant, ctx), ctx=ctx, kind=kind)
    return json_response(discovery.attribute_list(tenant, ctx), ctx=ctx, kind=kind)


async def attribute_info(request: Request) -> Response:
    if not request.path_params["attr"]:  # "/attributes/" is the list
        return await attributes(request)
    kind, discovery, tenant, ctx = _setup(request)
    return json_response(discovery.attribute_info(tenant, request.path_params["attr"], ctx), ctx=ctx, kind=kind)


routes = [
    Route(f"{BASE}/types", types, methods=["GET"]),
    Route(f"{BASE}/types/{{type:path}}", type_info, methods=["GET"]),
    Route(f"{BASE}/attributes", attributes, methods=["GET"]),
    Route(f"{BASE}/attributes/{{attr:path}}", attribute_info, methods=["GET"]),
]
