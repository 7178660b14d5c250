"""Administration routes of the audit trail: /admin/v1/tenants/{name}/audit (a page, newest
first, with ``Total-Count``) and /admin/v1/tenants/{name}/audit/export (every matching record,
streamed as CSV or JSON Lines). Filters: ``subject``, ``credential``, ``entity``, ``attribute``
(expanded with the Link header's @context), ``operation``, ``from`` and ``to`` (ISO 8601).
``{name}`` is the tenant's name, ``_default`` for the default tenant."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from territoires import clock
from territoires.api.http import call, link_context, listed, page_params
from territoires.auth.grants import segment_of, tenant_named
from territoires.broker.audit_views import (
    audit_json,
    audit_query,
    csv_lines,
    jsonl_lines,
)
from territoires.ngsild.context import Context
from territoires.ngsild.errors import BadRequestData
from territoires.store.port import AuditQuery

BASE = "/admin/v1/tenants/{name}/audit"
_PAGING = ("offset", "limit")
# Media types of the export formats.
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}


def _tenant_and_context(request: Request) -> tuple[str, Context]:
    tenant = tenant_named(request.path_params["name"])
    return tenant, request.app.state.broker.contexts.compile(tenant, link_context(request))


def _query(request: Request, ctx: Context, ignored: tuple[str, ...], *, offset: int = 0,
           limit: int = 100) -> AuditQuery:
    params = request.query_params
    repeated = sorted({key for key, _ in params.multi_items() if len(params.getlist(key)) > 1})
    if repeated:
        raise BadRequestData(f"give each audit filter once: {', '.join(repeated)} is repeated")
    filters = {key: value for key, value in params.items() if key not in ignored}
    return audit_query(filters, ctx.expand, offset=offset, limit=limit)


async def list_audit(request: Request) -> Response:
    """The tenant's audit trail, newest first: a page (offset, limit) and its Total-Count."""
    tenant, ctx = _tenant_and_context(request)
    offset, limit = page_params(request)
    query = _query(request, ctx, _PAGING, offset=offset, limit=limit)
    records, count = await call(request, request.app.state.broker.audit.query, tenant, query)
    return listed([audit_json(record, ctx.compact) for record in records], count)


async def export_audit(request: Request) -> Response:
    """Every matching record of the tenant's audit trail, streamed as CSV or JSON Lines."""
    tenant, ctx = _tenant_and_context(request)
    for name in _PAGING:
        if name in request.query_params:
            raise BadRequestData(f"the export holds every matching record: {name} does not apply to it "
                                 "(page through the audit listing instead)")
    kind = request.query_params.get("format", "csv")
    if kind not in FORMATS:
        raise BadRequestData(f"format must be csv or jsonl, not {kind!r}")
    query = _query(request, ctx, ("format",))
    records = await call(request, request.app.state.broker.audit.export, tenant, query)
    lines = csv_lines(records, ctx.compact) if kind == "csv" else jsonl_lines(records, ctx.compact)
    filename = f"audit-{segment_of(tenant)}-{clock.now()[:10]}.{kind}"
    return StreamingResponse(lines, media_type=FORMATS[kind],
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


routes = [
    Route(BASE, list_audit, methods=["GET"]),
    Route(f"{BASE}/export", export_audit, methods=["GET"]),
]
