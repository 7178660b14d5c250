"""A lean HTTP/1.1 client for notifications: POST a small body, read the status, keep the
connection for the next one.

Why not a general client: a notification is a POST whose answer matters only by its status, and
one process sends hundreds per second beside serving the API. httpx2 spends about 1.3 ms of CPU
per POST here (675/s on one core, measured against a bare loopback receiver), which leaves no
room for 1,000 notifications/s on a two-core machine; this client spends a tenth of that.

Connections are kept per origin (scheme, host, port), at most ``per_origin`` idle ones; a kept
connection that the server closed meanwhile is replaced once, transparently (the POST is sent
again: notifications are delivered at least once anyway). Answers may be sized by
Content-Length, chunked, or closed by the server; ``post`` drops their bodies, ``request`` (the
few GETs and form POSTs of OpenID Connect: discovery, keys, code exchange) returns them.

Host names are looked up each in a thread of its own (``own_thread``), not in asyncio's default
pool, which runs the store's calls: a name server that does not answer (an air-gapped site's
resolver misconfigured) must hold none of them. A client looks a name up once at a time,
whoever waits for it, and keeps the answer ``KEEP_ADDRESSES`` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from territoires.broker.own_thread import in_own_thread

_MAX_HEAD = 64 * 1024
KEEP_ADDRESSES = 60.0  # seconds
# Of a notification's answer only the status counts: a longer body is left unread, and its
# connection closed rather than kept (a receiver may stream for as long as its timeout).
_POST_BODY_READ = 64 * 1024


class HttpError(Exception):
    """The request could not be made or its answer read; the message says why."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]   # names and values lower-cased
    body: bytes


Origin = tuple[str, str, int]
_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpClient:
    def __init__(self, *, per_origin: int, lookup: Callable[..., Any] = socket.getaddrinfo) -> None:
        """``lookup``: how names become addresses, called as ``socket.getaddrinfo`` is."""
        self.per_origin = per_origin
        self._idle: dict[Origin, list[_Stream]] = {}
        self._tls: ssl.SSLContext | None = None
        self._lookup = lookup
        self._addresses: dict[tuple[str, int], tuple[float, list[str]]] = {}  # until when, addresses
        self._looking_up: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def post(self, url: str, body: bytes, headers: list[tuple[str, str]], timeout: float) -> int:
        """POST ``body`` to ``url`` and return the answer's status. Raises ``TimeoutError``
        after ``timeout`` seconds in all, ``HttpError`` when it cannot be done."""
        return (await self.request("POST", url, body, headers, timeout, max_body=_POST_BODY_READ,
                                   leave_longer_unread=True)).status

    async def request(self, method: str, url: str, body: bytes, headers: list[tuple[str, str]], timeout: float,
                      *, max_body: int | None = None, leave_longer_unread: bool = False) -> Answer:
        """Send one request and return its answer; a body longer than ``max_body`` bytes is an
        ``HttpError``, or with ``leave_longer_unread`` left unread (the answer then has an empty
        body). Raises like ``post``."""
        limit = None if max_body is None else _Limit(max_body, leave_longer_unread)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}",
                 f"Content-Length: {len(body)}"]
        for name, value in headers:
            if any(c in name or c in value for c in "\r\n"):
                raise HttpError(f"the header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        origin = (scheme, host, port)
        async with asyncio.timeout(timeout):
            idle = self._idle.get(origin)
            if idle:  # a kept connection may have been closed by the server: then a fresh one
                stream = idle.pop()
                try:
                    return await self._exchange(origin, stream, request, limit)
                except (HttpError, OSError, asyncio.IncompleteReadError):
                    pass
            try:
                stream = await self._connect(scheme, host, port)
            except (OSError, UnicodeError) as error:  # UnicodeError: a host name IDNA cannot write
                raise HttpError(f"cannot connect to {host}:{port}: {getattr(error, 'strerror', None) or error}") from None
            try:
                return await self._exchange(origin, stream, request, limit)
            except asyncio.IncompleteReadError:
                raise HttpError("the server closed the connection without answering") from None
            except OSError as error:
                raise HttpError(f"the connection failed: {error.strerror or error}") from None

    async def _exchange(self, origin: Origin, stream: _Stream, request: bytes, limit: _Limit | None) -> Answer:
        reader, writer = stream
        try:
            writer.write(request)
            await writer.drain()
            answer, keep = await _read_answer(reader, limit)
        except BaseException:
            writer.close()
            raise
        idle = self._idle.setdefault(origin, [])
        if keep and len(idle) < self.per_origin:
            idle.append(stream)
        else:
            writer.close()
        return answer

    async def _connect(self, scheme: str, host: str, port: int) -> _Stream:
        """A connection to the first of the host's addresses that takes one."""
        tls = self._ssl() if scheme == "https" else None
        failure: OSError | None = None
        for address in await self._addresses_of(host, port):
            try:
                return await asyncio.open_connection(address, port, ssl=tls, server_hostname=host if tls else None,
                                                     limit=_MAX_HEAD)
            except OSError as error:
                failure = error
        raise failure or OSError(f"{host} has no address")

    async def _addresses_of(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass  # a name
        loop, key = asyncio.get_running_loop(), (host, port)
        known = self._addresses.get(key)
        if known is not None and known[0] > loop.time():
            return known[1]
        pending = self._looking_up.get(key)
        if pending is None:
            pending = self._looking_up[key] = in_own_thread(self._look_up, host, port, name=f"lookup-{host}")
            pending.add_done_callback(lambda done: self._looked_up(key, done))
        return await asyncio.shield(pending)  # a caller that gives up leaves it to the others

    def _look_up(self, host: str, port: int) -> list[str]:
        found = self._lookup(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))

    def _looked_up(self, key: tuple[str, int], done: asyncio.Future[list[str]]) -> None:
        del self._looking_up[key]
        if not done.cancelled() and done.exception() is None:
            self._addresses[key] = (asyncio.get_running_loop().time() + KEEP_ADDRESSES, done.result())

    def _ssl(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def close(self) -> None:
        for streams in self._idle.values():
            for _, writer in streams:
                writer.close()
        self._idle.clear()


class _Limit(NamedTuple):
    """The longest body read, and whether a longer one is left unread rather than an error."""

    size: int
    leave_unread: bool


class _Unread(Exception):
    """The body is longer than the caller reads: it is left unread, and the connection closed."""


async def _read_answer(reader: asyncio.StreamReader, limit: _Limit | None) -> tuple[Answer, bool]:
    """The answer, its body read, and whether the connection may be kept."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError("the answer's head is too large") from None
        status_line, _, rest = head.decode("latin-1").partition("\r\n")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not (fields[1].isascii() and fields[1].isdigit()):
            raise HttpError(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
        status = int(fields[1])
        if status >= 200 or status == 101:
            break  # 1xx interim answers (100 Continue…) come before the real one
    headers = {}
    for line in rest.split("\r\n"):
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip().lower()
    keep = fields[0] == "HTTP/1.1" and headers.get("connection") != "close"

    def sized(size: int) -> int:
        if size < 0:
            raise HttpError("the answer gives a negative length")
        if limit is not None and size > limit.size:
            if limit.leave_unread:
                raise _Unread
            raise HttpError(f"the answer's body is larger than {limit.size} bytes")
        return size

    if status in (204, 304) or 100 <= status < 200:
        return Answer(status, headers, b""), keep
    try:
        body, delimited = await _read_body(reader, headers, sized)
    except _Unread:
        return Answer(status, headers, b""), False
    return Answer(status, headers, body), keep and delimited


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str],
                     sized: Callable[[int], int]) -> tuple[bytes, bool]:
    """The body, ``sized`` checking each length met, and whether it ended before the connection."""
    if "chunked" in headers.get("transfer-encoding", ""):
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                size_line = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError:
                raise HttpError("a chunk size line of the answer is too long") from None
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError("a chunk of the answer has no valid size") from None
            total = sized(total + sized(size))
            chunks.append((await reader.readexactly(size + 2))[:size])
            if size == 0:  # (trailers are not expected from a notification endpoint)
                return b"".join(chunks), True
    if "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise HttpError("the answer's Content-Length is not a number") from None
        return await reader.readexactly(sized(length)), True
    body = bytearray()  # delimited by the end of the connection
    while chunk := await reader.read(64 * 1024):
        body += chunk
        sized(len(body))
    return bytes(body), False
