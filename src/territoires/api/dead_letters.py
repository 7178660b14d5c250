"""Administration routes of a tenant's dead letters (notifications given up after their last
attempt): /admin/v1/tenants/{name}/dead-letters lists them (oldest first, ``subscription``
filter, ``offset``/``limit`` paging, ``Total-Count``); ``…/revive`` sends them again and
``…/drop`` deletes them, both with the body ``{"subscription": "<id>"}``, ``{"seqs": [..]}``
or ``{}`` (all). ``{name}`` is the tenant's name, ``_default`` for the default tenant."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import call, json_response, listed, page_params, read_json
from territoires.auth.grants import tenant_named
from territoires.broker.dead_letters import DeadLetterService, choice_of, dead_letter_json

BASE = "/admin/v1/tenants/{name}/dead-letters"


def _service(request: Request) -> DeadLetterService:
    return DeadLetterService(request.app.state.broker.store)


async def list_dead_letters(request: Request) -> Response:
    """The tenant's dead letters, oldest first: a page (offset, limit) and its Total-Count."""
    tenant = tenant_named(request.path_params["name"])
    offset, limit = page_params(request)
    found, count = await call(request, _service(request).list, tenant, request.query_params.get("subscription"),
                              offset=offset, limit=limit)
    return listed([dead_letter_json(entry) for entry in found], count)


async def revive_dead_letters(request: Request) -> Response:
    """Send dead letters again, with their notification ids, in their subscriptions' order."""
    tenant = tenant_named(request.path_params["name"])
    choice = choice_of(await read_json(request))
    return json_response({"revived": await call(request, _service(request).revive, tenant, choice)})


async def drop_dead_letters(request: Request) -> Response:
    """Delete dead letters for good."""
    tenant = tenant_named(request.path_params["name"])
    choice = choice_of(await read_json(request))
    return json_response({"dropped": await call(request, _service(request).drop, tenant, choice)})


routes = [
    Route(BASE, list_dead_letters, methods=["GET"]),
    Route(f"{BASE}/revive", revive_dead_letters, methods=["POST"]),
    Route(f"{BASE}/drop", drop_dead_letters, methods=["POST"]),
]
