"""Turn the query parameters of an NGSI-LD request into a store query and render options."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from territoires.api.http import GEO_JSON, JSON, JSON_LD, int_param, negotiate, options
from territoires.ngsild import geo
from territoires.ngsild.context import Context
from territoires.ngsild.entity import validate_entity_id
from territoires.ngsild.errors import (
    BadRequestData,
    InvalidRequest,
    TooComplexQuery,
    TooManyResults,
)
from territoires.ngsild.join import Join, Projection, parse_join, parse_omit, parse_pick
from territoires.ngsild.query import (
    MAX_TERMS,
    OrderKey,
    narrow_selection,
    parse_attr_list,
    parse_order_by,
    parse_q,
    parse_scope_q,
    parse_type_expr,
)
from territoires.ngsild.subscription import EntitySelector, parse_entity_selectors
from territoires.store.port import EntityQuery

FORMS = {"normalized": "normalized", "concise": "concise", "keyValues": "keyValues", "simplified": "keyValues"}
KNOWN_OPTIONS = set(FORMS) | {"sysAttrs", "noOverwrite", "replace", "update", "noHistory"}


@dataclass(frozen=True)
class RenderOptions:
    form: str = "normalized"
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None
    pick: frozenset[str] | None = None
    omit: frozenset[str] | None = None
    lang: str | None = None
    dataset_id: frozenset[str] | None = None
    geometry_property: str = "location"

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "form": self.form, "sys_attrs": self.sys_attrs, "attrs": self.attrs,
            "pick": self.pick, "omit": self.omit, "lang": self.lang, "dataset_id": self.dataset_id,
        }


def render_options(params: dict[str, Any], words: set[str], ctx: Context, *, linked: bool = True) -> RenderOptions:
    """Render options from query parameters (GET) or the members of a Query body (POST).

    ``format`` (v1.8) names the representation and wins over one named in ``options``. Without
    ``linked`` (a representation that holds no linked entity), ``pick``/``omit`` of a linked
    entity (``owner{name}``) are refused."""
    unknown = words - KNOWN_OPTIONS
    if unknown:
        raise InvalidRequest(f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KNOWN_OPTIONS))}")
    chosen = params.get("format")
    if chosen is not None and chosen not in FORMS:
        raise InvalidRequest(f"format {chosen!r} is not one of {', '.join(FORMS)}")
    forms = {FORMS[chosen]} if chosen is not None else {FORMS[w] for w in words if w in FORMS}
    if len(forms) > 1:
        raise BadRequestData(f"options ask for several representations at once: {', '.join(sorted(forms))}")
    attrs = _names(params.get("attrs"), ctx, "attrs")
    pick = _projected(params.get("pick"), ctx, "pick", linked=linked)
    omit = _projected(params.get("omit"), ctx, "omit", linked=linked)
    given = [name for name, value in (("attrs", attrs), ("pick", pick), ("omit", omit)) if value is not None]
    if len(given) > 1:
        raise BadRequestData(f"{' and '.join(given)} cannot be used together")
    dataset_ids = params.get("datasetId")
    return RenderOptions(
        form=forms.pop() if forms else "normalized",
        sys_attrs="sysAttrs" in words,
        attrs=attrs,
        pick=pick,
        omit=omit,
        lang=params.get("lang"),
        dataset_id=frozenset(d.strip() for d in dataset_ids.split(",")) if isinstance(dataset_ids, str) else None,
        geometry_property=params.get("geometryProperty") or "location",
    )


def _list_text(value: Any, param: str) -> str | None:
    """A list of names as the comma-separated text of a query parameter (POST bodies give arrays)."""
    if value is None:
        return None
    if isinstance(value, list):
        if not value:  # Table 5.2.23-1: an empty array is not allowed
            raise BadRequestData(f"{param} is an empty array: leave {param} out or give at least one name")
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise BadRequestData(f"{param} must be a comma-separated list of names")
    return value


def _names(value: Any, ctx: Context, param: str) -> frozenset[str] | None:
    text = _list_text(value, param)
    if text is None:
        return None
    names = parse_attr_list(text, ctx.expand, param=param)
    if param == "attrs" and ({"id", "type"} & set(names)):
        raise BadRequestData("attrs names attributes; id and type are entity members (use pick or omit)")
    return frozenset(names)


def _projection(value: Any, ctx: Context, param: str) -> Projection | None:
    """A pick or omit list, with ``name{...}`` projections of linked entities (clause 4.21)."""
    text = _list_text(value, param)
    if text is None:
        return None
    return (parse_pick if param == "pick" else parse_omit)(text, ctx.expand)


def _projected(value: Any, ctx: Context, param: str, *, linked: bool) -> frozenset[str] | None:
    projection = _projection(value, ctx, param)
    if projection is not None and projection.nested and not linked:
        raise BadRequestData(f"{param}: this representation holds no linked entity to project (name{{...}}); "
                             "give attribute names only")
    return projection.names if projection is not None else None


def join_options(params: dict[str, Any], ctx: Context) -> Join | None:
    """Linked Entity Retrieval (clause 4.5.23) from query parameters (GET) or the members of a
    Query body (POST): ``join``, ``joinLevel``, ``containedBy`` and the nested pick/omit."""
    return parse_join(
        params.get("join"), params.get("joinLevel"), params.get("containedBy"),
        pick=_projection(params.get("pick"), ctx, "pick"), omit=_projection(params.get("omit"), ctx, "omit"),
    )


def request_render_options(request: Request, ctx: Context) -> RenderOptions:
    _check_geometry_property(request)
    return render_options(dict(request.query_params), options(request), ctx)


def _check_geometry_property(request: Request) -> None:
    """Clauses 5.7.1.4 and 5.7.2.4: geometryProperty is BadRequestData unless the answer is GeoJSON."""
    if "geometryProperty" in request.query_params and negotiate(request, (JSON, JSON_LD, GEO_JSON)) != GEO_JSON:
        raise BadRequestData(
            "geometryProperty chooses the geometry of a GeoJSON answer: "
            "send Accept: application/geo+json with it, or leave it out"
        )


def entity_query(request: Request, ctx: Context, *, purge: bool = False) -> EntityQuery:
    """The query of ``GET /entities`` (clause 6.4.3.2), or of ``DELETE /entities`` with ``purge``."""
    params = request.query_params
    max_page = request.app.state.settings.max_page_size
    limit = int_param(request, "limit", 20)
    count = params.get("count") == "true"
    if limit > max_page:
        raise TooManyResults(f"limit {limit} is above this server's maximum page size {max_page}")
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only meaningful with count=true")
    if params.get("type") == EVERY_TYPE and params.get("local") == "false":
        raise BadRequestData("type=* selects the entities of every type this broker holds (clause 4.17): "
                             "local cannot be false with it")
    geo_query = geo.parse_geo_query(
        params.get("georel"), params.get("geometry"), params.get("coordinates"), params.get("geoproperty"), ctx.expand
    )
    ordering = Ordering()
    if not purge:  # a purge deletes, in no particular order
        keys = parse_order_by(params["orderBy"], ctx.expand) if "orderBy" in params else ()
        reference = _order_reference(keys, params.get("orderFrom"), params.get("orderGeometry"),
                                     ("orderFrom", "orderGeometry"))
        ordering = Ordering(keys, reference, _collation(params.get("collation"), "collation"))
    return _query(
        ctx,
        ids=params.get("id"),
        id_pattern=params.get("idPattern"),
        type_expr=params.get("type"),
        attrs=params.get("attrs"),
        q=params.get("q"),
        scope_q=params.get("scopeQ"),
        csf=params.get("csf"),
        geo_query=geo_query,
        offset=int_param(request, "offset", 0),
        limit=limit,
        after=params.get("after"),
        count=count,
        ordering=ordering,
        local=params.get("local") == "true",
        purge=purge,
    )


def body_query(body: dict[str, Any], request: Request, ctx: Context, *, temporal: bool = False) -> EntityQuery:
    """The query of ``POST /entityOperations/query``, or with ``temporal`` of ``POST
    /temporal/entityOperations/query``: a Query data type (clause 5.2.23)."""
    if body.get("type") != "Query":
        raise BadRequestData('the body must be a Query: an object with "type": "Query"')
    if not temporal:
        if "temporalQ" in body:  # Table 5.2.23-1
            raise BadRequestData(
                "temporalQ belongs to Query Temporal Evolution of Entities (POST /temporal/entityOperations/query), "
                "not to Query Entities: leave it out"
            )
        _check_geometry_property(request)
    # Table 5.2.23-1: entities, when given, is a non-empty array of EntitySelectors, any of
    # which an entity may match.
    entities = body.get("entities")
    selectors = parse_entity_selectors(entities, ctx.expand) if entities is not None else ()
    geo_q = body.get("geoQ")
    limit = int_param(request, "limit", 20)
    count = request.query_params.get("count") == "true"
    if limit > request.app.state.settings.max_page_size:
        raise TooManyResults(f"limit {limit} is above this server's maximum page size")
    return _query(
        ctx,
        ids=None,
        id_pattern=None,
        type_expr=None,
        selectors=selectors,
        attrs=_list_text(body.get("attrs"), "attrs"),
        q=body.get("q"),
        scope_q=body.get("scopeQ"),
        csf=body.get("csf"),
        geo_query=geo.parse_geo_query_object(geo_q, ctx.expand) if geo_q is not None else None,
        offset=int_param(request, "offset", 0),
        limit=limit,
        after=request.query_params.get("after"),
        count=count,
        ordering=_ordering(body.get("ordering"), ctx),
        local=request.query_params.get("local") == "true",
    )


def _query(
    ctx: Context, *, ids: Any, id_pattern: Any, type_expr: Any, attrs: Any, q: Any, scope_q: Any, csf: Any,
    geo_query: Any, offset: int, limit: int, after: Any, count: bool,
    ordering: Ordering, local: bool, purge: bool = False, selectors: tuple[EntitySelector, ...] = (),
) -> EntityQuery:
    for name, value in (("id", ids), ("idPattern", id_pattern), ("type", type_expr), ("attrs", attrs),
                        ("q", q), ("scopeQ", scope_q), ("csf", csf)):
        if value is not None and not isinstance(value, str):
            raise BadRequestData(f"{name} must be a string")
    if csf:  # no context source is registered here, so it selects none; a malformed one is still refused
        parse_q(csf, ctx.expand, name="csf")
    id_list = tuple(validate_entity_id(i.strip()) for i in ids.split(",") if i.strip()) if ids else ()
    every_type = type_expr == EVERY_TYPE
    query = EntityQuery(
        ids=id_list,
        id_pattern=_checked_pattern(id_pattern),
        types=parse_type_expr(type_expr, ctx.expand) if type_expr and not every_type else None,
        selectors=selectors,
        attrs=tuple(_names(attrs, ctx, "attrs") or ()) if attrs else (),
        q=parse_q(q, ctx.expand) if q else None,
        scope_q=parse_scope_q(scope_q) if scope_q else None,
        geo=geo_query,
        offset=offset,
        limit=limit,
        after=after,
        count=count,
        order_by=ordering.keys,
        order_from=ordering.reference,
        collation=ordering.collation,
    )
    if not purge:  # EntityService.purge checks the selection of a purge (clause 5.6.21.4)
        _refuse_too_wide(query, local, every_type)
    return query


def _refuse_too_wide(query: EntityQuery, local: bool, every_type: bool) -> None:
    """Clause 5.7.2.4: a query gives a type (``*`` for every one, asked for in so many words), attrs
    or q naming a non-system Attribute, a geo-query or the local scope, so that it cannot dump a
    whole tenant by mistake. Each EntitySelector of a Query names a type."""
    if every_type or query.selectors or narrow_selection(query.types, query.attrs, query.q,
                                                          geo_query=query.geo is not None, local=local):
        return
    raise BadRequestData(
        "too wide a query: give type, attrs or q naming an attribute other than createdAt, modifiedAt "
        "and deletedAt, a geo-query, or local=true (clause 5.7.2.4)"
    )


ORDERING_MEMBERS = ("orderBy", "collation", "coordinates", "geometry")
EVERY_TYPE = "*"  # type=*: entities of every type (clause 4.17)
# An IETF BCP 47 language tag (RFC 6067 collations are such tags), checked for its syntax only.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*\Z")


@dataclass(frozen=True)
class Ordering:
    """The Entity ordering of a query (clause 4.23): keys, reference geometry, collation."""

    keys: tuple[OrderKey, ...] = ()
    reference: dict[str, Any] | None = None
    collation: str | None = None


def _ordering(value: Any, ctx: Context) -> Ordering:
    """The ``ordering`` member of a Query: an OrderingParams object (clause 5.2.43)."""
    if value is None:
        return Ordering()
    example = '{"orderBy": ["name;desc", "id"]}'
    if not isinstance(value, dict):
        raise BadRequestData(f"ordering must be an OrderingParams object such as {example}")
    unknown = sorted(set(value) - set(ORDERING_MEMBERS))
    if unknown:
        raise BadRequestData(f"ordering has unknown member(s) {', '.join(unknown)}; allowed: {', '.join(ORDERING_MEMBERS)}")
    elements = value.get("orderBy")
    if isinstance(elements, str):
        elements = [elements]
    if not (isinstance(elements, list) and elements and all(isinstance(e, str) for e in elements)):
        raise BadRequestData(f"ordering.orderBy must be a non-empty array of strings, as in {example}")
    keys: list[OrderKey] = []
    for element in elements:
        keys.extend(parse_order_by(element, ctx.expand))
        if len(keys) > MAX_TERMS:
            raise TooComplexQuery(f"ordering.orderBy: more than {MAX_TERMS} elements")
    coordinates = value.get("coordinates")
    if coordinates is not None and not isinstance(coordinates, list):
        raise BadRequestData("ordering.coordinates must be a JSON array of coordinates, as [8, 40]")
    reference = _order_reference(
        keys, coordinates, value.get("geometry"), ("ordering.coordinates", "ordering.geometry")
    )
    return Ordering(tuple(keys), reference, _collation(value.get("collation"), "ordering.collation"))


def _order_reference(
    keys: Sequence[OrderKey], coordinates: Any, geometry: Any, names: tuple[str, str]
) -> dict[str, Any] | None:
    """The reference geometry of sorting by distance (clause 4.23.3), validated; None if none."""
    if coordinates is None:
        if geometry is not None:
            raise BadRequestData(f"{names[1]} is given without {names[0]}")
        if any(key.by_distance for key in keys):
            raise BadRequestData(f"orderBy sorts by distance: {names[0]} must give the reference coordinates, as [8,40]")
        return None
    if isinstance(coordinates, str):
        try:
            coordinates = orjson.loads(coordinates)
        except orjson.JSONDecodeError:
            raise BadRequestData(f"{names[0]} must be a JSON array of coordinates, as [8,40]") from None
    kind = "Point" if geometry is None else geometry
    if not isinstance(kind, str) or kind not in geo.GEOMETRY_TYPES:
        raise BadRequestData(f"{names[1]} must be one of {', '.join(geo.GEOMETRY_TYPES)}")
    return geo.validate_geometry({"type": kind, "coordinates": coordinates}, names[0])


def _collation(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _LANGUAGE_TAG.match(value):
        raise BadRequestData(f"{name} must be an ICU collation tag (RFC 6067), as und-x-icu or de-u-co-phonebk")
    return value


def _checked_pattern(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        raise BadRequestData(f"idPattern is not a valid regular expression: {error}") from None
    return pattern
