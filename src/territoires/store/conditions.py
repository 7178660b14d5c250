"""How an ``EntityQuery`` becomes the WHERE clause of an SQL backend, the same way on each:
ids and id pattern on the entity row, types and attributes through its shape, then ``q``,
``scopeQ``, the geo-query and the history filter. Each backend brings the compilers of its own SQL dialect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from territoires.ngsild.geo import GeoQuery
from territoires.ngsild.query import QExpr, ScopeExpr, TypeExpr
from territoires.ngsild.subscription import EntitySelector
from territoires.store.port import EntityQuery, HistoryFilter

Sql = tuple[str, list[Any]]


@dataclass(frozen=True)
class Compilers:
    """One dialect's compilers: over the entity row ``e``, or over the shape row ``s``."""

    ids: Callable[[Sequence[str]], Sql]  # over e
    id_pattern: Callable[[str], Sql]  # over e
    type_expr: Callable[[TypeExpr], Sql]  # over s
    attrs: Callable[[Sequence[str]], Sql]  # over s
    q: Callable[[QExpr], Sql]  # over e
    scope_q: Callable[[ScopeExpr], Sql]  # over e
    geo: Callable[[GeoQuery], Sql]  # over e
    history: Callable[[HistoryFilter], Sql]  # over e

    @classmethod
    def of(cls, filters: ModuleType, geo: ModuleType) -> Compilers:
        """The compilers of a backend's filter module (``compile_ids``…) and geo module."""
        return cls(filters.compile_ids, filters.compile_id_pattern, filters.compile_type_expr,
                   filters.compile_attrs, filters.compile_q, filters.compile_scope_q, geo.compile_geo,
                   filters.compile_history)


def conditions(query: EntityQuery, compile: Compilers) -> tuple[list[str], list[Any]]:
    """The conditions of ``query`` (to be joined with AND) over alias ``e``, with their
    parameters in order."""
    where: list[str] = []
    params: list[Any] = []

    def add(fragment: Sql) -> None:
        where.append(fragment[0])
        params.extend(fragment[1])

    if query.ids:
        add(compile.ids(query.ids))
    if query.id_pattern is not None:
        add(compile.id_pattern(query.id_pattern))
    on_shape = []
    if query.types is not None:
        on_shape.append(compile.type_expr(query.types))
    if query.attrs:
        on_shape.append(compile.attrs(query.attrs))
    if on_shape:
        add(_of_shapes(on_shape))
    if query.selectors:
        add(_any_of([_selector(selector, compile) for selector in query.selectors]))
    if query.q is not None:
        add(compile.q(query.q))
    if query.scope_q is not None:
        add(compile.scope_q(query.scope_q))
    if query.geo is not None:
        add(compile.geo(query.geo))
    if query.history is not None:
        add(compile.history(query.history))
    return where, params


def _of_shapes(on_shape: Sequence[Sql]) -> Sql:
    """The entity's shape satisfies all these conditions over ``s``."""
    return (f"e.shape IN (SELECT s.shape FROM shapes s WHERE {' AND '.join(sql for sql, _ in on_shape)})",
            [p for _, params in on_shape for p in params])


def _selector(selector: EntitySelector, compile: Compilers) -> Sql:
    """One EntitySelector: its type, and its ids, else its id pattern (clause 5.2.33: id wins)."""
    parts = [_of_shapes([compile.type_expr(selector.type)])]
    if selector.ids:
        parts.append(compile.ids(selector.ids))
    elif selector.id_pattern is not None:
        parts.append(compile.id_pattern(selector.id_pattern))
    return " AND ".join(sql for sql, _ in parts), [p for _, params in parts for p in params]


def _any_of(alternatives: Sequence[Sql]) -> Sql:
    return ("(" + " OR ".join(f"({sql})" for sql, _ in alternatives) + ")",
            [p for _, params in alternatives for p in params])
