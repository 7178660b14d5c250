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
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from territoires.ngsild.model import MAIN_MEMBER
from territoires.ngsild.query import AttrPath, Exists, OrderKey, QExpr, QTerm, Scope, ScopeExpr, TypeExpr, Value
from territoires.store.filter_common import (
    Dialect,
    Sql,
    Target,
    boolean,
    check_name,
    concat,
    distance_attribute,
    is_negated,
    q_condition,
    scope_regex,
    targets_condition,
    type_condition,
    wants_text,
)
from territoires.store.filter_common import Param as _P
from territoires.store.port import HistoryFilter, NotSupported
from territoires.store.sqlite_temporal import SERIES_OF_ENTITY
from territoires.store.temporal_common import history_condition

# ---- fragments ------------------------------------------------------------------------------


def _cat(*pieces: str | _P | Sql) -> Sql:
    return concat("?", *pieces)


def _key(name: str) -> str:
    """``name`` as a quoted JSON path key. SQLite reads a quoted key up to the next ``"`` and
    compares it with the raw JSON text, so keys needing escapes cannot be addressed."""
    return f'."{check_name(name)}"'


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


def compile_q(expr: QExpr) -> Sql:
    """A boolean expression over entity row ``e`` selecting the entities matching ``expr``
    (clause 4.9). An attribute with several instances matches when one instance does; a
    target holding an array matches when one element does; a LanguageProperty matches on
    any of its strings, or on one language's with ``attr[lang]``; values of another JSON type
    than the literal's never match; dates, times and dateTimes compare as times. ``!path``
    matches the entities no instance of which has what ``path`` names."""
    return q_condition(expr, _q_term)


def _q_term(term: QTerm, row: str = "e") -> Sql:
    """``term`` over the entity row ``row``."""
    path = term.path
    has_attr = _cat(
        row, ".shape IN (SELECT shape FROM shapes WHERE json_type(attrs, ", _P("$" + _key(path.attr)), ") IS NOT NULL)"
    )
    if path.linked is not None:
        return _cat("(", has_attr, " AND ", _linked_term(term, row), ")")
    if isinstance(term, Exists) and not (path.sub or path.member or path.keys):
        return has_attr  # the shape lists exactly the entity's attributes: no document to read
    instances = _P("$.attrs" + _key(path.attr))
    return _cat(
        "(", has_attr, " AND EXISTS (SELECT 1 FROM json_each(", row, ".doc, ", instances, ") AS i WHERE ",
        _on_instance(term), "))",
    )


def _linked_term(term: QTerm, row: str) -> Sql:
    """A Linked Entity sub-query (clause 4.9): an instance of the Relationship ``path.attr`` of
    ``row`` targets a stored entity (of the types given) on which ``term`` holds for the linked
    path. Each nesting level has its own aliases (``row`` + ``l``)."""
    path = term.path
    linked = path.linked
    assert linked is not None
    target = row + "l"
    of_types = (_cat(target, ".shape IN (SELECT shape FROM shapes s WHERE ", _has_type(list(linked.types)), ") AND ")
                if linked.types else ("", []))
    return _cat(
        "EXISTS (SELECT 1 FROM json_each(", row, ".doc, ", _P("$.attrs" + _key(path.attr)), ") AS ", row, "r ",
        "JOIN entities ", target, " ON ", target, ".id IN (SELECT value FROM json_each(", row, "r.value, '$.object')) ",
        "WHERE ", of_types, _q_term(replace(term, path=linked.path), target), ")",
    )


def _on_instance(term: QTerm) -> Sql:
    """The condition on one attribute instance ``i`` (a row of json_each over the instances)."""
    path = term.path
    base = "$" + "".join(".attrs" + _key(s) for s in path.sub)
    keys = "".join(_key(k) for k in path.keys)
    if isinstance(term, Exists) and not path.keys:
        return _cat("json_type(i.value, ", _P(base + (f".{path.member}" if path.member else "")), ") IS NOT NULL")
    targets = _targets(path, base, keys, need_text=is_negated(term) or wants_text(term))
    return targets_condition(term, targets, _DIALECT)


def _instance_type(base: str) -> Sql:
    return _cat("json_extract(i.value, ", _P(base + ".type"), ")")


def _targets(path: AttrPath, base: str, keys: str, need_text: bool) -> list[Target]:
    if path.member is not None:
        return [Target(None, _cat(_P(f"{base}.{path.member}")), False, None)]
    ty = _instance_type(base)
    main = _cat(_P(base), " || CASE ", ty, _MAIN_WHEN, " || ", _P(keys))
    targets = [Target(_cat(ty, " IS NOT 'LanguageProperty'"), main, False, ty)]
    # A languageMap holds strings or arrays of strings; [lang] picks one language, [*] any.
    if need_text and len(path.keys) <= 1:
        language = "" if not path.keys or path.keys[0] == "*" else _key(path.keys[0])
        targets.append(Target(_cat(ty, " = 'LanguageProperty'"), _cat(_P(f"{base}.languageMap{language}")), True, None))
    return targets


def _exists_at(target: Target) -> Sql:
    return _cat("json_type(i.value, ", target.location, ") IS NOT NULL")


def _text(target: Target) -> str:
    """SQL for an element's string, NULL for non-strings (a languageMap walk gives strings only)."""
    return "v.value" if target.language else _ELEMENT_TEXT


def _any_element(target: Target, condition: Sql) -> Sql:
    # json_each over a scalar gives the scalar (key NULL), over an array its elements (integer
    # keys); an object's members (text keys) are not elements of the target value, except the
    # @value of a typed literal ({"@type": "DateTime", "@value": "…"}), which is its value.
    # A languageMap is walked by json_tree, for its strings at any depth.
    walk = "json_tree" if target.language else "json_each"
    only = "v.type = 'text'" if target.language else "(typeof(v.key) <> 'text' OR v.key = '@value')"
    return _cat(
        f"EXISTS (SELECT 1 FROM {walk}(i.value, ", target.location, f") AS v WHERE {only} AND ",
        condition, ")",
    )


def _pattern(target: Target, regex: str) -> Sql:
    return _cat(_text(target), " REGEXP ", _P(regex))


def _one_of(target: Target, numbers: list[Any], plain: list[str]) -> list[Sql]:
    parts: list[Sql] = []
    if numbers:
        parts.append(_cat("(v.type IN ('integer', 'real') AND v.value IN (", _marks(numbers), "))"))
    if plain:
        parts.append(_cat(_text(target), " IN (", _marks(plain), ")"))
    return parts


def _marks(values: list[Any]) -> Sql:
    return ", ".join("?" * len(values)), list(values)


def _vocab_applies(target: Target, value: Value) -> bool:
    return target.instance_type is not None and value.vocab is not None


def _compare(target: Target, op: str, value: Value) -> Sql:
    sql_op = _SQL_OP[op]
    text = _text(target)
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


_DIALECT = Dialect(
    mark="?",
    some=_any_element,
    present=_exists_at,
    is_text=lambda target: (_text(target) + " IS NOT NULL", []),
    not_relationship=lambda instance_type: _cat("ifnull(", instance_type, ", '') NOT IN ", _RELATIONSHIPS),
    compare=_compare,
    pattern=_pattern,
    one_of=_one_of,
)


# ---- scopeQ -------------------------------------------------------------------------------------


def compile_scope_q(expr: ScopeExpr) -> Sql:
    """A boolean expression over entity row ``e``: its scopes match ``expr`` (clause 4.19)."""
    return boolean(expr, lambda scope: _cat(
        "EXISTS (SELECT 1 FROM json_each(e.doc, '$.scope') AS sc WHERE ", _scope_match(scope), ")"))


def _scope_match(scope: Scope) -> Sql:
    if not scope.levels:  # "/#": any scope at all
        return ("1", [])
    if "+" in scope.levels:
        return _cat("sc.value REGEXP ", _P(scope_regex(scope)))
    exact = "/" + "/".join(scope.levels)
    if not scope.descendants:
        return _cat("sc.value = ", _P(exact))
    return _cat("(sc.value = ", _P(exact), " OR substr(sc.value, 1, ", _P(len(exact) + 1), ") = ", _P(exact + "/"), ")")


# ---- type expressions ---------------------------------------------------------------------------


def compile_ids(ids: Sequence[str]) -> Sql:
    """A boolean expression over entity row ``e``: its id is one of ``ids``."""
    return f"e.id IN ({','.join('?' * len(ids))})", list(ids)


def compile_history(history: HistoryFilter) -> Sql:
    """A boolean expression over entity row ``e``: its history holds an instance ``history`` selects."""
    return history_condition(history, "?", SERIES_OF_ENTITY)


def compile_id_pattern(pattern: str) -> Sql:
    """A boolean expression over entity row ``e``: its id matches the regular expression
    (searched, not anchored; ``register_functions`` installs ``regexp``)."""
    return "regexp(?, e.id)", [pattern]


def compile_attrs(attrs: Sequence[str]) -> Sql:
    """A boolean expression over shapes row ``s``: the shape has at least one of ``attrs``."""
    return f"EXISTS (SELECT 1 FROM json_each(s.attrs) a WHERE a.key IN ({','.join('?' * len(attrs))}))", list(attrs)


def compile_type_expr(expr: TypeExpr) -> Sql:
    """A boolean expression over shapes row ``s``: its types satisfy ``expr`` (clause 4.17)."""
    return type_condition(expr, _has_type)


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


def compile_order_by(
    keys: Sequence[OrderKey], collation: str | None = None, order_from: dict[str, Any] | None = None
) -> Sql:
    """The ``ORDER BY`` terms (without the keywords) over entity row ``e`` ordering by ``keys``
    as ``EntityQuery.order_by`` documents (clause 4.23); the caller appends its own final
    tie-break (``e.rid``). Empty text for no keys. Strings compare by code point: another
    ``collation`` raises ``NotSupported``. Keys sorting by distance measure from ``order_from``
    (GeoJSON) to the nearest instance of their GeoProperty (``sqlite_geo.geo_distance``);
    entities without one come last."""
    if keys and collation is not None:
        raise NotSupported(f"collation {collation}: this broker orders strings by Unicode code point only")
    pieces: list[str | Sql] = []
    for i, key in enumerate(keys):
        pieces.extend([", "] if i else [])
        pieces.append(_distance_terms(key, order_from) if key.by_distance else _order_terms(key))
    return _cat(*pieces)


def _distance_terms(key: OrderKey, order_from: dict[str, Any] | None) -> Sql:
    attr = distance_attribute(key, order_from)
    # Computed once per entity: no GeoProperty counts as farther than any distance (-1 when
    # descending), so it comes last both ways.
    absent, way = ("-1", " DESC") if key.descending else ("9e999", "")
    return _cat(
        "(SELECT ifnull(min(geo_distance(", _P(orjson.dumps(order_from).decode()), f", i.value)), {absent}) ",
        "FROM json_each(e.doc, ", _P("$.attrs" + _key(attr)), f") AS i){way}",
    )


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
