"""NGSI-LD information about the broker itself: /info/sourceIdentity (clause 5.15)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import json_response, negotiate, tenant_of

BASE = "/ngsi-ld/v1"


async def source_identity(request: Request) -> Response:
    """Retrieve the Context Source identity information (ContextSourceIdentity)"""
    kind = negotiate(request)
    broker = request.app.state.broker
    tenant = tenant_of(request)
    identity = broker.identity.identity(tenant)
    return json_response(identity, ctx=broker.contexts.compile(tenant, None), kind=kind)


routes = [Route(f"{BASE}/info/sourceIdentity", source_identity, methods=["GET"])]
