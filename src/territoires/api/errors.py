"""Every failure leaves as application/problem+json (RFC 7807) with an NGSI-LD error type."""

from __future__ import annotations

import logging
import re

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from territoires.api.http import PROBLEM
from territoires.ngsild.errors import (
    BadRequestData,
    InternalError,
    InvalidRequest,
    NgsiLdError,
    ResourceNotFound,
)
from territoires.store.port import Unavailable

log = logging.getLogger("territoires.api")

RETRY_AFTER_SECONDS = "5"


def problem(error: NgsiLdError, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(error.to_problem()), status_code=error.status, media_type=PROBLEM, headers=headers)


async def on_ngsi_ld_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, NgsiLdError)
    return problem(error, headers=error.headers or None)


ENTITY_WITHOUT_ID = re.compile(r"/ngsi-ld/v1/(temporal/)?entities/(/|$)")
ATTRIBUTE_WITHOUT_NAME = re.compile(r"/ngsi-ld/v1/(temporal/)?entities/[^/]+/attrs//")


async def on_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    purge = request.method == "DELETE" and request.url.path == "/ngsi-ld/v1/entities/"
    # /temporal/entities has no DELETE: without an id, that method is not allowed (ETSI 009_02_01)
    temporal_delete = request.method == "DELETE" and request.url.path == "/ngsi-ld/v1/temporal/entities/"
    if error.status_code in (404, 405) and ENTITY_WITHOUT_ID.match(request.url.path) and not (purge or temporal_delete):
        return problem(BadRequestData("the entity id is missing from the path"))
    if error.status_code in (404, 405) and ATTRIBUTE_WITHOUT_NAME.match(request.url.path):
        if request.method == "PATCH":  # no route patches .../attrs/ (the ETSI suite's 016_02_06)
            failure = InvalidRequest(f"PATCH is not allowed on {request.url.path}: the attribute name is missing")
            failure.status = 405
            return problem(failure)
        return problem(BadRequestData("the attribute name is missing from the path"))
    if error.status_code == 404:
        return problem(ResourceNotFound(f"no resource at {request.url.path}"))
    if error.status_code == 405:
        failure = InvalidRequest(f"{request.method} is not allowed on {request.url.path}")
        failure.status = 405
        return problem(failure, headers=dict(error.headers or {}))
    failure = InvalidRequest(error.detail or "invalid request")
    failure.status = error.status_code
    return problem(failure)


async def on_unavailable(request: Request, error: Exception) -> Response:
    failure = InternalError(f"the database is unavailable, retry later: {error}")
    failure.status = 503
    return problem(failure, headers={"Retry-After": RETRY_AFTER_SECONDS})


async def on_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(InternalError("an unexpected error occurred; it has been logged"))


handlers = {
    NgsiLdError: on_ngsi_ld_error,
    HTTPException: on_http_exception,
    Unavailable: on_unavailable,
    Exception: on_unexpected,
}
