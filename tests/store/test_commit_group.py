"""Group commit: write sessions queued on one tenant share a transaction, yet each one keeps
its own outcome. Driven here over a real SQLite file, with the SQLite backend's transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from territoires.store.commit_group import CommitGroup
from territoires.store.port import Unavailable
from territoires.store.sqlite import WriteTransaction


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE parent(k INTEGER PRIMARY KEY)")
    # Checked at COMMIT: a way to make a real commit fail after every session succeeded.
    conn.execute("CREATE TABLE rows(k INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(k) DEFERRABLE INITIALLY DEFERRED)")
    conn.close()
    return path


def group_on(path: Path, begun: list[int]) -> CommitGroup[WriteTransaction]:
    """The group of a tenant file's writes, as the SQLite backend makes it (``begun`` counts
    its transactions)."""
    tenant = SimpleNamespace(conn=sqlite3.connect(path, isolation_level=None, check_same_thread=False),
                             write_lock=open(f"{path}.lock", "a+b"))  # noqa: SIM115 - as long as the test
    tenant.conn.execute("PRAGMA foreign_keys=ON")

    def begin() -> WriteTransaction:
        begun.append(1)
        return WriteTransaction(tenant)

    return CommitGroup(begin)


def stored(path: Path) -> set[int]:
    conn = sqlite3.connect(path)
    try:
        return {k for (k,) in conn.execute("SELECT k FROM rows")}
    finally:
        conn.close()


Body = Callable[[sqlite3.Connection], None]


def queue_behind_first(database: Path, group: CommitGroup[WriteTransaction], bodies: list[Body]) -> dict[int, object]:
    """Run one session per body, each in its own thread; the first holds its turn until all
    the others are queued, so that they join its transaction. The outcome of each: whether
    its row was visible to another connection as soon as the session returned, or its error."""
    everyone_queued = threading.Event()
    outcomes: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            with group.session() as transaction:
                if n == 0:
                    everyone_queued.wait(10)
                bodies[n](transaction.conn)
            outcomes[n] = n in stored(database)
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(bodies))]
    threads[0].start()
    while group._batch is None:  # the first session holds its turn
        threading.Event().wait(0.001)
    for thread in threads[1:]:
        thread.start()
    while group._queued < len(bodies) - 1:
        threading.Event().wait(0.001)
    everyone_queued.set()
    for thread in threads:
        thread.join(10)
    return outcomes


def insert(k: int, parent: int | None = None) -> Body:
    return lambda conn: conn.execute("INSERT INTO rows(k, parent) VALUES (?, ?)", (k, parent))


def failing_insert(k: int) -> Body:
    def body(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO rows(k) VALUES (?)", (k,))
        raise ValueError("refused after writing")

    return body


def test_queued_sessions_share_one_commit_and_each_returns_with_its_work_committed(database: Path) -> None:
    begun: list[int] = []
    outcomes = queue_behind_first(database, group_on(database, begun), [insert(k) for k in range(12)])
    assert outcomes == {k: True for k in range(12)}
    assert stored(database) == set(range(12))
    assert len(begun) == 1


def test_a_session_that_fails_undoes_its_own_work_only(database: Path) -> None:
    begun: list[int] = []
    outcomes = queue_behind_first(database, group_on(database, begun),
                                  [insert(0), failing_insert(1), insert(2), failing_insert(3)])
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], ValueError) and isinstance(outcomes[3], ValueError)
    assert stored(database) == {0, 2}


def test_when_the_first_session_fails_the_queued_ones_commit_in_a_transaction_of_their_own(database: Path) -> None:
    begun: list[int] = []
    outcomes = queue_behind_first(database, group_on(database, begun), [failing_insert(0), insert(1), insert(2)])
    assert isinstance(outcomes[0], ValueError) and outcomes[1] is True and outcomes[2] is True
    assert stored(database) == {1, 2}
    assert len(begun) == 2


def test_a_failed_commit_is_reported_to_every_session_of_the_batch(database: Path) -> None:
    begun: list[int] = []
    # Parent 999 does not exist: the sessions succeed, their COMMIT fails.
    outcomes = queue_behind_first(database, group_on(database, begun), [insert(0), insert(1, parent=999), insert(2)])
    assert all(isinstance(outcomes[n], Unavailable) for n in range(3)), outcomes
    assert stored(database) == set()
    # The group is usable again: the next session opens a new transaction.
    with group_on(database, begun).session() as transaction:
        transaction.conn.execute("INSERT INTO rows(k) VALUES (7)")
    assert stored(database) == {7}


def test_paused_waits_for_the_open_transaction_to_commit(database: Path) -> None:
    group = group_on(database, [])
    inside, release = threading.Event(), threading.Event()

    def writer() -> None:
        with group.session() as transaction:
            transaction.conn.execute("INSERT INTO rows(k) VALUES (1)")
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    inside.wait(10)
    threading.Timer(0.05, release.set).start()
    with group.paused():
        assert stored(database) == {1}
    thread.join(10)


def test_a_session_opened_inside_another_of_the_same_thread_is_refused(database: Path) -> None:
    group = group_on(database, [])
    with group.session(), pytest.raises(RuntimeError, match="already open in this thread"), group.session():
        pass
