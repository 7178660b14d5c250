"""Administration of a tenant's quotas: /admin/v1/tenants/{name}/quotas.

GET answers the tenant's own quotas (null where the platform default applies), the quotas that
apply (``effective``; 0: unlimited) and its usage now (entities stored, requests and uplinks of
the current minute since ``since``). PUT sets its own quotas (a member absent or null: back to
the default) and answers the same.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import call, json_response, read_json
from territoires.auth.quotas import Quotas
from territoires.broker.tenants import validate_tenant_name

BASE = "/admin/v1"


def quotas_of(app: Starlette) -> Quotas:
    """The process's quota keeper: the one the enforcement point charges, so that a change
    applies at once (``app.py`` makes it)."""
    return app.state.quotas


async def get_quotas(request: Request) -> Response:
    tenant = validate_tenant_name(request.path_params["name"])
    return json_response(await call(request, quotas_of(request.app).report, tenant))


async def put_quotas(request: Request) -> Response:
    tenant = validate_tenant_name(request.path_params["name"])
    body = await read_json(request)
    return json_response(await call(request, quotas_of(request.app).configure, tenant, body))


routes = [
    Route(f"{BASE}/tenants/{{name}}/quotas", get_quotas, methods=["GET"]),
    Route(f"{BASE}/tenants/{{name}}/quotas", put_quotas, methods=["PUT"]),
]
