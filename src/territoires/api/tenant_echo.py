"""The tenant a request names is named in its response (clause 6.3.14), errors included.

A pure ASGI middleware rather than a step of each handler: error responses are built by the
exception handlers, after any handler has given up."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADER = b"ngsild-tenant"
_API = "/ngsi-ld/"


class TenantEcho:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tenant = _named_tenant(scope)
        if tenant is None:
            await self.app(scope, receive, send)
            return

        async def send_naming_it(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_HEADER, tenant)]
            await send(message)

        await self.app(scope, receive, send_naming_it)


def _named_tenant(scope: Scope) -> bytes | None:
    """The NGSILD-Tenant header of an NGSI-LD API request, as sent."""
    if scope["type"] != "http" or not scope["path"].startswith(_API):
        return None
    return next((value for name, value in scope["headers"] if name == _HEADER), None)
