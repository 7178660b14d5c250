"""Coalescing: calls of one process that queue for the same write are carried out together.

A single-entity write costs its write session far more than its entity: a dozen statements,
the observers' bookkeeping and a turn of the tenant's write lock, which every other writer
waits for. When such calls come concurrently (many clients creating entities), the first to
find no open round for its key (a tenant) opens one and leads it: ``run(key, collect)`` opens
the write session, waiting for its turn, and only then calls ``collect()``, which closes the
round and answers the items of every call that joined it meanwhile (at most ``most``); ``run``
carries them out in one write and answers each in order. Calls arriving after that open the
next round, whose leader queues for the next turn. A call returns its own outcome, or raises
its own error: to its caller, nothing changes but the cost. A call that finds no one waiting
makes a round of its own. A caller in an event loop (``submit_async``) waits for its round in
the loop; only a leader takes a worker thread, for the write.

A round that fails as a whole is carried out again call by call, so that only the calls at
fault fail, except for ``shared_failures`` (a database that cannot be reached), which every
call of the round reports at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

# ``run(key, collect)``: what it answers for each collected item, its outcome or the error its caller raises.
Collect = Callable[[], Sequence[Item]]
Run = Callable[[str, Collect], Sequence["Outcome | BaseException"]]


class _Call(Generic[Item, Outcome]):
    __slots__ = ("item", "outcome")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.outcome: Outcome | BaseException | None = None


class _Round(Generic[Item, Outcome]):
    """The calls of one round, and the event their leader sets once every one is answered (a
    round of its own: answering one round wakes no call of another); calls waiting in an event
    loop are woken by a callback instead (``when_answered``)."""

    __slots__ = ("_callbacks", "_lock", "answered", "calls")

    def __init__(self) -> None:
        self.calls: list[_Call[Item, Outcome]] = []
        self.answered = threading.Event()
        self._callbacks: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    def when_answered(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (from the leader's thread) once the round is answered, or now if it is."""
        with self._lock:
            if not self.answered.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def answer(self) -> None:
        with self._lock:
            self.answered.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class Coalescer(Generic[Item, Outcome]):
    """Rounds of calls per key (see the module's docstring)."""

    def __init__(self, run: Run, *, most: int = 256, shared_failures: tuple[type[BaseException], ...] = ()) -> None:
        self._run = run
        self._most = most
        self._shared_failures = shared_failures
        self._lock = threading.Lock()
        self._open: dict[str, _Round[Item, Outcome]] = {}  # the round each key collects

    def submit(self, key: str, item: Item) -> Outcome:
        """Carry out ``item`` in a round of ``key``; its outcome, or raise its error."""
        call: _Call[Item, Outcome] = _Call(item)
        joined, leader = self._join(key, call)
        if leader:
            self._lead(key, joined)
        else:
            joined.answered.wait()
        return _outcome(call)

    async def submit_async(self, key: str, item: Item) -> Outcome:
        """``submit`` for a caller in an event loop: a call that joins a round waits in the loop,
        not in a thread of its own; the leader carries the round out in a worker thread."""
        call: _Call[Item, Outcome] = _Call(item)
        joined, leader = self._join(key, call)
        if leader:
            await asyncio.to_thread(self._lead, key, joined)
        else:
            loop = asyncio.get_running_loop()
            answered = loop.create_future()
            joined.when_answered(lambda: _wake(loop, answered))
            await answered
        return _outcome(call)

    def _join(self, key: str, call: _Call[Item, Outcome]) -> tuple[_Round[Item, Outcome], bool]:
        """The round of ``key`` that ``call`` joins, and whether the call opened it (leads it)."""
        with self._lock:
            joined = self._open.get(key)
            leader = joined is None
            if joined is None:
                joined = self._open[key] = _Round()
            joined.calls.append(call)
            if len(joined.calls) >= self._most:
                self._close(key, joined)
        return joined, leader

    def _close(self, key: str, closing: _Round[Item, Outcome]) -> None:
        """Later calls open another round (the lock is held)."""
        if self._open.get(key) is closing:
            del self._open[key]

    def _lead(self, key: str, leading: _Round[Item, Outcome]) -> None:
        def collect() -> list[Item]:
            with self._lock:
                self._close(key, leading)
                return [c.item for c in leading.calls]

        try:
            outcomes = self._carry_out(key, collect)
        except BaseException as error:  # noqa: BLE001 - interrupted: every call of the round reports it
            outcomes = [error] * len(collect())
        for answered, outcome in zip(leading.calls, outcomes, strict=True):
            answered.outcome = outcome
        leading.answer()

    def _carry_out(self, key: str, collect: Collect) -> list[Outcome | BaseException]:
        collected: Sequence[Item] = ()

        def collecting() -> Sequence[Item]:
            nonlocal collected
            collected = collect()
            return collected

        try:
            outcomes = list(self._run(key, collecting))
        except self._shared_failures as error:
            return [error] * len(collected or collect())
        except Exception as error:  # noqa: BLE001 - reported to the callers, alone or one by one
            items = collected or collect()
            if len(items) == 1:
                return [error]
            return [outcome for item in items for outcome in self._carry_out(key, lambda item=item: [item])]
        if len(outcomes) != len(collected):
            raise RuntimeError(f"a round of {len(collected)} calls answered {len(outcomes)} outcomes")
        return outcomes


def _outcome(call: _Call[Item, Outcome]) -> Outcome:
    if isinstance(call.outcome, BaseException):
        raise call.outcome
    return call.outcome  # type: ignore[return-value]


def _wake(loop: asyncio.AbstractEventLoop, answered: asyncio.Future[None]) -> None:
    """Resolve ``answered`` in its loop, from the leader's thread."""
    try:
        loop.call_soon_threadsafe(_resolve, answered)
    except RuntimeError:  # the loop closed (the server stops): no one waits any more
        pass


def _resolve(answered: asyncio.Future[None]) -> None:
    if not answered.done():  # a caller that went away (cancelled) needs no answer
        answered.set_result(None)
