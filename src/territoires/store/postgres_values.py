"""The value index in PostgreSQL (what it holds and narrows: ``value_index``).

    attr_values(tenant, rid, name, value text COLLATE "C", number double precision)

Strings go to ``value``, numbers and booleans (1 and 0) to ``number``: a literal is looked
up in the column of its kind, as the q semantics compare only values of one kind.
"""

from __future__ import annotations

from typing import Any

import psycopg

from territoires.ngsild.model import Entity
from territoires.ngsild.query import And, QExpr
from territoires.store.value_index import SELECTIVE_ROWS, Narrowing, entity_scalars, narrowing

Sql = tuple[str, list[Any]]


def value_rows(rid: int, entity: Entity) -> list[tuple[int, str, str | None, float | None]]:
    """The index rows (rid, name, value, number) of an entity."""
    rows = []
    for name, scalar in entity_scalars(entity):
        if isinstance(scalar, str):
            rows.append((rid, name, scalar, None))
        else:
            rows.append((rid, name, None, float(scalar)))
    return rows


def prefilters(conn: psycopg.Connection, q: QExpr) -> list[Sql]:
    """Conditions over alias ``e`` that narrow a query to the candidates of its selective terms."""
    terms = q.terms if isinstance(q, And) else (q,)
    found: list[Sql] = []
    for term in terms:
        narrow = narrowing(term)
        condition = _condition(narrow) if narrow is not None else None
        if narrow is None or condition is None or "\x00" in narrow.attr:
            continue
        sql = f"SELECT rid FROM attr_values WHERE name = %s AND {condition[0]}"
        args = [narrow.attr, *condition[1]]
        (rows,) = conn.execute(f"SELECT count(*) FROM ({sql} LIMIT {SELECTIVE_ROWS + 1}) AS few", args).fetchone()
        if rows <= SELECTIVE_ROWS:
            found.append((f"e.rid IN ({sql})", args))
    return found


def _condition(narrow: Narrowing) -> Sql | None:
    """The condition on ``value`` or ``number`` of a narrowing; None when its literals mix kinds."""
    values = [v for v in narrow.values if not (isinstance(v, str) and "\x00" in v)]  # never stored
    if narrow.op == "in":
        texts = [v for v in values if isinstance(v, str)]
        numbers = [float(v) for v in values if not isinstance(v, str)]
        return "(value = ANY(%s::text[]) OR number = ANY(%s::float8[]))", [texts, numbers]
    if len(values) != len(narrow.values) or len({isinstance(v, str) for v in values}) != 1:
        return None
    column = "value" if isinstance(values[0], str) else "number"
    params = [v if isinstance(v, str) else float(v) for v in values]
    if narrow.op == "between":
        return f"{column} BETWEEN %s AND %s", params
    return f"{column} {narrow.op} %s", params
