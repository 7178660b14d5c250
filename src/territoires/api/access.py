"""Administration routes of access control: API keys, members (people's roles) and public types.

- ``/admin/v1/tenants/{name}/keys`` and ``…/keys/{id}``: a tenant's keys (DELETE revokes: the
  record stays, listed with its ``revokedAt``); ``/admin/v1/keys``: every key, and the keys of
  operators and national roles (no tenant).
- ``/admin/v1/tenants/{name}/members`` and ``…/members/{id}``: roles given to people.
- ``/admin/v1/tenants/{name}/public-types``: the entity types anyone may read.

``{name}`` is a tenant's name, ``_default`` for the default tenant. The enforcement point has
already checked the caller's right (see ``auth/policy.py``); these handlers only keep a key or a
member of another tenant out of a tenant's paths. Lists page with ``offset`` and ``limit`` and
give the total in the ``Total-Count`` header.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import (
    body_context_value,
    call,
    json_response,
    link_context,
    listed,
    no_content,
    page_params,
    read_json,
)
from territoires.auth.grants import require_tenant, segment_of, tenant_named
from territoires.auth.keys import KeyService, key_json
from territoires.auth.members import MemberService, member_json
from territoires.auth.public_types import PublicTypes, expanded_types, public_types_json
from territoires.ngsild.errors import BadRequestData

BASE = "/admin/v1"
_KEY_FIELDS = {"role", "name", "expiresAt", "scope"}
_MEMBER_FIELDS = {"role", "email", "subject", "issuer", "scope"}


def _keys(request: Request) -> KeyService:
    # The application holds one of each access service, shared with the enforcement point, so
    # that a revocation here is seen at once by the cache it verifies keys from.
    return request.app.state.keys


def _members(request: Request) -> MemberService:
    return request.app.state.members


def _public(request: Request) -> PublicTypes:
    return request.app.state.public_types


def _tenant(request: Request) -> str:
    return tenant_named(request.path_params["name"])


def _fields(body: Any, allowed: set[str], example: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData(f"give a JSON object, e.g. {example}")
    extra = sorted(set(body) - allowed)
    if extra:
        raise BadRequestData(f"unknown member {extra[0]!r}: give only {', '.join(sorted(allowed))}")
    return body


# ---- API keys ---------------------------------------------------------------------------------
async def _list_keys(request: Request, tenant: str | None) -> Response:
    offset, limit = page_params(request)
    keys = _keys(request)
    if tenant is not None:
        await call(request, require_tenant, keys.store, tenant)
    found, count = await call(request, keys.list, tenant, offset=offset, limit=limit)
    return listed([key_json(key) for key in found], count)


async def _create_key(request: Request, tenant: str | None, where: str) -> Response:
    body = _fields(await read_json(request), _KEY_FIELDS, '{"role": "editor", "name": "SIG export"}')
    if "role" not in body:
        raise BadRequestData('give the role of the key, e.g. {"role": "reader"}')
    key, token = await call(request, _keys(request).create, tenant, body["role"], body.get("name", ""),
                            body.get("expiresAt"), scope=body.get("scope", ""))
    return json_response({**key_json(key), "token": token}, status=201, headers={"Location": f"{where}/{key.id}"})


async def list_tenant_keys(request: Request) -> Response:
    return await _list_keys(request, _tenant(request))


async def create_tenant_key(request: Request) -> Response:
    tenant = _tenant(request)
    return await _create_key(request, tenant, f"{BASE}/tenants/{segment_of(tenant)}/keys")


async def get_tenant_key(request: Request) -> Response:
    keys = _keys(request)
    key = await call(request, keys.get, request.path_params["id"], within=_tenant(request))
    return json_response(key_json(key))


async def revoke_tenant_key(request: Request) -> Response:
    keys = _keys(request)
    await call(request, keys.revoke, request.path_params["id"], within=_tenant(request))
    return no_content()


async def list_keys(request: Request) -> Response:
    tenant = request.query_params.get("tenant")
    return await _list_keys(request, None if tenant is None else tenant_named(tenant))


async def create_platform_key(request: Request) -> Response:
    return await _create_key(request, None, f"{BASE}/keys")


async def revoke_key(request: Request) -> Response:
    await call(request, _keys(request).revoke, request.path_params["id"])
    return no_content()


# ---- members ----------------------------------------------------------------------------------
async def list_members(request: Request) -> Response:
    offset, limit = page_params(request)
    tenant, members = _tenant(request), _members(request)
    await call(request, require_tenant, members.store, tenant)
    found, count = await call(request, members.list, tenant, offset=offset, limit=limit)
    return listed([member_json(member) for member in found], count)


async def add_member(request: Request) -> Response:
    body = _fields(await read_json(request), _MEMBER_FIELDS, '{"role": "editor", "email": "agent@mairie.fr"}')
    if "role" not in body:
        raise BadRequestData('give the role of the person, e.g. {"role": "reader", "email": "agent@mairie.fr"}')
    tenant = _tenant(request)
    member = await call(request, _members(request).add, tenant, body["role"], email=body.get("email", ""),
                        subject=body.get("subject", ""), issuer=body.get("issuer", ""), scope=body.get("scope", ""))
    return json_response(member_json(member), status=201,
                         headers={"Location": f"{BASE}/tenants/{segment_of(tenant)}/members/{member.id}"})


async def remove_member(request: Request) -> Response:
    await call(request, _members(request).remove, request.path_params["id"], within=_tenant(request))
    return no_content()


# ---- public types -----------------------------------------------------------------------------
async def get_public_types(request: Request) -> Response:
    tenant, public = _tenant(request), _public(request)
    ctx = request.app.state.broker.contexts.compile(tenant, link_context(request))
    return json_response(public_types_json(await call(request, public.read, tenant), ctx))


async def put_public_types(request: Request) -> Response:
    tenant, public = _tenant(request), _public(request)
    body = await read_json(request)
    ctx = await call(request, request.app.state.broker.contexts.compile, tenant, body_context_value(request, body))
    types = await call(request, public.replace, tenant, expanded_types(body, ctx))
    return json_response(public_types_json(types, ctx))


TENANT = f"{BASE}/tenants/{{name}}"
routes = [
    Route(f"{TENANT}/keys", list_tenant_keys, methods=["GET"]),
    Route(f"{TENANT}/keys", create_tenant_key, methods=["POST"]),
    Route(f"{TENANT}/keys/{{id}}", get_tenant_key, methods=["GET"]),
    Route(f"{TENANT}/keys/{{id}}", revoke_tenant_key, methods=["DELETE"]),
    Route(f"{BASE}/keys", list_keys, methods=["GET"]),
    Route(f"{BASE}/keys", create_platform_key, methods=["POST"]),
    Route(f"{BASE}/keys/{{id}}", revoke_key, methods=["DELETE"]),
    Route(f"{TENANT}/members", list_members, methods=["GET"]),
    Route(f"{TENANT}/members", add_member, methods=["POST"]),
    Route(f"{TENANT}/members/{{id}}", remove_member, methods=["DELETE"]),
    Route(f"{TENANT}/public-types", get_public_types, methods=["GET"]),
    Route(f"{TENANT}/public-types", put_public_types, methods=["PUT"]),
]
