"""A POST, PATCH or PUT to the NGSI-LD API must give its body's length: without a
``Content-Length`` header it is answered a bare 411, before anything else is looked at
(clauses 6.3.2 and 6.3.4: "just a 411 HTTP status code (without any payload body)"), so a
body sent in chunks of unknown total size is refused rather than streamed.

A pure ASGI middleware, as ``tenant_echo``: the precondition holds whatever the request targets,
an unknown tenant or route included."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_API = "/ngsi-ld/"
_WITH_BODY = frozenset({"POST", "PATCH", "PUT"})


class LengthRequired:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] in _WITH_BODY and scope["path"].startswith(_API)
                and not any(name == b"content-length" for name, _ in scope["headers"])):
            await send({"type": "http.response.start", "status": 411, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)
