"""A lean closed-loop HTTP/1.1 load generator over keep-alive connections.

Each connection sends one pre-built request, waits for the whole response, then sends the
next: the loop runs in the protocol callbacks, with no coroutine per request, so that one
Python process drives thousands of requests per second with little CPU. Responses are
parsed just enough to find where they end (status line, Content-Length or chunked).
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

try:  # uvicorn[standard] brings uvloop; plain asyncio works too, only slower.
    import uvloop

    _loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
except ImportError:  # pragma: no cover
    _loop_factory = asyncio.new_event_loop

# Produces the bytes of the next request (request line, headers and body).
RequestFactory = Callable[[], bytes]


class LoadError(RuntimeError):
    """The load could not be carried out (server unreachable, hung, or answering unreadable responses)."""


@dataclass
class LoadResult:
    """What one load run measured. Latencies are in seconds, one per expected response."""

    ok: int
    errors: int
    elapsed: float
    latencies: list[float]
    statuses: dict[int, int]
    first_error: bytes = b""
    # Share of one core the load generator itself used: near 1.0 means it may be the bottleneck.
    client_cpu: float = 0.0

    @property
    def rate(self) -> float:
        """Expected responses per second."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    @cached_property
    def _ordered(self) -> list[float]:
        return sorted(self.latencies)

    def percentile_ms(self, p: float) -> float:
        """The p-th percentile of latency (nearest rank), in milliseconds."""
        ordered = self._ordered
        if not ordered:
            return float("nan")
        rank = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000


def build_request(method: str, target: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """The raw bytes of one HTTP/1.1 keep-alive request."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a lower-cased response head, or None."""
    start = head.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else len(head)].strip()


@dataclass
class _Run:
    """State shared by the connections of one load run."""

    host: str
    port: int
    factory: RequestFactory
    expect: frozenset[int]
    deadline: float | None
    remaining: int | None
    finished: asyncio.Future[None]
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    first_error: bytes = b""
    # Connections open or being opened that still have work to do.
    active: int = 0
    last_done: float = 0.0
    failure: str = ""
    connections: set[_Connection] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def open_connection(self) -> None:
        self.active += 1
        task = asyncio.get_running_loop().create_task(self._connect())
        self.tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self.tasks.discard)

    async def _connect(self) -> None:
        try:
            await asyncio.get_running_loop().create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError as exc:
            self.fail(f"cannot connect to {self.host}:{self.port}: {exc}")

    def next_request(self) -> bytes | None:
        if self.failure:
            return None
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        elif self.deadline is not None and time.perf_counter() >= self.deadline:
            return None
        return self.factory()

    def record(self, status: int, latency: float, head: bytes, body: bytes) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.last_done = time.perf_counter()
        if status in self.expect:
            self.latencies.append(latency)
        else:
            self.errors += 1
            if not self.first_error:
                self.first_error = head[:300] + b"\r\n\r\n" + body[:1000]

    def connection_idle(self) -> None:
        self.active -= 1
        if self.active == 0 and not self.finished.done():
            self.finished.set_result(None)

    def fail(self, reason: str) -> None:
        self.failure = self.failure or reason
        if not self.finished.done():
            self.finished.set_result(None)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send, read the response, send the next, until told to stop.

    When the server closes it (after a response saying so, or in the middle of a request,
    which counts as an error with status 0), a new connection takes over its work.
    """

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: Any = None  # uvloop's transports do not subclass asyncio.Transport
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.in_flight = False
        self.head = b""
        self.status = 0
        self.closing = False
        # Bytes of body still expected; -1 while reading the head; -2 while reading chunks.
        self.body_left = -1
        self.chunks = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.run.connections.add(self)
        self.send_next()

    def send_next(self) -> None:
        request = self.run.next_request()
        if request is None:
            self.in_flight = False
            self.run.connection_idle()
            return
        self.in_flight = True
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        # An exception here would only be logged by the loop and the run would hang: stop it.
        try:
            self._consume(data)
        except Exception as exc:
            self.run.fail(f"cannot read a response: {exc!r}")

    def _consume(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while buffer:
            if self.body_left == -1 and not self._read_head():
                return
            if self.body_left == -2:
                if not self._read_chunks():
                    return
                body = bytes(self.chunks)
            else:
                if len(buffer) < self.body_left:
                    return
                body = bytes(buffer[: self.body_left])
                del buffer[: self.body_left]
            self.body_left = -1
            self.in_flight = False
            self.run.record(self.status, time.perf_counter() - self.sent_at, self.head, body)
            if self.closing:
                self.transport.close()
                self.run.open_connection()
                self.run.connection_idle()
                return
            self.send_next()

    def _read_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        self.head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        head = self.head.lower()
        self.status = int(head[9:12])
        self.closing = _header(head, b"connection") == b"close"
        length = _header(head, b"content-length")
        if length is not None:
            self.body_left = int(length)
        elif _header(head, b"transfer-encoding") == b"chunked":
            self.body_left = -2
            self.chunks = bytearray()
        elif self.status in (204, 304) or self.status < 200:
            self.body_left = 0
        else:
            raise ValueError(f"response without Content-Length nor chunked body: {self.head[:200]!r}")
        return True

    def _read_chunks(self) -> bool:
        """Consume whole chunks from the buffer; True once the last (empty) chunk is read."""
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return False
            size = int(bytes(buffer[:line_end]).split(b";")[0], 16)
            if size == 0:
                # No trailers expected: the last chunk is "0\r\n\r\n".
                if len(buffer) < line_end + 4:
                    return False
                del buffer[: line_end + 4]
                return True
            if len(buffer) < line_end + 2 + size + 2:
                return False
            self.chunks += buffer[line_end + 2 : line_end + 2 + size]
            del buffer[: line_end + 2 + size + 2]

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.connections.discard(self)
        if not self.in_flight:
            return
        self.in_flight = False
        self.run.record(0, 0.0, f"connection closed before a response ({exc or 'EOF'})".encode(), b"")
        self.run.open_connection()
        self.run.connection_idle()


async def _run(
    host: str,
    port: int,
    factory: RequestFactory,
    concurrency: int,
    duration: float | None,
    total: int | None,
    expect: frozenset[int],
    timeout: float,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run = _Run(
        host=host,
        port=port,
        factory=factory,
        expect=expect,
        deadline=None if duration is None else start + duration,
        remaining=total,
        finished=loop.create_future(),
    )
    cpu_start = time.process_time()
    for _ in range(concurrency):
        run.open_connection()
    try:
        # A watchdog, not a budget: a long load is fine as long as responses keep coming.
        while not run.finished.done():
            try:
                await asyncio.wait_for(asyncio.shield(run.finished), 1.0)
            except TimeoutError:
                if time.perf_counter() - max(start, run.last_done) > timeout + (duration or 0.0):
                    run.fail(f"no response for {timeout:.0f} s: the server hangs or is far too slow")
    finally:
        for task in list(run.tasks):
            task.cancel()
        for connection in list(run.connections):
            connection.in_flight = False
            connection.transport.close()
    if run.failure:
        raise LoadError(run.failure)
    elapsed = (run.last_done or time.perf_counter()) - start
    cpu = time.process_time() - cpu_start
    return LoadResult(
        ok=len(run.latencies),
        errors=run.errors,
        elapsed=elapsed,
        latencies=run.latencies,
        statuses=run.statuses,
        first_error=run.first_error,
        client_cpu=cpu / elapsed if elapsed > 0 else 0.0,
    )


def run_load(
    port: int,
    factory: RequestFactory,
    *,
    concurrency: int = 1,
    duration: float | None = None,
    total: int | None = None,
    expect: frozenset[int] = frozenset({200}),
    host: str = "127.0.0.1",
    timeout: float = 120.0,
) -> LoadResult:
    """Drive ``concurrency`` keep-alive connections until ``duration`` seconds have passed
    or ``total`` requests have been answered, whichever is given.

    Responses with a status outside ``expect`` are counted as errors, not as latencies.
    Raises LoadError if the server cannot be reached, closes a connection mid-request or
    goes ``timeout`` seconds without completing a response (past the planned duration).
    """
    if (duration is None) == (total is None):
        raise ValueError("give exactly one of duration and total")
    coroutine = _run(host, port, factory, concurrency, duration, total, expect, timeout)
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        return runner.run(coroutine)
