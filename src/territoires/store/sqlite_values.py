"""An index of attribute values, so that a selective ``q`` does not read every document.

Per tenant database, one row per scalar in the content of each top-level attribute instance:

    attr_values(name, value, rid)      name: id of the attribute IRI in ``names``

A query term that compares a top-level attribute with literals (``a==v``, ``a==v1,v2``,
``a==lo..hi``, ``a>v``…) can be answered by the rows of that attribute first. The index only
narrows: the exact condition of ``sqlite_filters`` is still applied to each candidate, so the
index must hold a superset of what can match — every scalar the q semantics may compare.

It pays only when few entities match: narrowing by a common value costs more than scanning in
creation order and stopping at the page's end. ``prefilters`` therefore asks the index how many
rows a term has (bounded) and keeps only the terms below ``SELECTIVE_ROWS``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from territoires.ngsild.model import Entity
from territoires.ngsild.query import And, AnyOf, AttrPath, Comparison, InRange, QExpr, Value

VALUES_SCHEMA = """
CREATE TABLE IF NOT EXISTS names(name INTEGER PRIMARY KEY, iri TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS attr_values(
    name INTEGER NOT NULL, value NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (name, value, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attr_values_by_entity ON attr_values(rid);
"""

# Above this many candidate rows, scanning in creation order is cheaper than narrowing.
SELECTIVE_ROWS = 2000

_INDEXED_KINDS = frozenset({"string", "uri", "term", "number", "boolean"})
_ORDERED_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<="}


def scalars(content: Any) -> Iterator[Any]:
    """The scalars a q comparison may look at in an attribute's content."""
    items = content if isinstance(content, list) else (content,)
    for item in items:
        if isinstance(item, dict):
            item = item.get("@value", item.get("object"))  # typed values, ListRelationship entries
        if isinstance(item, (str, int, float)) and not (isinstance(item, float) and item != item):
            yield item


def instance_scalars(instance: dict[str, Any]) -> Iterator[Any]:
    for member in ("value", "object", "vocab", "json", "valueList", "objectList"):
        if member in instance:
            yield from scalars(instance[member])
    language_map = instance.get("languageMap")
    if isinstance(language_map, dict):
        for text in language_map.values():
            yield from scalars(text)


def value_rows(rid: int, entity: Entity, name_id: Any) -> list[tuple[int, Any, int]]:
    """The index rows of an entity; ``name_id`` maps an attribute IRI to its id. Rows may repeat
    (the insert ignores repeats)."""
    rows: list[tuple[int, Any, int]] = []
    for iri, instances in entity["attrs"].items():
        for instance in instances:
            kind = instance["type"]
            if kind == "GeoProperty":
                continue
            # The common cases first: one scalar value or one object URI.
            content = instance.get("value") if kind == "Property" else instance.get("object")
            if kind in ("Property", "Relationship") and type(content) in (str, int, float, bool):
                rows.append((name_id(iri), content, rid))
            else:
                rows.extend((name_id(iri), scalar, rid) for scalar in instance_scalars(instance))
    return rows


def _narrowing(term: Any) -> tuple[str, str, list[Any]] | None:
    """(attribute IRI, SQL condition on ``value``, parameters) for a term the index can narrow."""
    path: AttrPath | None = getattr(term, "path", None)
    if path is None or path.sub or path.member is not None or path.keys:
        return None
    if isinstance(term, Comparison) and term.value.kind in _INDEXED_KINDS:
        if term.op == "==":
            candidates = _candidates([term.value])
            return path.attr, f"value IN ({','.join('?' * len(candidates))})", candidates
        if term.op in _ORDERED_OPS and term.value.vocab is None:
            return path.attr, f"value {_ORDERED_OPS[term.op]} ?", [term.value.value]
    if isinstance(term, AnyOf) and not term.negated and all(v.kind in _INDEXED_KINDS for v in term.values):
        candidates = _candidates(list(term.values))
        return path.attr, f"value IN ({','.join('?' * len(candidates))})", candidates
    if (isinstance(term, InRange) and not term.negated and term.low.vocab is None and term.high.vocab is None
            and term.low.kind in _INDEXED_KINDS and term.high.kind in _INDEXED_KINDS):
        return path.attr, "value BETWEEN ? AND ?", [term.low.value, term.high.value]
    return None


def _candidates(values: list[Value]) -> list[Any]:
    found: list[Any] = []
    for value in values:
        found.append(value.value)
        if value.vocab is not None:
            found.append(value.vocab)
    return found


def prefilters(conn: sqlite3.Connection, q: QExpr, names: dict[str, int]) -> list[tuple[str, list[Any]]]:
    """Conditions over alias ``e`` that narrow a query to the candidates of its selective terms."""
    terms = q.terms if isinstance(q, And) else (q,)
    found: list[tuple[str, list[Any]]] = []
    for term in terms:
        narrowing = _narrowing(term)
        if narrowing is None:
            continue
        iri, condition, params = narrowing
        name = names.get(iri)
        if name is None:
            name = _name_of(conn, iri)
            if name is None:  # no entity ever had this attribute: nothing can match
                return [("0", [])]
            names[iri] = name
        sql = f"SELECT rid FROM attr_values WHERE name = ? AND {condition}"
        args = [name, *params]
        (rows,) = conn.execute(f"SELECT count(*) FROM ({sql} LIMIT {SELECTIVE_ROWS + 1})", args).fetchone()
        if rows <= SELECTIVE_ROWS:
            found.append((f"e.rid IN ({sql})", args))
    return found


def _name_of(conn: sqlite3.Connection, iri: str) -> int | None:
    row = conn.execute("SELECT name FROM names WHERE iri = ?", (iri,)).fetchone()
    return row[0] if row else None
