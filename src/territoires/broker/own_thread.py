"""Blocking calls that may hang for long, each in a thread of its own.

A name lookup whose name server does not answer, or an MQTT broker slow to accept a connection,
holds the thread it runs in for as long as the system lets it. In asyncio's default pool it
would hold a thread the store's calls need; in any pool of a fixed size, enough such calls
would hold every thread and delay the calls that would not hang. A thread of its own (a daemon:
it never delays the process's exit) holds nothing of anyone else's; callers keep their number
small (one lookup of a name at a time, one connection to a broker at a time)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def in_own_thread(function: Callable[..., T], *args: Any, name: str,
                  release: Callable[[T], object] | None = None) -> asyncio.Future[T]:
    """Run ``function(*args)`` in a new daemon thread called ``name``; its outcome is the
    returned future's, on the running event loop. Cancelling the future does not stop the call:
    a result nobody waits for any more is handed to ``release`` (in a thread), if given, so that
    what it holds (a connection) is not left open."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result, error = function(*args), None
        except Exception as failure:  # noqa: BLE001 - handed to the caller, whatever it is
            result, error = None, failure
        try:
            loop.call_soon_threadsafe(_settle, future, result, error, release)
        except RuntimeError:  # the event loop is closed: nobody waits any more
            if error is None and release is not None:
                release(result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None,
            release: Callable[[Any], object] | None) -> None:
    if future.done():  # cancelled meanwhile
        if error is None and release is not None:
            threading.Thread(target=release, args=(result,), name="release", daemon=True).start()
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
