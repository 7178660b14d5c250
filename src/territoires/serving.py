"""Run the ASGI application under uvicorn, tuned for keep-alive clients."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from territoires.config import Settings


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """HTTP/1.1 protocol that sends each response at once.

    With several workers uvicorn binds the listening socket itself and accepted connections keep
    Nagle's algorithm on: with delayed ACKs that adds about 40 ms to every keep-alive response.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def run(settings: Settings, *, log_level: str = "warning") -> None:
    uvicorn.run(
        "territoires.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
        access_log=False,
        http=NoDelayHttpToolsProtocol,
        loop="uvloop",
    )
