"""The notifications' HTTP client against real sockets: what it makes of a receiver's answers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from territoires.broker.http_client import HttpClient, HttpError

Receiver = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _post_to(receiver: Receiver) -> int:
    server = await asyncio.start_server(receiver, "127.0.0.1", 0)
    client = HttpClient(per_origin=1)
    try:
        return await client.post(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/notify", b"{}", [], timeout=5)
    finally:
        await client.close()
        server.close()


async def _post_to_a_receiver_answering(answer: bytes) -> int:
    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    return await _post_to(answer_once)


def test_a_long_answer_body_is_left_unread_and_its_status_kept():
    # The receiver announces 1 GB, or streams until it closes, far slower than the timeout allows
    # to read it all (a TimeoutError then): only the status counts.
    async def streaming(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head)
        try:
            for _ in range(10_000):
                writer.write(b"x" * 65536)
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, OSError):
            pass  # the client closed the connection: what this test expects
        finally:
            writer.close()

    def post(head: bytes) -> int:
        return asyncio.run(_post_to(lambda reader, writer: streaming(reader, writer, head)))

    assert post(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n") == 200
    assert post(b"HTTP/1.0 202 Accepted\r\n\r\n") == 202


def test_the_status_of_an_answer_is_read():
    assert asyncio.run(_post_to_a_receiver_answering(b"HTTP/1.1 204 No Content\r\n\r\n")) == 204


@pytest.mark.parametrize("answer", [b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
                                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 70000])
def test_an_answer_of_impossible_length_is_an_http_error(answer):
    with pytest.raises(HttpError):
        asyncio.run(_post_to_a_receiver_answering(answer))


def test_a_host_name_no_dns_could_hold_is_an_http_error():
    async def post() -> int:
        client = HttpClient(per_origin=1)
        try:
            return await client.post("http://a..b/notify", b"{}", [], timeout=5)
        finally:
            await client.close()

    with pytest.raises(HttpError, match="cannot connect"):
        asyncio.run(post())


@pytest.mark.parametrize("status_line", [b"HTTP/1.1 \xb200 OK", b"HTTP/1.1 2OO OK", b"ICY 200 OK", b"HTTP/1.1"])
def test_an_answer_that_is_not_http_is_an_http_error(status_line):
    # "\xb2" is "²" in Latin-1, a digit to str.isdigit but not to int.
    with pytest.raises(HttpError, match="not an HTTP/1.1 answer"):
        asyncio.run(_post_to_a_receiver_answering(status_line + b"\r\nContent-Length: 0\r\n\r\n"))


def test_a_name_server_that_does_not_answer_holds_no_thread_the_store_calls_need():
    """Twenty notifications go to ten hosts whose name lookups hang (a resolver that does not
    answer): each name is looked up once, in threads of the client's own, so asyncio's default
    pool (where the store's calls run) stays free, and a receiver named otherwise is reached."""
    answered, lookups = threading.Event(), Counter()

    def lookup(host: str, port: int, **options: Any) -> list[Any]:
        lookups[host] += 1
        if host.startswith("muet-"):
            answered.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return socket.getaddrinfo("127.0.0.1", port, **options)

    async def answer_204(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> tuple[bool, int, list[Any]]:
        server = await asyncio.start_server(answer_204, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = HttpClient(per_origin=1, lookup=lookup)
        stuck = [asyncio.create_task(client.post(f"http://muet-{n % 10}.example:{port}/notify", b"{}", [], timeout=30))
                 for n in range(20)]
        await asyncio.sleep(0.2)
        try:
            pool_free = await asyncio.wait_for(asyncio.to_thread(lambda: True), 10)
            status = await client.post(f"http://recepteur.example:{port}/notify", b"{}", [], timeout=10)
        finally:
            answered.set()
            failures = await asyncio.gather(*stuck, return_exceptions=True)
            await client.close()
            server.close()
        return pool_free, status, failures

    pool_free, status, failures = asyncio.run(scenario())
    assert pool_free and status == 204
    assert [lookups[f"muet-{n}.example"] for n in range(10)] == [1] * 10
    assert all(isinstance(failure, HttpError) and "Temporary failure" in str(failure) for failure in failures)
