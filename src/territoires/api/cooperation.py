"""The observatory's cooperation API, under /api/observatoire/v1: the intentions of a territory,
partner proposals for pooling, and thematic working groups with their meetings, shared links
and members.

Thin: parse, call the services of ``observatoire.intentions``, ``partners`` and
``working_groups`` with the caller's principal (the gate has identified it; the services decide
who may write what), render. Reads are open to all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import (
    JSON,
    MERGE_PATCH,
    call,
    int_param,
    json_response,
    listed,
    no_content,
    page_params,
    read_json,
)
from territoires.auth.principal import Principal
from territoires.ngsild.errors import BadRequestData
from territoires.observatoire.intentions import IntentionService
from territoires.observatoire.partners import PartnerService
from territoires.observatoire.working_groups import WorkingGroupService

BASE = "/api/observatoire/v1"
GROUPS = f"{BASE}/working-groups"


def intentions(request: Request) -> IntentionService:
    return request.app.state.observatory.intentions


def partners(request: Request) -> PartnerService:
    return request.app.state.observatory.partners


def working_groups(request: Request) -> WorkingGroupService:
    return request.app.state.observatory.working_groups


def _principal(request: Request) -> Principal:
    return request.state.principal


def _territory(request: Request) -> str:
    return f"{request.path_params['kind']}:{request.path_params['code']}"


def _only(request: Request, *known: str) -> None:
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise BadRequestData(f"unknown parameter(s) {', '.join(unknown)}; expected {', '.join(known) or 'none'}")


# ---- intentions ---------------------------------------------------------------------------------
async def get_intentions(request: Request) -> Response:
    """The use cases a territory intends (an empty list when it declared none)."""
    intention = await call(request, intentions(request).get, _territory(request))
    return json_response(intention.as_json())


async def put_intentions(request: Request) -> Response:
    """Replace the use cases a territory intends: ``{"useCases": [...]}`` (its contributors, moderators)."""
    body = await read_json(request, allow=(JSON,))
    if not isinstance(body, dict) or set(body) != {"useCases"}:
        raise BadRequestData('the body is {"useCases": ["<use case code>", …]}')
    intention = await call(request, intentions(request).put, _principal(request), _territory(request),
                           body["useCases"])
    return json_response(intention.as_json())


async def delete_intentions(request: Request) -> Response:
    """Withdraw every intention of a territory."""
    await call(request, intentions(request).delete, _principal(request), _territory(request))
    return no_content()


# ---- partners -----------------------------------------------------------------------------------
async def get_partners(request: Request) -> Response:
    """Partner proposals for ``territory`` (kind:code) and ``useCase``, grouped and explained."""
    _only(request, "territory", "useCase", "limit")
    for name in ("territory", "useCase"):
        if not request.query_params.get(name):
            raise BadRequestData(f"{name} is required: /partners?territory=commune:21231&useCase=leak-detection "
                                 "(use case codes at GET /api/observatoire/v1/vocabularies)")
    proposals = await call(request, partners(request).propose, request.query_params["territory"],
                           request.query_params["useCase"], limit=int_param(request, "limit", 20, minimum=1))
    return json_response(proposals.as_json())


# ---- working groups -----------------------------------------------------------------------------
async def list_groups(request: Request) -> Response:
    """Working groups, paged (offset, limit; total in the Total-Count header), by use case or domain."""
    _only(request, "useCase", "domain", "offset", "limit")
    offset, limit = page_params(request)
    page = await call(request, working_groups(request).list, _principal(request),
                      use_case=request.query_params.get("useCase"), domain=request.query_params.get("domain"),
                      offset=offset, limit=limit)
    return listed(page.groups, page.total)


async def create_group(request: Request) -> Response:
    """Create a working group (contributors, moderators): its creator's territories animate it."""
    body = await read_json(request, allow=(JSON,))
    group = await call(request, working_groups(request).create, _principal(request), body)
    return json_response(group, status=201, headers={"Location": f"{GROUPS}/{_slug(group['id'])}"})


def _slug(group_id: str) -> str:
    return group_id.rsplit(":", 1)[-1]


async def get_group(request: Request) -> Response:
    group = await call(request, working_groups(request).get, _principal(request), request.path_params["id"])
    return json_response(group)


async def patch_group(request: Request) -> Response:
    """Change title, description, useCases or domains (animateurs)."""
    body = await read_json(request, allow=(JSON, MERGE_PATCH))
    group = await call(request, working_groups(request).update, _principal(request), request.path_params["id"], body)
    return json_response(group)


async def delete_group(request: Request) -> Response:
    await call(request, working_groups(request).delete, _principal(request), request.path_params["id"])
    return no_content()


def _adding(operation: str, summary: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint adding an item to a group: ``WorkingGroupService.<operation>(principal, group, body)``."""

    async def endpoint(request: Request) -> Response:
        body = await read_json(request, allow=(JSON,))
        group = await call(request, getattr(working_groups(request), operation), _principal(request),
                           request.path_params["id"], body)
        return json_response(group, status=201)

    endpoint.__name__, endpoint.__doc__ = operation, summary
    return endpoint


def _removing(operation: str, summary: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint removing an item of a group: ``WorkingGroupService.<operation>(principal, group, item)``."""

    async def endpoint(request: Request) -> Response:
        group = await call(request, getattr(working_groups(request), operation), _principal(request),
                           request.path_params["id"], request.path_params["item"])
        return json_response(group)

    endpoint.__name__, endpoint.__doc__ = operation, summary
    return endpoint


add_meeting = _adding("add_meeting", "Add a meeting: date (ISO 8601), title, place or link, minutes (animateurs).")
remove_meeting = _removing("remove_meeting", "Remove a meeting (animateurs).")
add_link = _adding("add_link", "Share a link: title, url (http or https) (animateurs).")
remove_link = _removing("remove_link", "Remove a shared link (animateurs).")
add_member = _adding("add_member", 'Add a member: ``{"member": "commune:21231" | "organisation:<SIREN>", "role", '
                                   '"name"}``; a contributor adds its own territory as a member (joins).')
remove_member = _removing("remove_member", "Remove a member (``kind:code`` or ``organisation:<SIREN>``); a "
                                           "contributor withdraws its territory.")


routes = [
    Route(f"{BASE}/intentions/{{kind}}/{{code}}", get_intentions, methods=["GET"]),
    Route(f"{BASE}/intentions/{{kind}}/{{code}}", put_intentions, methods=["PUT"]),
    Route(f"{BASE}/intentions/{{kind}}/{{code}}", delete_intentions, methods=["DELETE"]),
    Route(f"{BASE}/partners", get_partners, methods=["GET"]),
    Route(GROUPS, list_groups, methods=["GET"]),
    Route(GROUPS, create_group, methods=["POST"]),
    Route(f"{GROUPS}/{{id}}", get_group, methods=["GET"]),
    Route(f"{GROUPS}/{{id}}", patch_group, methods=["PATCH"]),
    Route(f"{GROUPS}/{{id}}", delete_group, methods=["DELETE"]),
    Route(f"{GROUPS}/{{id}}/meetings", add_meeting, methods=["POST"]),
    Route(f"{GROUPS}/{{id}}/meetings/{{item}}", remove_meeting, methods=["DELETE"]),
    Route(f"{GROUPS}/{{id}}/links", add_link, methods=["POST"]),
    Route(f"{GROUPS}/{{id}}/links/{{item}}", remove_link, methods=["DELETE"]),
    Route(f"{GROUPS}/{{id}}/members", add_member, methods=["POST"]),
    Route(f"{GROUPS}/{{id}}/members/{{item}}", remove_member, methods=["DELETE"]),
]
