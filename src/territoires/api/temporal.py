"""NGSI-LD temporal routes: /temporal/entities and /temporal/entityOperations/query (clauses 6.18 – 6.24).

Temporal pagination (clause 6.3.10): when a series has more instances than a page holds, the
answer is 206 Partial Content with ``Content-Range: date-time <start>-<end>/<size>``. Forwards
(without ``lastN``) the range starts at ``timeAt`` (or the first instance given) and ends at the
last instance given; backwards (with ``lastN``) it starts at the end of the asked range (or the
latest instance given) and ends at the earliest instance given, its size being ``lastN``
(``*`` forwards). The client asks for the rest from the range's end.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import (
    JSON,
    JSON_LD,
    PATCH_BODIES,
    body_context_value,
    bool_param,
    call,
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
from territoires.api.queries import RenderOptions, body_query, entity_query, render_options
from territoires.api.visibility import check_visible, visible_query
from territoires.broker import Broker
from territoires.ngsild import temporal
from territoires.ngsild.context import Context
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.ngsild.join import check_query_depth
from territoires.store.port import TemporalPage

BASE = "/ngsi-ld/v1"
# Query body members that are render options (the others are the query's, or temporalQ/aggrParams).
_BODY_RENDER_MEMBERS = ("attrs", "pick", "omit", "lang", "datasetId")


def _broker(request: Request) -> Broker:
    return request.app.state.broker


async def _body_and_context(request: Request, *, allow: tuple[str, ...] = (JSON, JSON_LD)) -> tuple[Any, Context]:
    body = await read_json(request, allow=allow)
    ctx = _broker(request).contexts.compile(tenant_of(request), body_context_value(request, body))
    return strip_context(body), ctx


def _link_context(request: Request) -> Context:
    return _broker(request).contexts.compile(tenant_of(request), link_context(request))


def _render_options(params: dict[str, Any], words: set[str], ctx: Context) -> RenderOptions:
    """sysAttrs, pick, omit, lang and datasetId, checked as the entity API checks them; the
    representation is the temporal one (``format`` and the other words are ours). It holds no
    linked entity: projecting one (``owner{name}``) is refused (clauses 5.7.3.4, 5.7.4.4)."""
    return render_options({k: v for k, v in params.items() if k != "format"}, words & {"sysAttrs"}, ctx,
                          linked=False)


def _render(
    page: TemporalPage, ctx: Context, params: temporal.TemporalParams, opts: RenderOptions
) -> list[dict[str, Any]]:
    rendered = (
        temporal.render_temporal_entity(
            entity, ctx, params, sys_attrs=opts.sys_attrs, pick=opts.pick, omit=opts.omit, lang=opts.lang,
            dataset_id=opts.dataset_id,
        )
        for entity in page.entities
    )
    return [item for item in rendered if item]  # an entity that pick, omit or datasetId empty is left out


def _content_range(page: TemporalPage, params: temporal.TemporalParams) -> dict[str, str]:
    if page.range is None:
        return {}
    first, last = page.range
    if params.last_n is None:
        start = params.time_at if params.timerel in ("after", "between") else first
        return {"Content-Range": f"date-time {start}-{last}/*"}
    start = {"between": params.end_time_at, "before": params.time_at}.get(params.timerel or "") or last
    return {"Content-Range": f"date-time {start}-{first}/{params.last_n}"}


def _respond(
    request: Request, page: TemporalPage, body: Any, ctx: Context, params: temporal.TemporalParams, kind: str,
    *, paged: bool,
) -> Response:
    headers = _content_range(page, params)
    if paged:
        if page.count is not None:
            headers["NGSILD-Results-Count"] = str(page.count)
        if page.next_cursor is not None:
            headers["Link"] = page_link(request, "next", kind, offset=None, after=page.next_cursor)
    return json_response(body, ctx=ctx, kind=kind, headers=headers, status=206 if page.range else 200)


# ---- reading (clauses 6.18.3.2, 6.19.3.1, 6.24.3.1) -------------------------------------------
async def query_temporal_entities(request: Request) -> Response:
    """Query the temporal evolution of entities."""
    kind = negotiate(request, (JSON, JSON_LD))
    ctx = _link_context(request)
    query = visible_query(request, entity_query(request, ctx))
    check_query_depth(query.q, None)  # no Linked Entity retrieval in the temporal API
    words = options(request)
    params = dict(request.query_params)
    temporal_params = temporal.parse_temporal_params(params, words)
    opts = _render_options(params, words, ctx)
    page = await call(request, _broker(request).temporal.query, tenant_of(request), query, query.attrs, temporal_params,
                      datasets=opts.dataset_id)
    return _respond(request, page, _render(page, ctx, temporal_params, opts), ctx, temporal_params, kind, paged=True)


async def query_temporal_entities_post(request: Request) -> Response:
    """Query the temporal evolution of entities with a Query body."""
    kind = negotiate(request, (JSON, JSON_LD))
    body, ctx = await _body_and_context(request)
    if not isinstance(body, dict):
        raise BadRequestData('the body must be a Query: an object with "type": "Query"')
    query = visible_query(request, body_query(body, request, ctx, temporal=True))
    check_query_depth(query.q, None)
    words = options(request)
    temporal_params = temporal.parse_temporal_body(
        body.get("temporalQ"), body.get("aggrParams"), request.query_params.get("format"), words
    )
    given = {k: body[k] for k in _BODY_RENDER_MEMBERS if k in body}
    opts = _render_options({**dict(request.query_params), **given}, words, ctx)
    page = await call(request, _broker(request).temporal.query, tenant_of(request), query, query.attrs, temporal_params,
                      datasets=opts.dataset_id)
    return _respond(request, page, _render(page, ctx, temporal_params, opts), ctx, temporal_params, kind, paged=True)


async def retrieve_temporal_entity(request: Request) -> Response:
    """Retrieve the temporal evolution of an entity."""
    kind = negotiate(request, (JSON, JSON_LD))
    ctx = _link_context(request)
    words = options(request)
    params = dict(request.query_params)
    temporal_params = temporal.parse_temporal_params(params, words)
    opts = _render_options(params, words, ctx)
    page = await call(
        request, _broker(request).temporal.retrieve, tenant_of(request), request.path_params["entity_id"],
        tuple(sorted(opts.attrs or ())), temporal_params, datasets=opts.dataset_id,
    )
    for entity in page.entities:
        check_visible(request, entity.id, entity.types)
    rendered = _render(page, ctx, temporal_params, opts)
    if not rendered:
        raise ResourceNotFound("pick, omit or datasetId leave nothing of this entity to return")
    return _respond(request, page, rendered[0], ctx, temporal_params, kind, paged=False)


# ---- provision (clauses 6.18.3.1, 6.19.3.2, 6.20 – 6.22) ---------------------------------------
async def create_or_update_temporal_entity(request: Request) -> Response:
    """Create or update the temporal evolution of an entity."""
    body, ctx = await _body_and_context(request)
    entity_id, created = await call(request, _broker(request).temporal.provide, tenant_of(request), body, ctx)
    if created:
        return Response(status_code=201, headers={"Location": f"{BASE}/temporal/entities/{quote(entity_id, safe=':')}"})
    return no_content()


async def delete_temporal_entity(request: Request) -> Response:
    """Delete the temporal evolution of an entity (and the entity)."""
    await call(request, _broker(request).temporal.delete, tenant_of(request), request.path_params["entity_id"])
    return no_content()


async def add_temporal_attributes(request: Request) -> Response:
    """Add attribute instances to the temporal evolution of an entity."""
    body, ctx = await _body_and_context(request)
    await call(
        request, _broker(request).temporal.add_attributes, tenant_of(request), request.path_params["entity_id"],
        body, ctx,
    )
    return no_content()


async def delete_temporal_attribute(request: Request) -> Response:
    """Delete an attribute from the temporal evolution of an entity."""
    await call(
        request, _broker(request).temporal.delete_attribute, tenant_of(request), request.path_params["entity_id"],
        request.path_params["attr"], _link_context(request),
        dataset_id=request.query_params.get("datasetId"), delete_all=bool_param(request, "deleteAll"),
    )
    return no_content()


async def modify_temporal_instance(request: Request) -> Response:
    """Modify an attribute instance of the temporal evolution of an entity."""
    body, ctx = await _body_and_context(request, allow=PATCH_BODIES)
    path = request.path_params
    await call(
        request, _broker(request).temporal.modify_instance, tenant_of(request), path["entity_id"], path["attr"],
        path["instance_id"], body, ctx,
    )
    return no_content()


async def delete_temporal_instance(request: Request) -> Response:
    """Delete an attribute instance from the temporal evolution of an entity."""
    path = request.path_params
    await call(
        request, _broker(request).temporal.delete_instance, tenant_of(request), path["entity_id"], path["attr"],
        path["instance_id"], _link_context(request),
    )
    return no_content()


_ENTITY = f"{BASE}/temporal/entities/{{entity_id}}"
routes = [
    Route(f"{BASE}/temporal/entities", query_temporal_entities, methods=["GET"]),
    Route(f"{BASE}/temporal/entities", create_or_update_temporal_entity, methods=["POST"]),
    Route(_ENTITY, retrieve_temporal_entity, methods=["GET"]),
    Route(_ENTITY, delete_temporal_entity, methods=["DELETE"]),
    Route(f"{_ENTITY}/attrs", add_temporal_attributes, methods=["POST"]),
    Route(f"{_ENTITY}/attrs/{{attr}}", delete_temporal_attribute, methods=["DELETE"]),
    Route(f"{_ENTITY}/attrs/{{attr}}/{{instance_id}}", modify_temporal_instance, methods=["PATCH"]),
    Route(f"{_ENTITY}/attrs/{{attr}}/{{instance_id}}", delete_temporal_instance, methods=["DELETE"]),
    Route(f"{BASE}/temporal/entityOperations/query", query_temporal_entities_post, methods=["POST"]),
]
