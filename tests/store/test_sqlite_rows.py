"""Many rows in few statements (``store/sqlite_rows``): every row lands, in order, and a write
session's statements do not grow with its rows (each statement lets other threads run)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ngsild.context import compile_context
from territoires.store.sqlite_rows import execute_rows

CTX = compile_context([], lambda url: None)


@given(st.integers(min_value=0, max_value=700))
def test_every_row_lands_in_order_in_a_few_statements(count: int) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(n INTEGER PRIMARY KEY, label TEXT, value REAL)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    execute_rows(conn, "INSERT INTO t(n, label, value) VALUES {rows}", [(n, f"n{n}", n / 2) for n in range(count)])
    conn.set_trace_callback(None)
    assert conn.execute("SELECT n, label, value FROM t ORDER BY rowid").fetchall() == [
        (n, f"n{n}", n / 2) for n in range(count)]
    assert len(statements) <= count // 256 + 3 * 4  # at most 3 statements of each smaller count


def test_none_is_written_as_null() -> None:
    # execute_rows' module registers an adapter for None (binding it faster): still SQL NULL
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t(n INTEGER PRIMARY KEY, label TEXT)")
    execute_rows(conn, "INSERT INTO t(n, label) VALUES {rows}", [(1, None), (2, "two")])
    assert conn.execute("SELECT n FROM t WHERE label IS NULL").fetchall() == [(1,)]
    assert conn.execute("SELECT typeof(label) FROM t ORDER BY n").fetchall() == [("null",), ("text",)]


def test_a_batch_of_entities_is_written_in_statements_that_do_not_grow_with_it(tmp_path: Path) -> None:
    broker = open_broker(Settings(data_dir=tmp_path / "var"))
    try:
        def lamps(first: int, count: int) -> list[dict[str, object]]:
            return [{"id": f"urn:ngsi-ld:Streetlight:{n}", "type": "Streetlight",
                     "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-1.68, 48.11]}},
                     "powerState": {"type": "Property", "value": "on"},
                     "dimmingLevel": {"type": "Property", "value": n % 100, "unitCode": "P1"}}
                    for n in range(first, first + count)]

        broker.entities.batch_create("", lamps(0, 10), [CTX] * 10)  # the tenant file and its shapes exist
        conn = broker.store._tenant("").conn
        steps: list[str] = []
        conn.set_trace_callback(lambda sql: None if sql.startswith("--") else steps.append(sql))  # "--": R*Tree's own
        result = broker.entities.batch_create("", lamps(10, 200), [CTX] * 200)
        conn.set_trace_callback(None)
        assert len(result.created) == 200
        # 200 entities with their geometry, value-index rows, history series, instances and
        # audit records: row by row, well over a thousand statements.
        assert len(steps) < 60, f"{len(steps)} statements"
    finally:
        broker.close()
