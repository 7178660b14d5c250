"""NGSI-LD entity routes: /entities, /entities/{id}/attrs, /entityOperations (clauses 6.4 – 6.7, 6.14 – 6.23)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import (
    GEO_JSON,
    JSON,
    JSON_LD,
    PATCH_BODIES,
    body_context,
    body_context_value,
    bool_param,
    call,
    context_in_body,
    int_param,
    json_response,
    link_context,
    media_type,
    negotiate,
    no_content,
    options,
    page_link,
    read_json,
    strip_context,
    tenant_of,
)
from territoires.api.queries import (
    RenderOptions,
    body_query,
    entity_query,
    join_options,
    render_options,
    request_render_options,
)
from territoires.api.visibility import check_visible, refuse_links, visible_query
from territoires.broker import Broker
from territoires.broker.entities import BatchResult
from territoires.ngsild import geo
from territoires.ngsild.context import Context
from territoires.ngsild.errors import BadRequestData, InvalidRequest, NgsiLdError, ResourceNotFound
from territoires.ngsild.join import Join, check_query_depth, render_linked
from territoires.ngsild.model import Entity
from territoires.ngsild.query import parse_attr_list
from territoires.ngsild.render import render_entity
from territoires.store.port import QueryPage

BASE = "/ngsi-ld/v1"


def _broker(request: Request) -> Broker:
    return request.app.state.broker


async def _body_and_context(request: Request, *, allow: tuple[str, ...] = (JSON, JSON_LD)) -> tuple[Any, Context]:
    body = await read_json(request, allow=allow)
    ctx = _broker(request).contexts.compile(tenant_of(request), body_context_value(request, body))
    return body, ctx


def _get_context(request: Request) -> Context:
    return _broker(request).contexts.compile(tenant_of(request), link_context(request))


def _type_selector(request: Request, ctx: Context) -> str | None:
    """The type an operation on one entity is restricted to (``?type=``, expanded), if any."""
    name = request.query_params.get("type")
    if name is None:
        return None
    if not name or any(mark in name for mark in ",;|()"):
        raise BadRequestData(f"type: {name!r} must name one entity type "
                             "(an operation on one entity takes no type expression)")
    return ctx.expand(name)


def _render(entity: Entity, ctx: Context, opts: RenderOptions, kind: str) -> dict[str, Any]:
    rendered = render_entity(entity, ctx, **opts.as_kwargs())
    return geo.to_feature(rendered, opts.geometry_property) if kind == GEO_JSON else rendered


async def _render_linked(
    request: Request, entities: list[Entity], ctx: Context, opts: RenderOptions, kind: str, linked: Join
) -> list[dict[str, Any]]:
    """The entities with their linked entities (clause 4.5.23), fetched in one store session."""
    items = await call(request, _broker(request).entities.with_linked,
        tenant_of(request),
        lambda fetch: render_linked(
            entities, ctx, fetch, linked, form=opts.form, sys_attrs=opts.sys_attrs, attrs=opts.attrs,
            lang=opts.lang, dataset_id=opts.dataset_id,
        ),
    )
    return [geo.to_feature(item, opts.geometry_property) for item in items] if kind == GEO_JSON else items


# ---- /entities -------------------------------------------------------------------------------
async def create_entity(request: Request) -> Response:
    body, ctx = await _body_and_context(request)
    if not isinstance(body, dict):
        raise InvalidRequest("an entity to create is a JSON object")
    entity_id = await _broker(request).entities.create_async(tenant_of(request), strip_context(body), ctx)
    return Response(status_code=201, headers={"Location": f"{BASE}/entities/{quote(entity_id, safe=':')}"})


async def query_entities(request: Request) -> Response:
    kind = negotiate(request, (JSON, JSON_LD, GEO_JSON))
    ctx = _get_context(request)
    query = visible_query(request, entity_query(request, ctx))
    opts = request_render_options(request, ctx)
    if query.attrs and opts.attrs is None:
        opts = RenderOptions(**{**opts.__dict__, "attrs": frozenset(query.attrs)})
    linked = join_options(dict(request.query_params), ctx)
    check_query_depth(query.q, linked)
    page = await call(request, _broker(request).entities.query, tenant_of(request), query)
    return await _page_response(request, page, ctx, opts, kind, linked)


async def _page_response(
    request: Request, page: QueryPage, ctx: Context, opts: RenderOptions, kind: str, linked: Join | None = None
) -> Response:
    if linked is not None:
        refuse_links(request)
        items = await _render_linked(request, page.entities, ctx, opts, kind, linked)
    else:
        # An entity that pick/omit leave empty is not part of the answer.
        items = [item for item in (_render(entity, ctx, opts, kind) for entity in page.entities) if item]
    headers: dict[str, str] = {}
    if page.count is not None:
        headers["NGSILD-Results-Count"] = str(page.count)
    links = _page_links(request, page, kind)
    if links:
        headers["Link"] = links
    if kind == GEO_JSON:
        return _feature_collection(request, items, ctx, headers)
    return json_response(items, ctx=ctx, kind=kind, headers=headers)


def _feature_collection(request: Request, features: list[dict[str, Any]], ctx: Context,
                        headers: dict[str, str] | None = None) -> Response:
    """GeoJSON Features as a FeatureCollection. Each Feature carries the @context too, so that
    it still reads alone (clause 6.3.15), unless the @context goes in the Link header."""
    in_body = context_in_body(request, GEO_JSON)
    if in_body:
        features = [{**feature, "@context": body_context(ctx)} for feature in features]
    return json_response(geo.to_feature_collection(features), ctx=ctx, kind=GEO_JSON, headers=headers,
                         context_in_body=in_body)


def _page_links(request: Request, page: QueryPage, kind: str) -> str:
    """Links to the neighbouring pages (clauses 4.12 and 6.3.13). The next page starts from the
    cursor the store gave (stable while entities come and go), or for an ordered query (which
    has none) at the next offset, when this page is full and the count does not rule it out;
    the previous page of a page reached by offset is at the previous offset."""
    offset, limit = int_param(request, "offset", 0), int_param(request, "limit", 20)
    by_offset = "after" not in request.query_params
    links = []
    if offset > 0 and limit > 0 and by_offset:
        links.append(page_link(request, "prev", kind, offset=max(offset - limit, 0)))
    if by_offset and page.count is not None and offset + limit >= page.count:  # the count says it is the last
        return ",".join(links)
    if page.next_cursor is not None:
        links.append(page_link(request, "next", kind, offset=None, after=page.next_cursor))
    elif limit > 0 and len(page.entities) == limit and "orderBy" in request.query_params:
        links.append(page_link(request, "next", kind, offset=offset + limit))
    return ",".join(links)


async def purge_entities(request: Request) -> Response:
    ctx = _get_context(request)
    query = entity_query(request, ctx, purge=True)
    params = request.query_params
    keep = frozenset(parse_attr_list(params["keep"], ctx.expand, param="keep")) if "keep" in params else None
    drop = frozenset(parse_attr_list(params["drop"], ctx.expand, param="drop")) if "drop" in params else None
    await call(request, _broker(request).entities.purge, tenant_of(request), query, keep=keep, drop=drop,
               local=bool_param(request, "local"))
    return no_content()


async def retrieve_entity(request: Request) -> Response:
    kind = negotiate(request, (JSON, JSON_LD, GEO_JSON))
    ctx = _get_context(request)
    opts = request_render_options(request, ctx)
    linked = join_options(dict(request.query_params), ctx)
    entity = await call(request, _broker(request).entities.retrieve, tenant_of(request), request.path_params["entity_id"],
                        attrs=opts.attrs, entity_type=_type_selector(request, ctx))
    check_visible(request, entity["id"], entity["type"])
    if linked is not None:
        refuse_links(request)
        return await _retrieved_with_links(request, entity, ctx, opts, kind, linked)
    rendered = _render(entity, ctx, opts, kind)
    if not rendered:
        raise ResourceNotFound("pick and omit leave nothing of this entity to return")
    return json_response(rendered, ctx=ctx, kind=kind, context_in_body=context_in_body(request, kind))


async def _retrieved_with_links(
    request: Request, entity: Entity, ctx: Context, opts: RenderOptions, kind: str, linked: Join
) -> Response:
    """One entity with its linked entities: inline, the entity; flat, an array of the entity and
    the entities it links to, or the entity alone when none of them is stored (clause 4.5.23)."""
    items = await _render_linked(request, [entity], ctx, opts, kind, linked)
    if not items[0]:
        raise ResourceNotFound("pick and omit leave nothing of this entity to return")
    if len(items) == 1:
        return json_response(items[0], ctx=ctx, kind=kind, context_in_body=context_in_body(request, kind))
    if kind == GEO_JSON:
        return _feature_collection(request, items, ctx)
    return json_response(items, ctx=ctx, kind=kind)


async def delete_entity(request: Request) -> Response:
    await call(request, _broker(request).entities.delete, tenant_of(request), request.path_params["entity_id"],
               entity_type=_type_selector(request, _get_context(request)))
    return no_content()


async def replace_entity(request: Request) -> Response:
    body, ctx = await _body_and_context(request)
    await call(request, _broker(request).entities.replace, tenant_of(request), request.path_params["entity_id"],
               strip_context(body), ctx, entity_type=_type_selector(request, ctx))
    return no_content()


async def merge_entity(request: Request) -> Response:
    body, ctx = await _body_and_context(request, allow=PATCH_BODIES)
    await call(request, _broker(request).entities.merge, tenant_of(request), request.path_params["entity_id"],
               strip_context(body), ctx, entity_type=_type_selector(request, ctx))
    return no_content()


# ---- /entities/{id}/attrs --------------------------------------------------------------------
def _update_response(result: dict[str, Any]) -> Response:
    """204, or 207 with the UpdateResult (expanded names, as the conformance suite reads them)."""
    if result.get("notUpdated"):
        return json_response(result, status=207)
    return no_content()


async def append_attributes(request: Request) -> Response:
    body, ctx = await _body_and_context(request)
    result = await call(request, _broker(request).entities.append_attributes,
        tenant_of(request), request.path_params["entity_id"], strip_context(body), ctx,
        no_overwrite="noOverwrite" in options(request), entity_type=_type_selector(request, ctx),
    )
    return _update_response(result)


async def update_attributes(request: Request) -> Response:
    body, ctx = await _body_and_context(request, allow=PATCH_BODIES)
    result = await call(request, _broker(request).entities.update_attributes,
        tenant_of(request), request.path_params["entity_id"], strip_context(body), ctx,
        entity_type=_type_selector(request, ctx),
    )
    return _update_response(result)


async def partial_update_attribute(request: Request) -> Response:
    body, ctx = await _body_and_context(request, allow=PATCH_BODIES)
    await call(request, _broker(request).entities.partial_update_attribute,
        tenant_of(request), request.path_params["entity_id"], request.path_params["attr"], strip_context(body), ctx,
        entity_type=_type_selector(request, ctx),
    )
    return no_content()


async def replace_attribute(request: Request) -> Response:
    body, ctx = await _body_and_context(request)
    await call(request, _broker(request).entities.replace_attribute,
        tenant_of(request), request.path_params["entity_id"], request.path_params["attr"], strip_context(body), ctx,
        entity_type=_type_selector(request, ctx),
    )
    return no_content()


async def delete_attribute(request: Request) -> Response:
    ctx = _get_context(request)
    await call(request, _broker(request).entities.delete_attribute,
        tenant_of(request), request.path_params["entity_id"], request.path_params["attr"], ctx,
        dataset_id=request.query_params.get("datasetId"), delete_all=bool_param(request, "deleteAll"),
        entity_type=_type_selector(request, ctx),
    )
    return no_content()


# ---- /entityOperations -----------------------------------------------------------------------
async def _batch_list(request: Request, what: str) -> list[Any]:
    body = await read_json(request)
    if not isinstance(body, list) or not body:
        raise BadRequestData(f"a batch operation takes a non-empty JSON array of {what}")
    # Clauses 5.6.7.4 – 5.6.10.4, 5.6.20.4: a null item fails the whole batch, not that item alone.
    nulls = [i for i, item in enumerate(body) if item is None]
    if nulls:
        raise BadRequestData(f"a batch cannot hold null items; {len(nulls)} of its items are null, the first at "
                             f"index {nulls[0]} (counting from 0), so nothing was written")
    limit = request.app.state.settings.max_batch_size
    if len(body) > limit:
        raise BadRequestData(f"a batch holds at most {limit} {what}; this one has {len(body)}")
    return body


async def _batch_input(request: Request) -> tuple[list[Any], list[Context | NgsiLdError]]:
    """The entities of a batch with the @context of each; an entity whose @context is wrong
    gets its error instead, reported for it alone (clause 6.3.5)."""
    body = await _batch_list(request, "entities")
    tenant = tenant_of(request)
    link_url = link_context(request)
    json_ld = media_type(request) == JSON_LD
    if json_ld and link_url is not None:
        raise BadRequestData("with Content-Type application/ld+json the @context goes in the body, not in a Link header")

    def context_of(item: Any) -> Context | NgsiLdError:
        has_context = isinstance(item, dict) and "@context" in item
        try:
            if json_ld and not has_context:
                raise BadRequestData("with Content-Type application/ld+json each entity must hold an @context member")
            if not json_ld and has_context:
                raise BadRequestData("with Content-Type application/json the @context goes in a Link header, not in the body")
            return _broker(request).contexts.compile(tenant, item["@context"] if json_ld else link_url)
        except NgsiLdError as error:
            return error

    return [strip_context(item) for item in body], [context_of(item) for item in body]


def _batch_response(result: BatchResult, *, created_status: bool) -> Response:
    if result.errors:
        return json_response(
            {"success": result.success, "errors": [{"entityId": eid, "error": err.to_problem()} for eid, err in result.errors]},
            status=207,
        )
    if created_status and result.created:
        return json_response(result.created, status=201)
    return no_content()


async def batch_create(request: Request) -> Response:
    bodies, ctxs = await _batch_input(request)
    return _batch_response(await call(request, _broker(request).entities.batch_create, tenant_of(request), bodies, ctxs), created_status=True)


async def batch_upsert(request: Request) -> Response:
    bodies, ctxs = await _batch_input(request)
    words = options(request)
    if {"replace", "update"} <= words:
        raise BadRequestData("options replace and update exclude each other")
    result = await call(request, _broker(request).entities.batch_upsert,
        tenant_of(request), bodies, ctxs, mode="update" if "update" in words else "replace"
    )
    return _batch_response(result, created_status=True)


async def batch_update(request: Request) -> Response:
    bodies, ctxs = await _batch_input(request)
    result = await call(request, _broker(request).entities.batch_update,
        tenant_of(request), bodies, ctxs, no_overwrite="noOverwrite" in options(request)
    )
    return _batch_response(result, created_status=False)


async def batch_merge(request: Request) -> Response:
    bodies, ctxs = await _batch_input(request)
    return _batch_response(await call(request, _broker(request).entities.batch_merge, tenant_of(request), bodies, ctxs), created_status=False)


async def batch_delete(request: Request) -> Response:
    body = await _batch_list(request, "entity ids")
    return _batch_response(await call(request, _broker(request).entities.batch_delete, tenant_of(request), body), created_status=False)


async def query_post(request: Request) -> Response:
    kind = negotiate(request, (JSON, JSON_LD, GEO_JSON))
    body, ctx = await _body_and_context(request)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a Query object")
    body = strip_context(body)
    query = visible_query(request, body_query(body, request, ctx))
    words = options(request)
    opts = render_options({**dict(request.query_params), **{k: body[k] for k in ("attrs", "pick", "omit", "lang") if k in body}}, words, ctx)
    if query.attrs and opts.attrs is None:
        opts = RenderOptions(**{**opts.__dict__, "attrs": frozenset(query.attrs)})
    linked = join_options(
        {**dict(request.query_params), **{k: body[k] for k in ("join", "joinLevel", "containedBy", "pick", "omit") if k in body}},
        ctx,
    )
    check_query_depth(query.q, linked)
    page = await call(request, _broker(request).entities.query, tenant_of(request), query)
    return await _page_response(request, page, ctx, opts, kind, linked)


routes = [
    Route(f"{BASE}/entities", query_entities, methods=["GET"]),
    Route(f"{BASE}/entities", create_entity, methods=["POST"]),
    Route(f"{BASE}/entities", purge_entities, methods=["DELETE"]),
    Route(f"{BASE}/entities/{{entity_id}}", retrieve_entity, methods=["GET"]),
    Route(f"{BASE}/entities/{{entity_id}}", delete_entity, methods=["DELETE"]),
    Route(f"{BASE}/entities/{{entity_id}}", replace_entity, methods=["PUT"]),
    Route(f"{BASE}/entities/{{entity_id}}", merge_entity, methods=["PATCH"]),
    Route(f"{BASE}/entities/{{entity_id}}/attrs", append_attributes, methods=["POST"]),
    Route(f"{BASE}/entities/{{entity_id}}/attrs", update_attributes, methods=["PATCH"]),
    Route(f"{BASE}/entities/{{entity_id}}/attrs/{{attr}}", partial_update_attribute, methods=["PATCH"]),
    Route(f"{BASE}/entities/{{entity_id}}/attrs/{{attr}}", replace_attribute, methods=["PUT"]),
    Route(f"{BASE}/entities/{{entity_id}}/attrs/{{attr}}", delete_attribute, methods=["DELETE"]),
    Route(f"{BASE}/entityOperations/create", batch_create, methods=["POST"]),
    Route(f"{BASE}/entityOperations/upsert", batch_upsert, methods=["POST"]),
    Route(f"{BASE}/entityOperations/update", batch_update, methods=["POST"]),
    Route(f"{BASE}/entityOperations/merge", batch_merge, methods=["POST"]),
    Route(f"{BASE}/entityOperations/delete", batch_delete, methods=["POST"]),
    Route(f"{BASE}/entityOperations/query", query_post, methods=["POST"]),
]
