"""What the SQL compilers of the query trees share whatever the database: assembling SQL
fragments with bound parameters, the names a query may address, and how a term reads.

``sqlite_filters`` and ``postgres_filters`` compile the same trees (``ngsild/query.py``) with
the same semantics; the rules that do not depend on the SQL dialect live here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.query import (
    And,
    AnyOf,
    AttrPath,
    Comparison,
    Exists,
    InRange,
    Or,
    OrderKey,
    Pattern,
    QExpr,
    QTerm,
    Scope,
    TypeExpr,
    TypeName,
    Value,
)
from territoires.store.port import NotSupported

Sql = tuple[str, list[Any]]

# Literal kinds compared as strings (a languageMap, all strings, can only match these).
TEXT_KINDS = frozenset({"string", "uri", "term", "dateTime", "date", "time"})


@dataclass(frozen=True)
class Param:
    """A bound parameter inside ``concat``."""

    value: Any


def concat(mark: str, *pieces: str | Param | Sql) -> Sql:
    """Concatenate SQL text, parameters (written ``mark``, the driver's placeholder) and
    fragments, keeping parameters in textual order."""
    text: list[str] = []
    params: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str):
            text.append(piece)
        elif isinstance(piece, Param):
            text.append(mark)
            params.append(piece.value)
        else:
            text.append(piece[0])
            params.extend(piece[1])
    return "".join(text), params


def join(fragments: Iterable[Sql], sep: str) -> Sql:
    """Fragments joined by ``sep`` (`` AND ``, `` OR ``), parenthesised when more than one."""
    fragments = list(fragments)
    if len(fragments) == 1:
        return fragments[0]
    text = sep.join(f[0] for f in fragments)
    return f"({text})", [p for f in fragments for p in f[1]]


def boolean(expr: Any, leaf: Callable[[Any], Sql]) -> Sql:
    """``expr`` (q, scopeQ) with its ``And``/``Or`` structure, each leaf compiled by ``leaf``."""
    if isinstance(expr, And):
        return join((boolean(t, leaf) for t in expr.terms), " AND ")
    if isinstance(expr, Or):
        return join((boolean(t, leaf) for t in expr.terms), " OR ")
    return leaf(expr)


def q_condition(expr: QExpr, term: Callable[[QTerm], Sql]) -> Sql:
    """``expr`` (clause 4.9), each term compiled by ``term``: ``!path`` is the negation of
    ``path``'s existence (which never compiles to NULL), so backends compile existence only."""

    def leaf(t: QTerm) -> Sql:
        if isinstance(t, Exists) and t.negated:
            sql, params = term(Exists(t.path))
            return f"NOT ({sql})", params
        return term(t)

    return boolean(expr, leaf)


def type_condition(expr: TypeExpr, has_type: Callable[[list[str]], Sql]) -> Sql:
    """A type expression (clause 4.17), ``has_type`` compiling "one of these type IRIs"."""
    if isinstance(expr, TypeName):
        return has_type([expr.iri])
    if isinstance(expr, Or) and all(isinstance(t, TypeName) for t in expr.terms):
        return has_type([t.iri for t in expr.terms])  # type: ignore[union-attr]
    sep = " AND " if isinstance(expr, And) else " OR "
    return join((type_condition(t, has_type) for t in expr.terms), sep)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Target:
    """Where, inside an attribute instance, the values a q term compares are."""

    guard: Sql | None  # condition on the instance for this target to apply
    location: Sql  # where the target value is, in the dialect's terms
    language: bool  # a languageMap (its strings at any depth), else a value or its elements
    instance_type: Sql | None  # the instance type, when the target is the content (not a member)


@dataclass(frozen=True)
class Dialect:
    """How a backend tests the targets of a term, for ``targets_condition``."""

    mark: str  # the driver's placeholder
    some: Callable[[Target, Sql], Sql]  # some element of the target satisfies a condition
    present: Callable[[Target], Sql]  # the target exists
    is_text: Callable[[Target], Sql]  # condition on an element: it is a string
    not_relationship: Callable[[Sql], Sql]  # condition on an instance type: not a relationship
    compare: Callable[[Target, str, Value], Sql]  # an element against a literal (==, <, <=, >, >=)
    pattern: Callable[[Target, str], Sql]  # an element is a string holding a match of a regex
    one_of: Callable[[Target, list[Any], list[str]], list[Sql]]  # an element is one of these numbers, strings


def targets_condition(term: QTerm, targets: Sequence[Target], dialect: Dialect) -> Sql:
    """The condition on an instance for ``term`` through ``targets`` (clause 4.9): one target
    holds an element that matches; for a negated term, one target exists (``!=``) or holds a
    string (``!~=``) and none of its elements matches; for existence, one target exists."""
    no_relationship = excludes_relationships(term)
    branches = []
    for target in targets:
        parts = [target.guard] if target.guard else []
        if no_relationship and target.instance_type is not None:
            parts.append(dialect.not_relationship(target.instance_type))
        if isinstance(term, Exists):
            parts.append(dialect.present(target))
        elif not is_negated(term):
            parts.append(dialect.some(target, element_match(term, target, dialect)))
        else:
            pattern = isinstance(term, Pattern)
            holds = dialect.some(target, dialect.is_text(target)) if pattern else dialect.present(target)
            none = dialect.some(target, element_match(term, target, dialect))
            parts.append(concat(dialect.mark, holds, " AND NOT ", none))
        branches.append(join(parts, " AND "))
    return join(branches, " OR ")


def element_match(term: QTerm, target: Target, dialect: Dialect) -> Sql:
    """The condition on one element of the target; for negated terms, the positive one."""
    if isinstance(term, Comparison):
        return dialect.compare(target, "==" if term.op == "!=" else term.op, term.value)
    if isinstance(term, InRange):
        return join([dialect.compare(target, ">=", term.low), dialect.compare(target, "<=", term.high)], " AND ")
    if isinstance(term, Pattern):
        return dialect.pattern(target, term.regex)
    assert isinstance(term, AnyOf)
    numbers, plain, rest = _split_any_of(term.values, target.instance_type is not None)
    parts = dialect.one_of(target, numbers, plain) + [dialect.compare(target, "==", v) for v in rest]
    return join(parts, " OR ") if parts else ("1 = 0", [])


def check_name(name: str) -> str:
    """``name`` (an attribute IRI or a key inside a value), refused when it holds a quote, a
    backslash or a control character: none is allowed in an IRI, and SQLite's JSON paths
    cannot address such keys, so no backend answers them."""
    if any(c in '"\\' or c < " " or c == "\x7f" for c in name):
        raise BadRequestData(
            f"cannot query {name!r}: an attribute IRI or key may not hold quotes, backslashes or control characters"
        )
    return name


def is_negated(term: QTerm) -> bool:
    """Whether the term is one of the negated forms (``!=``, ``!~=``)."""
    if isinstance(term, Comparison):
        return term.op == "!="
    return isinstance(term, Pattern | AnyOf | InRange) and term.negated


def wants_text(term: QTerm) -> bool:
    """Whether the term can match a string (else a languageMap, all strings, cannot match)."""
    if isinstance(term, Comparison):
        return term.value.kind in TEXT_KINDS
    if isinstance(term, AnyOf):
        return any(v.kind in TEXT_KINDS for v in term.values)
    if isinstance(term, InRange):
        return term.low.kind in TEXT_KINDS
    return True


def excludes_relationships(term: QTerm) -> bool:
    """Only == and != apply to relationships (clause 4.9): patterns and orderings skip them."""
    return isinstance(term, Pattern) or (isinstance(term, Comparison) and term.op not in ("==", "!="))


def _split_any_of(values: Sequence[Value], vocab_applies: bool) -> tuple[list[Any], list[Any], list[Value]]:
    """The literals of ``path==v1,v2…`` as (numbers, strings compared as they are, the rest,
    which need a comparison each: booleans, times, vocabulary terms where they apply)."""
    numbers: list[Any] = []
    plain: list[Any] = []
    rest: list[Value] = []
    for v in values:
        if v.kind == "number":
            numbers.append(v.value)
        elif v.kind in ("string", "uri", "term") and not (vocab_applies and v.vocab is not None):
            plain.append(v.value)
        else:
            rest.append(v)
    return numbers, plain, rest


def scope_regex(scope: Scope) -> str:
    """A Python regular expression matching the whole scopes ``scope`` (with ``+`` levels)
    selects."""
    levels = "/".join("[^/]+" if level == "+" else re.escape(level) for level in scope.levels)
    tail = "(?:/.*)?" if scope.descendants else ""
    return rf"\A/{levels}{tail}\Z"


def distance_attribute(key: OrderKey, order_from: dict[str, Any] | None) -> str:
    """The GeoProperty a key sorting by distance measures (clause 4.23), checked: a reference
    geometry must be given, and the key must name a whole attribute."""
    path = key.target
    assert isinstance(path, AttrPath)
    if order_from is None:
        raise BadRequestData("orderBy sorts by distance: the reference geometry (orderFrom, coordinates) is missing")
    if path.sub or path.member or path.keys:
        raise NotSupported("sorting by distance applies to a GeoProperty attribute, not to a sub-attribute or member")
    return check_name(path.attr)
