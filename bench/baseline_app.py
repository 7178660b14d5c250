"""The bare HTTP round trip: a Starlette app that does nothing but answer.

Served by uvicorn with the same workers as the broker, it measures the floor that the HTTP
stack alone sets on this machine: POST answers 201 with an empty body (after reading the
request body, as any handler must), GET answers a small JSON document.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_SMALL_JSON = b'{"id":"urn:ngsi-ld:Streetlight:bare","type":"Streetlight"}'


async def _answer(request: Request) -> Response:
    if request.method == "POST":
        await request.body()
        return Response(status_code=201)
    return Response(_SMALL_JSON, media_type="application/json")


# Every path answers, /health included, so the harness starts it like the broker.
app = Starlette(routes=[Route("/{path:path}", _answer, methods=["GET", "POST"])])
