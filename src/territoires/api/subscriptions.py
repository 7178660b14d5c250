"""NGSI-LD subscription routes: /subscriptions (clauses 6.10 and 6.11 of ETSI GS CIM 009)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires import clock
from territoires.api.http import (
    JSON,
    JSON_LD,
    PATCH_BODIES,
    body_context_value,
    bool_param,
    call,
    int_param,
    json_response,
    link_context,
    negotiate,
    no_content,
    options,
    page_link,
    read_json,
    strip_context,
    tenant_of,
)
from territoires.broker import Broker
from territoires.ngsild.context import Context
from territoires.ngsild.errors import BadRequestData, InvalidRequest, TooManyResults
from territoires.ngsild.subscription import Subscription, render_subscription

BASE = "/ngsi-ld/v1/subscriptions"
KNOWN_OPTIONS = {"sysAttrs"}


def _broker(request: Request) -> Broker:
    return request.app.state.broker


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _body_and_context(request: Request, *, allow: tuple[str, ...]) -> tuple[dict[str, Any], Context]:
    body = await read_json(request, allow=allow)
    if not isinstance(body, dict):
        raise BadRequestData("a subscription (or a fragment of one) is a JSON object")
    ctx = _broker(request).contexts.compile(tenant_of(request), body_context_value(request, body))
    return strip_context(body), ctx


def _sys_attrs(request: Request) -> bool:
    words = options(request)
    unknown = words - KNOWN_OPTIONS
    if unknown:
        raise InvalidRequest(f"unknown option(s) {', '.join(sorted(unknown))}; subscriptions know: sysAttrs")
    return "sysAttrs" in words


def _render(found: Subscription, delivery: dict[str, Any], ctx: Context, sys_attrs: bool) -> dict[str, Any]:
    return render_subscription(found, ctx, now=clock.now(), sys_attrs=sys_attrs, delivery=delivery)


async def create_subscription(request: Request) -> Response:
    body, ctx = await _body_and_context(request, allow=(JSON, JSON_LD))
    subscription_id = await call(request, _broker(request).subscriptions.create, tenant_of(request), body, ctx,
                                 base_url=_base_url(request))
    return Response(status_code=201, headers={"Location": f"{BASE}/{quote(subscription_id, safe=':')}"})


async def query_subscriptions(request: Request) -> Response:
    kind = negotiate(request, (JSON, JSON_LD))
    ctx = _broker(request).contexts.compile(tenant_of(request), link_context(request))
    sys_attrs = _sys_attrs(request)
    limit = int_param(request, "limit", 20)
    offset = int_param(request, "offset", 0)
    count = bool_param(request, "count")
    max_page = request.app.state.settings.max_page_size
    if limit > max_page:
        raise TooManyResults(f"limit {limit} is above this server's maximum page size {max_page}")
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only meaningful with count=true")
    page, total = await call(request, _broker(request).subscriptions.query, tenant_of(request),
                             offset=offset, limit=limit)
    headers: dict[str, str] = {}
    if count:
        headers["NGSILD-Results-Count"] = str(total)
    links = _page_links(request, offset, limit, total, kind)
    if links:
        headers["Link"] = links
    items = [_render(found, delivery, ctx, sys_attrs) for found, delivery in page]
    return json_response(items, ctx=ctx, kind=kind, headers=headers)


def _page_links(request: Request, offset: int, limit: int, total: int, kind: str) -> str:
    """The previous and next pages as Link headers (clause 6.3.13), when there are such pages."""
    if limit == 0:
        return ""
    links = []
    if offset > 0:
        links.append(page_link(request, "prev", kind, limit=limit, offset=max(offset - limit, 0)))
    if offset + limit < total:
        links.append(page_link(request, "next", kind, limit=limit, offset=offset + limit))
    return ",".join(links)


async def retrieve_subscription(request: Request) -> Response:
    kind = negotiate(request, (JSON, JSON_LD))
    ctx = _broker(request).contexts.compile(tenant_of(request), link_context(request))
    sys_attrs = _sys_attrs(request)
    found, delivery = await call(request, _broker(request).subscriptions.retrieve, tenant_of(request),
                                 request.path_params["subscription_id"])
    return json_response(_render(found, delivery, ctx, sys_attrs), ctx=ctx, kind=kind)


async def update_subscription(request: Request) -> Response:
    body, ctx = await _body_and_context(request, allow=PATCH_BODIES)
    await call(request, _broker(request).subscriptions.update, tenant_of(request),
               request.path_params["subscription_id"], body, ctx, base_url=_base_url(request))
    return no_content()


async def delete_subscription(request: Request) -> Response:
    await call(request, _broker(request).subscriptions.delete, tenant_of(request),
               request.path_params["subscription_id"])
    return no_content()


routes = [
    Route(BASE, create_subscription, methods=["POST"]),
    Route(BASE, query_subscriptions, methods=["GET"]),
    Route(f"{BASE}/{{subscription_id}}", retrieve_subscription, methods=["GET"]),
    Route(f"{BASE}/{{subscription_id}}", update_subscription, methods=["PATCH"]),
    Route(f"{BASE}/{{subscription_id}}", delete_subscription, methods=["DELETE"]),
]
