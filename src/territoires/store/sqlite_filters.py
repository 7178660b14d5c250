"""Compile the NGSI-LD query trees (``ngsild/query.py``) to SQLite boolean expressions.

Each ``compile_*`` returns ``(sql, params)``: an expression over a row alias and its
positional parameters, in order. Values are always bound; attribute IRIs and JSON keys go
into JSON paths, which are bound too, and are refused when they hold a character that could
end a quoted path key (``"``, ``\\``, control characters: none is allowed in an IRI anyway).

Against the tenant layout of ``store/sqlite.py``:
- ``e.doc``: the entity in internal form (``ngsild/model.py``) as JSON, ``e.shape`` its shape;
- ``shapes(shape, types, attrs)``: per shape, the type IRIs and ``{attr IRI: [kinds]}``.

A shape is the exact combination of an entity's types and attribute names (with their
kinds), so every q term first restricts ``e.shape`` to the shapes that have the attribute: an
uncorrelated subquery over the small shapes table, which the ``entities(shape, rid)`` index
can serve. Only candidate rows have their document parsed (the cost per row: SQLite parses
the whole document once per term), and existence alone reads no document at all.
``compile_scope_q`` and ``~=`` need the ``regexp`` function of ``register_functions``.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.model import MAIN_MEMBER
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
    ScopeExpr,
    TypeExpr,
    TypeName,
    Value,
)
from territoires.store.port import NotSupported

Sql = tuple[str, list[Any]]


# ---- fragments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _P:
    """A bound parameter inside ``_cat``."""

    value: Any


def _cat(*pieces: str | _P | Sql) -> Sql:
    """Concatenate SQL text, parameters and fragments, keeping parameters in textual order."""
    text: list[str] = []
    params: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str):
            text.append(piece)
        elif isinstance(piece, _P):
            text.append("?")
            params.append(piece.value)
        else:
            text.append(piece[0])
            params.extend(piece[1])
    return "".join(text), params


def _join(fragments: Iterable[Sql], sep: str) -> Sql:
    fragments = list(fragments)
    if len(fragments) == 1:
        return fragments[0]
    pieces: list[str | Sql] = ["("]
    for i, fragment in enumerate(fragments):
        if i:
            pieces.append(sep)
        pieces.append(fragment)
    pieces.append(")")
    return _cat(*pieces)


def _key(name: str) -> str:
    """``name`` as a quoted JSON path key. SQLite reads a quoted key up to the next ``"`` and
    compares it with the raw JSON text, so keys needing escapes cannot be addressed."""
    if any(c in '"\\' or c < " " or c == "\x7f" for c in name):
        raise BadRequestData(
            f"cannot query {name!r}: an attribute IRI or key may not hold quotes, backslashes or control characters"
        )
    return f'."{name}"'


# ---- q ----------------------------------------------------------------------------------------

# The member holding an instance's content, by attribute type (after "CASE <type>");
# LanguageProperty is walked apart.
_MAIN_WHEN = (
    "".join(
        f" WHEN '{kind}' THEN '.{member}'"
        for kind, member in MAIN_MEMBER.items()
        if member != "value" and kind != "LanguageProperty"
    )
    + " ELSE '.value' END"
)
_RELATIONSHIPS = "('Relationship', 'ListRelationship')"
# The string an array element stands for: itself, a typed literal's @value (DateTime values
# written {"@type": "DateTime", "@value": …}), or a ListRelationship entry's object.
_ELEMENT_TEXT = (
    "(CASE v.type WHEN 'text' THEN v.value WHEN 'object' THEN coalesce("
    "CASE json_type(v.value, '$.\"@value\"') WHEN 'text' THEN json_extract(v.value, '$.\"@value\"') END, "
    "CASE json_type(v.value, '$.object') WHEN 'text' THEN json_extract(v.value, '$.object') END) END)"
)
_DATETIME_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:*'"
_DATE_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
_TIME_GLOB = "'[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'"
_SQL_OP = {"==": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_TEXT_KINDS = frozenset({"string", "uri", "term", "dateTime", "date", "time"})


def compile_q(expr: QExpr) -> Sql:
    """A boolean expression over entity row ``e`` selecting the entities matching ``expr``
    (clause 4.9). An attribute with several instances matches when one instance does; a
    target holding an array matches when one element does; a LanguageProperty matches on
    any of its strings, or on one language's with ``attr[lang]``; values of another JSON type
    than the literal's never match; dates, times and dateTimes compare as times."""
    if isinstance(expr, And):
        return _join((compile_q(t) for t in expr.terms), " AND ")
    if isinstance(expr, Or):
        return _join((compile_q(t) for t in expr.terms), " OR ")
    return _q_term(expr)


def _q_term(term: QTerm) -> Sql:
    path = term.path
    has_attr = _cat(
        "e.shape IN (SELECT shape FROM shapes WHERE json_type(attrs, ", _P("$" + _key(path.attr)), ") IS NOT NULL)"
    )
    if isinstance(term, Exists) and not (path.sub or path.member or path.keys):
        return has_attr  # the shape lists exactly the entity's attributes: no document to read
    instances = _P("$.attrs" + _key(path.attr))
    return _cat(
        "(", has_attr, " AND EXISTS (SELECT 1 FROM json_each(e.doc, ", instances, ") AS i WHERE ",
        _on_instance(term), "))",
    )


@dataclass(frozen=True)
class _Target:
    """Where, inside an instance ``i``, the values a term compares are, and how to walk them."""

    guard: Sql | None  # condition on the instance for this target to apply
    location: Sql  # JSON path (an SQL expression) relative to i.value
    walk: str  # "json_each" (the value, or an array's elements) or "json_tree" (a languageMap)
    text: str  # SQL for an element's string, NULL for non-strings
    instance_type: Sql | None  # the instance type, when the target is the content (not a member)


def _on_instance(term: QTerm) -> Sql:
    """The condition on one attribute instance ``i`` (a row of json_each over the instances)."""
    path = term.path
    base = "$" + "".join(".attrs" + _key(s) for s in path.sub)
    keys = "".join(_key(k) for k in path.keys)
    if isinstance(term, Exists):
        if not path.keys:
            return _cat("json_type(i.value, ", _P(base + (f".{path.member}" if path.member else "")), ") IS NOT NULL")
        return _join((_guarded(t, [], _exists_at(t)) for t in _targets(path, base, keys, need_text=True)), " OR ")
    negated = _is_negated(term)
    # Only == and != apply to relationships (clause 4.9).
    no_relationship = isinstance(term, Pattern) or (isinstance(term, Comparison) and term.op not in ("==", "!="))
    branches = []
    for target in _targets(path, base, keys, need_text=negated or _wants_text(term)):
        extra = []
        if no_relationship and target.instance_type is not None:
            extra.append(_cat("ifnull(", target.instance_type, ", '') NOT IN ", _RELATIONSHIPS))
        match = _element_match(term, target)
        if not negated:
            condition = _any_element(target, match)
        elif isinstance(term, Pattern):  # !~= holds on a string target that does not match
            is_text = _any_element(target, target.text + " IS NOT NULL")
            condition = _cat(is_text, " AND NOT ", _any_element(target, match))
        else:  # != holds on a present target none of whose elements is equal
            condition = _cat(_exists_at(target), " AND NOT ", _any_element(target, match))
        branches.append(_guarded(target, extra, condition))
    return _join(branches, " OR ")


def _is_negated(term: QTerm) -> bool:
    if isinstance(term, Comparison):
        return term.op == "!="
    return isinstance(term, Pattern | AnyOf | InRange) and term.negated


def _guarded(target: _Target, extra: list[Sql], condition: Sql) -> Sql:
    return _join([*([target.guard] if target.guard else []), *extra, condition], " AND ")


def _instance_type(base: str) -> Sql:
    return _cat("json_extract(i.value, ", _P(base + ".type"), ")")


def _targets(path: AttrPath, base: str, keys: str, need_text: bool) -> list[_Target]:
    if path.member is not None:
        return [_Target(None, _cat(_P(f"{base}.{path.member}")), "json_each", _ELEMENT_TEXT, None)]
    ty = _instance_type(base)
    main = _cat(_P(base), " || CASE ", ty, _MAIN_WHEN, " || ", _P(keys))
    targets = [
        _Target(_cat(ty, " IS NOT 'LanguageProperty'"), main, "json_each", _ELEMENT_TEXT, ty),
    ]
    # A languageMap holds strings or arrays of strings; [lang] picks one language, [*] any.
    if need_text and len(path.keys) <= 1:
        language = "" if not path.keys or path.keys[0] == "*" else _key(path.keys[0])
        targets.append(
            _Target(_cat(ty, " = 'LanguageProperty'"), _cat(_P(f"{base}.languageMap{language}")), "json_tree",
                    "v.value", None)
        )
    return targets


def _exists_at(target: _Target) -> Sql:
    return _cat("json_type(i.value, ", target.location, ") IS NOT NULL")


def _any_element(target: _Target, condition: str | Sql) -> Sql:
    # json_each over a scalar gives the scalar (key NULL), over an array its elements (integer
    # keys); an object's members (text keys) are not elements of the target value, except the
    # @value of a typed literal ({"@type": "DateTime", "@value": "…"}), which is its value.
    only = "(typeof(v.key) <> 'text' OR v.key = '@value')" if target.walk == "json_each" else "v.type = 'text'"
    return _cat(
        f"EXISTS (SELECT 1 FROM {target.walk}(i.value, ", target.location, f") AS v WHERE {only} AND ",
        condition, ")",
    )


def _wants_text(term: QTerm) -> bool:
    """Whether the term can match a string (else a languageMap, all strings, cannot match)."""
    if isinstance(term, Comparison):
        return term.value.kind in _TEXT_KINDS
    if isinstance(term, AnyOf):
        return any(v.kind in _TEXT_KINDS for v in term.values)
    if isinstance(term, InRange):
        return term.low.kind in _TEXT_KINDS
    return True


def _element_match(term: QTerm, target: _Target) -> Sql:
    """The condition on one element ``v`` of the target; for negated terms, the positive one."""
    if isinstance(term, Comparison):
        return _compare(target, "==" if term.op == "!=" else term.op, term.value)
    if isinstance(term, InRange):
        return _join([_compare(target, ">=", term.low), _compare(target, "<=", term.high)], " AND ")
    if isinstance(term, Pattern):
        return _cat(target.text, " REGEXP ", _P(term.regex))
    assert isinstance(term, AnyOf)
    numbers: list[Any] = []
    plain: list[Any] = []  # strings compared as they are
    rest: list[Value] = []
    for v in term.values:
        if v.kind == "number":
            numbers.append(v.value)
        elif v.kind in ("string", "uri", "term") and not _vocab_applies(target, v):
            plain.append(v.value)
        else:
            rest.append(v)
    parts: list[Sql] = []
    if numbers:
        parts.append(_cat("(v.type IN ('integer', 'real') AND v.value IN (", _marks(numbers), "))"))
    if plain:
        parts.append(_cat(target.text, " IN (", _marks(plain), ")"))
    parts.extend(_compare(target, "==", v) for v in rest)
    return _join(parts, " OR ")


def _marks(values: list[Any]) -> Sql:
    return ", ".join("?" * len(values)), list(values)


def _vocab_applies(target: _Target, value: Value) -> bool:
    return target.instance_type is not None and value.vocab is not None


def _compare(target: _Target, op: str, value: Value) -> Sql:
    sql_op = _SQL_OP[op]
    text = target.text
    kind = value.kind
    if kind == "number":
        return _cat(f"(v.type IN ('integer', 'real') AND v.value {sql_op} ", _P(value.value), ")")
    if kind == "boolean":
        return (f"v.type = '{'true' if value.value else 'false'}'", [])
    if kind == "dateTime":
        return _cat(f"({text} GLOB {_DATETIME_GLOB} AND julianday({text}) {sql_op} julianday(", _P(value.value), "))")
    if kind == "time":
        return _cat(f"({text} GLOB {_TIME_GLOB} AND julianday({text}) {sql_op} julianday(", _P(value.value), "))")
    if kind == "date":
        return _cat(f"({text} GLOB {_DATE_GLOB} AND {text} {sql_op} ", _P(value.value), ")")
    if _vocab_applies(target, value):
        assert target.instance_type is not None
        literal = _cat("CASE ", target.instance_type, " WHEN 'VocabProperty' THEN ", _P(value.vocab), " ELSE ",
                       _P(value.value), " END")
        return _cat(f"{text} {sql_op} (", literal, ")")
    return _cat(f"{text} {sql_op} ", _P(value.value))


# ---- scopeQ -------------------------------------------------------------------------------------


def compile_scope_q(expr: ScopeExpr) -> Sql:
    """A boolean expression over entity row ``e``: its scopes match ``expr`` (clause 4.19)."""
    if isinstance(expr, And):
        return _join((compile_scope_q(t) for t in expr.terms), " AND ")
    if isinstance(expr, Or):
        return _join((compile_scope_q(t) for t in expr.terms), " OR ")
    return _cat("EXISTS (SELECT 1 FROM json_each(e.doc, '$.scope') AS sc WHERE ", _scope_match(expr), ")")


def _scope_match(scope: Scope) -> Sql:
    if not scope.levels:  # "/#": any scope at all
        return ("1", [])
    if "+" in scope.levels:
        levels = "/".join("[^/]+" if level == "+" else re.escape(level) for level in scope.levels)
        tail = "(?:/.*)?" if scope.descendants else ""
        return _cat("sc.value REGEXP ", _P(rf"\A/{levels}{tail}\Z"))
    exact = "/" + "/".join(scope.levels)
    if not scope.descendants:
        return _cat("sc.value = ", _P(exact))
    return _cat("(sc.value = ", _P(exact), " OR substr(sc.value, 1, ", _P(len(exact) + 1), ") = ", _P(exact + "/"), ")")


# ---- type expressions ---------------------------------------------------------------------------


def compile_type_expr(expr: TypeExpr) -> Sql:
    """A boolean expression over shapes row ``s``: its types satisfy ``expr`` (clause 4.17)."""
    if isinstance(expr, TypeName):
        return _has_type([expr.iri])
    if isinstance(expr, Or) and all(isinstance(t, TypeName) for t in expr.terms):
        return _has_type([t.iri for t in expr.terms])  # type: ignore[union-attr]
    sep = " AND " if isinstance(expr, And) else " OR "
    return _join((compile_type_expr(t) for t in expr.terms), sep)


def _has_type(iris: list[str]) -> Sql:
    return _cat("EXISTS (SELECT 1 FROM json_each(s.types) AS t WHERE t.value IN (", _marks(iris), "))")


# ---- orderBy ------------------------------------------------------------------------------------

# The member holding an instance's content, by attribute type (after "CASE <type>").
_CONTENT_WHEN = (
    "".join(f" WHEN '{kind}' THEN '.{member}'" for kind, member in MAIN_MEMBER.items() if member != "value")
    + " ELSE '.value' END"
)
# Rank of a value's kind (clause 4.23.2): numbers, strings, objects, arrays, booleans, Time,
# Date, DateTime (typed literals), then JSON null (8) and no value at all (9).
_KIND_RANK = (
    "CASE json_type(j) WHEN 'integer' THEN 0 WHEN 'real' THEN 0 WHEN 'text' THEN 1"
    " WHEN 'object' THEN CASE j ->> '$.\"@type\"' WHEN 'Time' THEN 5 WHEN 'Date' THEN 6"
    " WHEN 'DateTime' THEN 7 ELSE 2 END"
    " WHEN 'array' THEN 3 WHEN 'true' THEN 4 WHEN 'false' THEN 4 WHEN 'null' THEN 8 ELSE 9 END"
)
# The value compared within a kind: times and dateTimes as instants, the rest as SQLite reads
# the JSON (numbers, text, false < true, objects and arrays by their JSON text).
_KIND_VALUE = (
    "CASE j ->> '$.\"@type\"' WHEN 'DateTime' THEN julianday(j ->> '$.\"@value\"')"
    " WHEN 'Time' THEN julianday(j ->> '$.\"@value\"') WHEN 'Date' THEN j ->> '$.\"@value\"'"
    " ELSE j ->> '$' END"
)


def compile_order_by(keys: Sequence[OrderKey], collation: str | None = None) -> Sql:
    """The ``ORDER BY`` terms (without the keywords) over entity row ``e`` ordering by ``keys``
    as ``EntityQuery.order_by`` documents (clause 4.23); the caller appends its own final
    tie-break (``e.rid``). Empty text for no keys. Strings compare by code point: another
    ``collation``, like sorting by distance, raises ``NotSupported``."""
    if keys and collation is not None:
        raise NotSupported(f"collation {collation}: this broker orders strings by Unicode code point only")
    pieces: list[str | Sql] = []
    for i, key in enumerate(keys):
        if key.by_distance:
            raise NotSupported("sorting by distance (dist-asc, dist-desc) is not supported by this broker")
        pieces.extend([", "] if i else [])
        pieces.append(_order_terms(key))
    return _cat(*pieces)


def _order_terms(key: OrderKey) -> Sql:
    way = " DESC" if key.descending else ""
    target = key.target
    if target == "id":
        return (f"e.id{way}", [])
    if target in ("createdAt", "modifiedAt"):
        return (f"json_extract(e.doc, '$.{target}'){way}", [])
    if target == "type":  # a shape lists its types sorted: the first is the smallest
        return (f"(SELECT s.types ->> '$[0]' FROM shapes s WHERE s.shape = e.shape){way}", [])
    if target == "scope":
        smallest = "(SELECT min(sc.value) FROM json_each(e.doc, '$.scope') AS sc)"
        return (f"{smallest} IS NULL, {smallest}{way}", [])
    assert isinstance(target, AttrPath)
    if target.member is not None:
        return _order_member_terms(target, way)
    # Each term reads the document once: derived tables are not flattened into several copies.
    value = _order_value(target)
    # Null (8) and no value (9) stay last whichever the direction.
    rank = f"CASE WHEN r >= 8 THEN r ELSE {'7 - r' if key.descending else 'r'} END"
    return _cat(
        f"(SELECT {rank} FROM (SELECT {_KIND_RANK} AS r FROM ", value, ")), ",
        f"(SELECT {_KIND_VALUE} FROM ", value, f"){way}",
    )


def _instance_path(path: AttrPath) -> str:
    """The JSON path of the (sub-)attribute instance ``path`` reads: the first instance."""
    return "$.attrs" + _key(path.attr) + "[0]" + "".join(".attrs" + _key(s) for s in path.sub)


# A dateTime member (validated ``YYYY-MM-DDThh:mm:ss[.ffffff]Z``) as text with six fraction
# digits, so that text order is time order ("…:00Z" and "…:00.5Z" differ in length).
_INSTANT_TEXT = (
    "substr(t, 1, 19) || substr(CASE WHEN rtrim(substr(t, 20), 'Z') = '' THEN '.'"
    " ELSE rtrim(substr(t, 20), 'Z') END || '000000', 1, 7)"
)


def _order_member_terms(path: AttrPath, way: str) -> Sql:
    """Terms for a member of an instance (``name.observedAt``): strings, absent last."""
    member = _cat("json_extract(e.doc, ", _P(f"{_instance_path(path)}.{path.member}"), ")")
    text = _INSTANT_TEXT if path.member in ("observedAt", "createdAt", "modifiedAt") else "t"
    return _cat(member, " IS NULL, ", f"(SELECT {text} FROM (SELECT ", member, f" AS t)){way}")


def _order_value(path: AttrPath) -> Sql:
    """A derived table of one row, column ``j``: the JSON text of the value ``path`` reaches
    in the first instance of its attribute, or NULL when there is none."""
    keys = "".join(_key(k) for k in path.keys)
    return _cat(
        "(SELECT i -> ('$' || CASE i ->> '$.type'", _CONTENT_WHEN, " || ", _P(keys), ") AS j FROM (SELECT e.doc -> ",
        _P(_instance_path(path)), " AS i))",
    )


# ---- SQL functions -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def _regexp(pattern: Any, value: Any) -> int:
    """SQLite's ``value REGEXP pattern``: 1 when ``pattern`` is found in ``value`` (searched,
    not anchored); 0 for non-strings and for patterns Python cannot compile."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return 0
    compiled = _compiled(pattern)
    return 1 if compiled is not None and compiled.search(value) else 0


def register_functions(conn: sqlite3.Connection) -> None:
    """Give ``conn`` the ``regexp(pattern, value)`` function the compiled filters use."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)
