"""Administration routes /admin/v1: tenants (created and deleted at run time), and their dead
letters (``api/dead_letters.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api import dead_letters
from territoires.api.http import json_response, no_content, read_json
from territoires.ngsild.errors import BadRequestData

BASE = "/admin/v1"


async def list_tenants(request: Request) -> Response:
    return json_response([{"name": name} for name in request.app.state.broker.tenants.list()])


async def create_tenant(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict) or "name" not in body:
        raise BadRequestData('give the tenant as {"name": "…"}')
    name = request.app.state.broker.tenants.create(body["name"])
    return json_response({"name": name}, status=201, headers={"Location": f"{BASE}/tenants/{name}"})


async def delete_tenant(request: Request) -> Response:
    request.app.state.broker.tenants.delete(request.path_params["name"])
    return no_content()


routes = [
    Route(f"{BASE}/tenants", list_tenants, methods=["GET"]),
    Route(f"{BASE}/tenants", create_tenant, methods=["POST"]),
    Route(f"{BASE}/tenants/{{name}}", delete_tenant, methods=["DELETE"]),
    *dead_letters.routes,
]
