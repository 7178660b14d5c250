"""The value index in SQLite (what it holds and narrows: ``value_index``), so that a selective
``q`` does not read every document. Per tenant database, one row per scalar:

    attr_values(name, value, rid)      name: id of the attribute IRI in ``names``

``value`` is dynamically typed, so one column holds strings and numbers alike.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

from territoires.ngsild.query import And, QExpr
from territoires.store.value_index import SELECTIVE_ROWS, Narrowing, Verdicts, narrowing

VALUES_SCHEMA = """
CREATE TABLE IF NOT EXISTS names(name INTEGER PRIMARY KEY, iri TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS attr_values(
    name INTEGER NOT NULL, value NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (name, value, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attr_values_by_entity ON attr_values(rid);
"""


def value_rows(rid: int, scalars: Sequence[tuple[str, Any]], name_id: Any) -> list[tuple[int, Any, int]]:
    """The index rows of the entity numbered ``rid`` from its ``entity_scalars``; ``name_id``
    maps an attribute IRI to its id. Rows may repeat (the insert ignores repeats)."""
    return [(name_id(iri), scalar, rid) for iri, scalar in scalars]


def _condition(narrow: Narrowing) -> tuple[str, list[Any]]:
    """The condition on ``value`` of a narrowing, with its parameters."""
    if narrow.op == "in":
        return f"value IN ({','.join('?' * len(narrow.values))})", list(narrow.values)
    if narrow.op == "between":
        return "value BETWEEN ? AND ?", list(narrow.values)
    return f"value {narrow.op} ?", list(narrow.values)


def prefilters(conn: sqlite3.Connection, q: QExpr, names: dict[str, int],
               verdicts: Verdicts) -> list[tuple[str, list[Any]]]:
    """Conditions over alias ``e`` that narrow a query by the index, to put before the exact
    ones. A selective term narrows to its rows (the first one found drives the query); the
    others become a probe of the entity's own index rows, which rejects a row several times
    faster than the JSON condition does."""
    terms = q.terms if isinstance(q, And) else (q,)
    found: list[tuple[str, list[Any]]] = []
    driven = False
    for term in terms:
        narrow = narrowing(term)
        if narrow is None:
            continue
        iri = narrow.attr
        condition, params = _condition(narrow)
        name = names.get(iri)
        if name is None:
            name = name_of(conn, iri)
            if name is None:  # no entity ever had this attribute: nothing can match
                return [("0", [])]
            names[iri] = name
        args = [name, *params]
        sql = f"SELECT rid FROM attr_values WHERE name = ? AND {condition}"
        if not driven and verdicts.selective((sql, *args), partial(_bounded_count, conn, sql, args)):
            found.insert(0, (f"e.rid IN ({sql})", args))
            driven = True
        else:
            found.append((f"EXISTS (SELECT 1 FROM attr_values WHERE rid = e.rid AND name = ? AND {condition})", args))
    return found


def _bounded_count(conn: sqlite3.Connection, sql: str, args: list[Any]) -> int:
    return conn.execute(f"SELECT count(*) FROM ({sql} LIMIT {SELECTIVE_ROWS + 1})", args).fetchone()[0]


def name_of(conn: sqlite3.Connection, iri: str) -> int | None:
    row = conn.execute("SELECT name FROM names WHERE iri = ?", (iri,)).fetchone()
    return row[0] if row else None
