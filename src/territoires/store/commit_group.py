"""Group commit: the write sessions of one process that queue for the same tenant share one
transaction.

A write session holds its tenant's write lock from its first statement to its commit, and the
commit often costs more than the session's own statements: SQLite appends every page the
transaction touched to its log, PostgreSQL waits for its log to reach the disk. When sessions
queue, the first opens a transaction; each then runs in it in turn, the later ones inside a
savepoint of their own, so that a session that fails undoes its own work alone; the last of the
queue commits for all (at most ``most`` sessions per transaction). A session returns only once its work is
committed, and raises ``Unavailable`` when the shared commit failed: to its caller, nothing
changes but the cost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

from territoires.store.port import Unavailable


class Transaction(Protocol):
    """An open transaction holding the tenant's write lock, as a backend drives it."""

    def savepoint(self) -> None:
        """Mark where the next session starts."""

    def release(self) -> None:
        """Keep the work done since the mark."""

    def undo(self) -> None:
        """Undo the work done since the mark."""

    def intact(self) -> bool:
        """Whether the transaction is still open (an error may have rolled it back whole)."""

    def commit(self) -> None:
        """Commit and release the write lock."""

    def abandon(self) -> None:
        """Roll back what is left and release the write lock."""


class Savepoints:
    """The savepoint part of a ``Transaction`` on a connection that runs SQL (``execute``)."""

    conn: Any

    def savepoint(self) -> None:
        self.conn.execute("SAVEPOINT session")

    def release(self) -> None:
        self.conn.execute("RELEASE session")

    def undo(self) -> None:
        self.conn.execute("ROLLBACK TO session")
        self.conn.execute("RELEASE session")


T = TypeVar("T", bound=Transaction)


class _Batch(Generic[T]):
    """The sessions sharing one transaction."""

    def __init__(self, transaction: T) -> None:
        self.transaction = transaction
        self.sessions = 0
        self.broken: BaseException | None = None  # what rolled the whole transaction back
        self.failure: BaseException | None = None  # why the batch's work is lost
        self.done = False


class CommitGroup(Generic[T]):
    """The write sessions of one process on one tenant."""

    def __init__(self, begin: Callable[[], T], *, most: int = 64) -> None:
        self._begin = begin
        self._most = most
        lock = threading.Lock()
        # Each hand-over wakes one queued session (waking them all would cost a thread switch
        # per queued session at every turn); the end of a batch wakes all its sessions.
        self._turn = threading.Condition(lock)
        self._ended = threading.Condition(lock)
        self._busy = False  # a session runs, or its batch commits, or sessions are paused
        self._queued = 0  # sessions waiting for their turn
        self._runner: int | None = None  # the thread of the running session (a nested one would wait forever)
        self._batch: _Batch[T] | None = None

    @contextmanager
    def session(self) -> Iterator[T]:
        """Run the body in the shared transaction; return once it is committed."""
        batch = self._take_turn()
        # The first session of a transaction needs no savepoint: if it fails, the transaction,
        # which holds nothing else yet, is dropped (and the next session opens another).
        first = batch.sessions == 0
        try:
            if not first:
                batch.transaction.savepoint()
            yield batch.transaction
        except BaseException as error:
            if first:
                batch.broken = error
            else:
                self._undo(batch, error)
            self._end_turn(batch)
            raise
        if not first:
            try:
                batch.transaction.release()
            except BaseException as error:
                self._undo(batch, error)
                self._end_turn(batch)
                raise
        self._end_turn(batch)
        if batch.failure is not None:
            raise Unavailable(f"the write was not committed: {batch.failure}") from batch.failure

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Let the open transaction commit and keep new sessions waiting meanwhile."""
        with self._turn:
            while self._busy or self._batch is not None:
                self._ended.wait()
            self._busy = True
            self._runner = threading.get_ident()
        try:
            yield
        finally:
            with self._turn:
                self._free()

    def _free(self) -> None:
        """No session runs any more (the lock is held)."""
        self._busy = False
        self._runner = None
        self._turn.notify()
        self._ended.notify_all()

    def _take_turn(self) -> _Batch[T]:
        with self._turn:
            if self._busy and self._runner == threading.get_ident():
                raise RuntimeError("a write session of this tenant is already open in this thread")
            self._queued += 1
            while self._busy:
                self._turn.wait()
            self._queued -= 1
            self._busy = True
            self._runner = threading.get_ident()
            if self._batch is not None:
                return self._batch
        try:
            self._batch = _Batch(self._begin())
        except BaseException:
            with self._turn:
                self._free()
            raise
        return self._batch

    @staticmethod
    def _undo(batch: _Batch[T], error: BaseException) -> None:
        try:
            if batch.transaction.intact():
                batch.transaction.undo()
        except Exception as undo_error:  # noqa: BLE001 - the transaction is unusable: the whole batch is lost
            batch.broken = undo_error
        if not batch.transaction.intact():
            batch.broken = batch.broken or error

    def _end_turn(self, batch: _Batch[T]) -> None:
        """Hand the transaction to the next queued session, or commit it; wait for the commit."""
        with self._turn:
            batch.sessions += 1
            if self._queued and batch.sessions < self._most and batch.broken is None:
                self._busy = False
                self._runner = None
                self._turn.notify()
                while not batch.done:
                    self._ended.wait()
                return
        try:
            if batch.broken is not None:
                batch.failure = batch.broken
                batch.transaction.abandon()
            else:
                batch.transaction.commit()
        except BaseException as error:  # noqa: BLE001 - every session of the batch reports it
            batch.failure = batch.failure or error
            try:
                batch.transaction.abandon()
            except Exception:  # noqa: BLE001, S110 - the failure above is what the sessions report
                pass
        finally:
            with self._turn:
                self._batch = None
                batch.done = True
                self._free()
