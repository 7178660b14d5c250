"""What a value index holds and which q terms it can narrow, the same for every backend.

A value index keeps, for each top-level attribute instance, every scalar a q comparison may
look at; and, under ``EXPIRES_AT``, the expiry (in microseconds since 1970) of a transient
entity and of each transient attribute instance (clause 4.22), which the expiry sweep reads. A query term that compares a top-level attribute with literals (``a==v``,
``a==v1,v2``, ``a==lo..hi``, ``a>v``…) can first be answered from the index. The index only
narrows: the exact condition still applies to each candidate, so it must hold a superset of
what can match. Driving a query from the index pays only when few entities match, so backends
first count (bounded) the rows of a term and narrow to them only below ``SELECTIVE_ROWS``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from territoires.ngsild.model import NGSI_LD, Entity
from territoires.ngsild.query import AnyOf, AttrPath, Comparison, InRange, QExpr, Value
from territoires.store.temporal_common import to_micros

# The index name of expiries: the core term, which no attribute of an entity may take.
EXPIRES_AT = NGSI_LD + "expiresAt"
# Above this many candidate rows, scanning in creation order is cheaper than narrowing.
SELECTIVE_ROWS = 2000

_INDEXED_KINDS = frozenset({"string", "uri", "term", "number", "boolean"})
ORDERED_OPS = frozenset({">", ">=", "<", "<="})
# Databases store integers in 64 bits; JSON integers beyond are indexed as the nearest double,
# as q parses such literals: the order is kept, so the index still holds every candidate.
_INT64 = 2**63


def _indexable(scalar: Any) -> Any:
    return float(scalar) if type(scalar) is int and not -_INT64 <= scalar < _INT64 else scalar


def scalars(content: Any) -> Iterator[Any]:
    """The scalars a q comparison may look at in an attribute's content."""
    items = content if isinstance(content, list) else (content,)
    for item in items:
        if isinstance(item, dict):
            item = item.get("@value", item.get("object"))  # typed values, ListRelationship entries
        if isinstance(item, (str, int, float)) and not (isinstance(item, float) and math.isnan(item)):
            yield _indexable(item)


def instance_scalars(instance: dict[str, Any]) -> Iterator[Any]:
    for member in ("value", "object", "vocab", "json", "valueList", "objectList"):
        if member in instance:
            yield from scalars(instance[member])
    language_map = instance.get("languageMap")
    if isinstance(language_map, dict):
        for text in language_map.values():
            yield from scalars(text)


def entity_scalars(entity: Entity) -> Iterator[tuple[str, Any]]:
    """(attribute IRI, scalar) for every scalar of the entity's attributes, and (``EXPIRES_AT``,
    microseconds) for each expiry it holds; may repeat."""
    if "expiresAt" in entity:
        yield EXPIRES_AT, to_micros(entity["expiresAt"])
    for iri, instances in entity["attrs"].items():
        for instance in instances:
            if "expiresAt" in instance:
                yield EXPIRES_AT, to_micros(instance["expiresAt"])
            kind = instance["type"]
            if kind == "GeoProperty":
                continue
            # The common cases first: one scalar value or one object URI.
            content = instance.get("value") if kind == "Property" else instance.get("object")
            if kind in ("Property", "Relationship") and type(content) in (str, int, float, bool):
                yield iri, _indexable(content)
            else:
                for scalar in instance_scalars(instance):
                    yield iri, scalar


class Verdicts:
    """Whether terms were found selective, by their latest count. Counting costs about as much as
    the rest of a broad query, and screens repeat their queries; a stale verdict costs time only
    (the index only narrows), so one is trusted for a few seconds."""

    SECONDS = 5.0
    KEPT = 1024

    def __init__(self) -> None:
        self._found: dict[Hashable, tuple[bool, float]] = {}

    def selective(self, term: Hashable, count: Callable[[], int]) -> bool:
        """Whether ``term`` has at most ``SELECTIVE_ROWS`` index rows; ``count`` counts them
        (bounded: up to one more)."""
        now = time.monotonic()
        found = self._found.get(term)
        if found is not None and found[1] > now:
            return found[0]
        verdict = count() <= SELECTIVE_ROWS
        if len(self._found) >= self.KEPT:
            self._found.clear()
        self._found[term] = (verdict, now + self.SECONDS)
        return verdict


@dataclass(frozen=True)
class Narrowing:
    """What a term asks of the index: rows of ``attr`` whose value is one of ``values``
    (``op`` "in"), compares with ``values[0]`` (``op`` one of ``ORDERED_OPS``), or lies between
    ``values[0]`` and ``values[1]`` (``op`` "between")."""

    attr: str
    op: str
    values: tuple[Any, ...]


def narrowing(term: QExpr) -> Narrowing | None:
    """The narrowing of a term the index can serve, or None."""
    path: AttrPath | None = getattr(term, "path", None)
    if path is None or path.sub or path.member is not None or path.keys or path.linked is not None:
        return None
    if isinstance(term, Comparison) and term.value.kind in _INDEXED_KINDS:
        if term.op == "==":
            return Narrowing(path.attr, "in", _candidates([term.value]))
        if term.op in ORDERED_OPS and term.value.vocab is None:
            return Narrowing(path.attr, term.op, (term.value.value,))
    if isinstance(term, AnyOf) and not term.negated and all(v.kind in _INDEXED_KINDS for v in term.values):
        return Narrowing(path.attr, "in", _candidates(list(term.values)))
    if (isinstance(term, InRange) and not term.negated and term.low.vocab is None and term.high.vocab is None
            and term.low.kind in _INDEXED_KINDS and term.high.kind in _INDEXED_KINDS):
        return Narrowing(path.attr, "between", (term.low.value, term.high.value))
    return None


def _candidates(values: list[Value]) -> tuple[Any, ...]:
    found: list[Any] = []
    for value in values:
        found.append(value.value)
        if value.vocab is not None:
            found.append(value.vocab)
    return tuple(found)
