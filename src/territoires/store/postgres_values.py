"""The value index in PostgreSQL (what it holds and narrows: ``value_index``).

    attr_values(tenant, rid, name, value text COLLATE "C", number double precision)

Strings go to ``value``, numbers and booleans (1 and 0) to ``number``: a literal is looked
up in the column of its kind, as the q semantics compare only values of one kind.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
import psycopg

from territoires.ngsild.model import Entity
from territoires.ngsild.query import And, QExpr
from territoires.store.postgres_json import float8
from territoires.store.value_index import SELECTIVE_ROWS, Narrowing, Verdicts, entity_scalars, narrowing

Sql = tuple[str, list[Any]]


# The index rows of ``value_rows`` from one JSON array of them (``rows_json``).
INSERT_FEW = ("INSERT INTO attr_values (rid, name, value, number) "
              "SELECT (j->>0)::bigint, j->>1, j->>2, (j->>3)::float8 FROM jsonb_array_elements(%s::jsonb) AS j")


def value_parts(entity: Entity) -> list[tuple[str, str | None, float | None]]:
    """The index rows of an entity but its row number: (name, value, number)."""
    return [(name, scalar, None) if isinstance(scalar, str) else (name, None, float(scalar))
            for name, scalar in entity_scalars(entity)]


def rows_json(rows: list[tuple[int, str, str | None, float | None]]) -> str:
    """Index rows as the JSON array ``INSERT_FEW`` reads."""
    return orjson.dumps([(rid, name, value, float8(number)) for rid, name, value, number in rows]).decode()


def prefilters(conn: psycopg.Connection, q: QExpr, verdicts: Verdicts) -> list[Sql]:
    """Conditions over alias ``e`` that narrow a query to the candidates of its selective terms
    (``verdicts``: those lately counted in the tenant)."""
    terms = q.terms if isinstance(q, And) else (q,)
    found: list[Sql] = []
    for term in terms:
        narrow = narrowing(term)
        # Only equalities are probed: a range is rarely selective, and counting its rows
        # (up to SELECTIVE_ROWS of them) costs more here than in SQLite's own process.
        if narrow is None or narrow.op != "in" or "\x00" in narrow.attr:
            continue
        condition = _condition(narrow)
        sql = f"SELECT rid FROM attr_values WHERE name = %s AND {condition[0]}"
        args = [narrow.attr, *condition[1]]
        if verdicts.selective((sql, narrow.attr, *map(tuple, condition[1])), partial(_bounded_count, conn, sql, args)):
            found.append((f"e.rid IN ({sql})", args))
    return found


def _bounded_count(conn: psycopg.Connection, sql: str, args: list[Any]) -> int:
    return conn.execute(f"SELECT count(*) FROM ({sql} LIMIT {SELECTIVE_ROWS + 1}) AS few", args).fetchone()[0]


def _condition(narrow: Narrowing) -> Sql:
    """The condition on ``value`` or ``number`` of an equality narrowing."""
    values = [v for v in narrow.values if not (isinstance(v, str) and "\x00" in v)]  # never stored
    texts = [v for v in values if isinstance(v, str)]
    numbers = [float(v) for v in values if not isinstance(v, str)]
    # One column when the literals are of one kind (the usual case): its index then serves.
    if not numbers:
        return "value = ANY(%s::text[])", [texts]
    if not texts:
        return "number = ANY(%s::float8[])", [numbers]
    return "(value = ANY(%s::text[]) OR number = ANY(%s::float8[]))", [texts, numbers]
