"""HTTP plumbing shared by the NGSI-LD routes: tenant, body, @context, negotiation, responses.

Clause 6.3 of ETSI GS CIM 009 says how a request carries its JSON-LD @context (a Link header
with ``application/json``, a member of the body with ``application/ld+json``) and how the
response media type is negotiated; this module does exactly that and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from territoires.ngsild.context import CORE_CONTEXT_URL, Context
from territoires.ngsild.errors import (
    BadRequestData,
    InvalidRequest,
    NotAcceptable,
    PayloadTooLarge,
    TooManyResults,
    UnsupportedMediaType,
)

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
# What every NGSI-LD PATCH accepts (clause 6.3.4): a JSON Merge Patch body too.
PATCH_BODIES = (JSON, JSON_LD, MERGE_PATCH)
PROBLEM = "application/problem+json"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
TENANT_HEADER = "NGSILD-Tenant"

_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


def tenant_of(request: Request) -> str:
    """The tenant a request addresses (the default tenant when no header is given)."""
    return request.headers.get(TENANT_HEADER, "")


T = TypeVar("T")
READ_METHODS = frozenset({"GET", "HEAD"})


async def call(request: Request, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a broker call. When the store waits on a database server, or the call may write and
    writes wait on other processes' lock, in a worker thread, so that the event loop serves
    other requests meanwhile; otherwise (reads of the embedded store, which keep the processor
    busy) inline: a thread would only add its own cost."""
    store = request.app.state.broker.store
    if store.waits_on_server or (store.writes_wait_on_lock and request.method not in READ_METHODS):
        return await run_in_threadpool(function, *args, **kwargs)
    return function(*args, **kwargs)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_json(request: Request, *, allow: tuple[str, ...] = (JSON, JSON_LD)) -> Any:
    """The request body parsed as JSON, after checking its media type and size."""
    kind = media_type(request)
    if kind not in allow:
        shown = kind or "no Content-Type"
        raise UnsupportedMediaType(f"the body must be sent as {' or '.join(allow)}, not {shown}")
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body has {declared} bytes; this server accepts at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than the {limit} bytes this server accepts")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise InvalidRequest("the request has no body; a JSON document is expected")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"the body is not valid JSON: {error}") from None


def link_context(request: Request) -> str | None:
    """The @context URL given in a Link header, if any (clause 6.3.5)."""
    found: list[str] = []
    for header in request.headers.getlist("link"):
        for match in _LINK.finditer(header):
            params = match.group(2).replace(" ", "")
            if f'rel="{CONTEXT_REL}"' in params or f"rel={CONTEXT_REL}" in params:
                found.append(match.group(1).strip())
    if len(found) > 1:
        raise BadRequestData("more than one JSON-LD @context Link header was given; give one")
    return found[0] if found else None


def body_context_value(request: Request, body: Any) -> Any:
    """The @context of a request with a body: from the body for JSON-LD, from the Link header for JSON."""
    if media_type(request) == JSON_LD:
        if link_context(request) is not None:
            raise BadRequestData("with Content-Type application/ld+json the @context goes in the body, not in a Link header")
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, dict) and "@context" not in item:
                raise BadRequestData("with Content-Type application/ld+json the body must hold an @context member")
        return items[0].get("@context") if items and isinstance(items[0], dict) else None
    items = body if isinstance(body, list) else [body]
    if any(isinstance(item, dict) and "@context" in item for item in items):
        raise BadRequestData("with Content-Type application/json the @context goes in a Link header, not in the body")
    return link_context(request)


def strip_context(body: Any) -> Any:
    if isinstance(body, dict) and "@context" in body:
        return {k: v for k, v in body.items() if k != "@context"}
    return body


def negotiate(request: Request, offered: tuple[str, ...] = (JSON, JSON_LD)) -> str:
    """The response media type from the Accept header (clause 6.3.4). Each offered type weighs
    what the most specific range matching it says (RFC 9110, 12.5.1: ``application/json;q=0``
    refuses JSON even beside ``*/*``); the heaviest wins, and among equals the first offered:
    ``offered`` follows the specification's list (JSON, JSON-LD, GeoJSON), whose order decides."""
    accept = request.headers.get("accept")
    if not accept:
        return offered[0]
    weights = _accept_weights(accept)
    chosen = max(offered, key=lambda kind: _weight(weights, kind))  # the first of the heaviest
    if _weight(weights, chosen) <= 0:
        raise NotAcceptable(f"this resource is served as {', '.join(offered)}; the Accept header allows none of them")
    return chosen


def _accept_weights(accept: str) -> dict[str, float]:
    """Each media range of an Accept header and its weight (``q``; 1 when absent or unreadable:
    a malformed weight is no refusal, the range asks for its media type as if it gave none)."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    pass
        weights.setdefault(kind.lower(), quality)
    return weights


def _weight(weights: dict[str, float], kind: str) -> float:
    for media_range in (kind, kind.split("/", 1)[0] + "/*", "*/*"):
        if media_range in weights:
            return weights[media_range]
    return 0.0


def body_context(ctx: Context) -> Any:
    """The @context a JSON-LD or GeoJSON body carries: the request's own, else the core context."""
    return ctx.source if ctx.source else CORE_CONTEXT_URL


def context_url(ctx: Context) -> str:
    """The URL a JSON response's Link header names: the request's own when it was one URL."""
    return ctx.source if isinstance(ctx.source, str) else CORE_CONTEXT_URL


def json_response(
    data: Any, *, status: int = 200, ctx: Context | None = None, kind: str = JSON, headers: dict[str, str] | None = None,
    context_in_body: bool | None = None,
) -> Response:
    """Render ``data``: with JSON-LD or GeoJSON, the @context goes into each object; with JSON,
    into a Link header. ``context_in_body`` overrides where (see ``context_in_body``)."""
    all_headers = dict(headers or {})
    if ctx is not None:
        if kind in (JSON_LD, GEO_JSON) if context_in_body is None else context_in_body:
            context_value = body_context(ctx)
            if isinstance(data, list):
                data = [{**item, "@context": context_value} for item in data]
            elif isinstance(data, dict):
                data = {**data, "@context": context_value}
        else:  # one Link header may carry several links (RFC 8288): keep a paging link given by the caller
            context_link = f'<{context_url(ctx)}>; rel="{CONTEXT_REL}"; type="{JSON_LD}"'
            all_headers["Link"] = ", ".join(filter(None, (context_link, all_headers.get("Link"))))
    return Response(orjson.dumps(data), status_code=status, media_type=kind, headers=all_headers)


def context_in_body(request: Request, kind: str) -> bool:
    """Whether a response body of ``kind`` carries its @context (clause 6.3.6): JSON-LD always;
    GeoJSON unless the request says ``Prefer: body=json``, and then the Link header carries it."""
    if kind == GEO_JSON:
        return not any(token.strip().lower() == "body=json"
                       for value in request.headers.getlist("prefer") for token in value.split(","))
    return kind == JSON_LD


def no_content() -> Response:
    return Response(status_code=204)


def bool_param(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value in ("true", "false"):
        return value == "true"
    raise BadRequestData(f"{name} must be true or false, not {value!r}")


# The largest whole number a parameter may take: databases count in signed 64 bits.
_LARGEST = 2**63 - 1


def int_param(request: Request, name: str, default: int, *, minimum: int = 0) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequestData(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise BadRequestData(f"{name} must be at least {minimum}, not {number}")
    if number > _LARGEST:
        raise BadRequestData(f"{name} must be at most {_LARGEST}, not {value}")
    return number


def page_link(request: Request, rel: str, kind: str, **changed: Any) -> str:
    """A Link to another page of the same request (clause 6.3.13): its query parameters with
    ``changed`` set (a None value removes the parameter)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changed]
    params = urlencode([*kept, *((k, v) for k, v in changed.items() if v is not None)])
    return f'<{request.url.path.rstrip("/")}?{params}>;rel="{rel}";type="{kind}"'


def options(request: Request) -> set[str]:
    """The words of the ``options`` query parameter."""
    return {w.strip() for w in request.query_params.get("options", "").split(",") if w.strip()}


# Administration lists page with offset/limit and give the total in this header.
COUNT_HEADER = "Total-Count"


def page_params(request: Request) -> tuple[int, int]:
    """``offset`` and ``limit`` (default 20, at most ``max_page_size``) of an administration list."""
    limit = int_param(request, "limit", 20)
    maximum = request.app.state.settings.max_page_size
    if limit > maximum:
        raise TooManyResults(f"limit {limit} is above the {maximum} items a page may hold")
    return int_param(request, "offset", 0), limit


def listed(items: list[Any], count: int) -> Response:
    """A page of an administration list with its total."""
    return json_response(items, headers={COUNT_HEADER: str(count)})
