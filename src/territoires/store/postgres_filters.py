"""Compile the NGSI-LD query trees (``ngsild/query.py``) to PostgreSQL expressions with exactly
the semantics ``sqlite_filters`` gives them on SQLite (the same entities match, in the same
order, with the same errors), so that both backends pass one contract.

Each ``compile_*`` returns ``(sql, params)``: SQL with psycopg placeholders (``%s``; the text
holds no other ``%``) and its parameters in order. Every value, IRI, JSON key and pattern is
bound, never spliced. Against ``postgres_migrations/0001_entities.sql``:
- ``e``: a row of ``entities``; ``e.doc`` is the entity in internal form (``ngsild/model.py``),
  as jsonb;
- ``s``: a row of ``shapes``; ``s.types`` its type IRIs, ``s.attrs`` ``{attr IRI: [kinds]}``.
Row-level security already keeps to the session's tenant.

Where SQLite's behaviour is that of its engine, it is reproduced here rather than PostgreSQL's:
strings compare by code point (``COLLATE "C"``), dates and times as SQLite's ``julianday``
reads them (milliseconds, ``_julian_ms``), regular expressions as Python's ``re``
(``postgres_regex``), SQL NULLs first when ascending and last when descending.

What differs, because PostgreSQL cannot do otherwise or does more:
- ordering by values that are JSON objects with several members: SQLite compares their JSON
  text as written, jsonb keeps no member order (it compares its own canonical text);
- ``julianday`` of a typed literal's @value: 'now' and numeric texts over 100 characters are
  not read (NULL);
- regular expressions ARE cannot evaluate are refused (``postgres_regex``);
- sorting by distance measures on the spheroid (PostGIS geography), not as ``ngsild.geo.Ruler``
  does (within a fraction of a per cent for nearby geometries);
- sorting under the ICU collations of ``COLLATIONS`` is supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from territoires.ngsild.model import MAIN_MEMBER
from territoires.ngsild.query import AttrPath, Exists, OrderKey, QExpr, QTerm, Scope, ScopeExpr, TypeExpr, Value
from territoires.store.filter_common import (
    Dialect,
    Param,
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
from territoires.store.port import HistoryFilter, NotSupported
from territoires.store.postgres_regex import to_are
from territoires.store.postgres_temporal import SERIES_OF_ENTITY
from territoires.store.temporal_common import history_condition

_FALSE: Sql = ("false", [])
_TRUE: Sql = ("true", [])


def _cat(*pieces: str | Param | Sql) -> Sql:
    return concat("%s", *pieces)


def _at(base: str | Sql, *keys: str) -> Sql:
    """``base -> key -> …`` with each key bound: a missing key, or a key into an array or a
    scalar, gives NULL (as a JSON path does in SQLite)."""
    pieces: list[str | Param | Sql] = ["(", base]
    for key in keys:
        pieces.extend([" -> ", Param(key), "::text"])
    pieces.append(")")
    return _cat(*pieces)


def _no_nul(values: Sequence[str]) -> list[str]:
    """PostgreSQL text cannot hold U+0000, so no stored string or IRI contains it: a literal
    that does can equal nothing (and cannot be bound)."""
    return [v for v in values if "\x00" not in v]


# ---- q ----------------------------------------------------------------------------------------

# The member holding an instance's content by attribute type (after "CASE <type>"); q walks
# LanguageProperty apart, ordering reads its languageMap like any content.
_CONTENT_WHEN = "".join(f" WHEN '{kind}' THEN '{member}'" for kind, member in MAIN_MEMBER.items() if member != "value")
_MAIN_WHEN = "".join(
    f" WHEN '{kind}' THEN '{member}'" for kind, member in MAIN_MEMBER.items()
    if member != "value" and kind != "LanguageProperty"
)
_RELATIONSHIPS = "('Relationship', 'ListRelationship')"
# The string an element stands for: itself, a typed literal's @value, a ListRelationship
# entry's object; NULL for other elements.
_ELEMENT_TEXT = (
    "CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' WHEN 'object' THEN coalesce("
    "CASE jsonb_typeof(v -> '@value') WHEN 'string' THEN v ->> '@value' END, "
    "CASE jsonb_typeof(v -> 'object') WHEN 'string' THEN v ->> 'object' END) END"
)
_ELEMENT_NUMBER = "CASE jsonb_typeof(v) WHEN 'number' THEN v::numeric END"
_DATETIME_SHAPE = "'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:'"
_TIME_SHAPE = "'^[0-9]{2}:[0-9]{2}:[0-9]{2}'"
_DATE_SHAPE = "'^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"
_SQL_OP = {"==": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def compile_q(expr: QExpr) -> Sql:
    """A boolean expression over entity row ``e`` selecting the entities matching ``expr``
    (clause 4.9), as ``sqlite_filters.compile_q`` documents."""
    return q_condition(expr, _q_term)


def _q_term(term: QTerm, row: str = "e") -> Sql:
    """``term`` over the entity row ``row``."""
    path = term.path
    attr = check_name(path.attr)
    # Shapes list their attributes: the entities_by_shape index serves the candidates.
    has_attr = _cat(row, ".shape IN (SELECT sh.shape FROM shapes sh WHERE sh.attrs ? ", Param(attr), ")")
    if path.linked is not None:
        return _cat("(", has_attr, " AND ", _linked_term(term, row), ")")
    if isinstance(term, Exists) and not (path.sub or path.member or path.keys):
        return has_attr
    return _cat(
        "(", has_attr, " AND EXISTS (SELECT 1 FROM jsonb_array_elements(", row, ".doc -> 'attrs' -> ", Param(attr),
        "::text) AS inst(i) WHERE ", _on_instance(term), "))",
    )


def _linked_term(term: QTerm, row: str) -> Sql:
    """A Linked Entity sub-query, as ``sqlite_filters._linked_term`` says; the object of a
    Relationship is one URI or an array of them."""
    path = term.path
    linked = path.linked
    assert linked is not None
    target, rel = row + "l", _cat(row, "r.r -> 'object'")
    of_types = (_cat(target, ".shape IN (SELECT s.shape FROM shapes s WHERE ", _has_type(list(linked.types)), ") AND ")
                if linked.types else ("", []))
    return _cat(
        "EXISTS (SELECT 1 FROM jsonb_array_elements(", row, ".doc -> 'attrs' -> ", Param(check_name(path.attr)),
        "::text) AS ", row, "r(r) JOIN entities ", target, " ON ", target, ".id IN (SELECT jsonb_array_elements_text("
        "CASE jsonb_typeof(", rel, ") WHEN 'array' THEN ", rel, " ELSE jsonb_build_array(", rel, ") END)) ",
        "WHERE ", of_types, _q_term(replace(term, path=linked.path), target), ")",
    )


def _on_instance(term: QTerm) -> Sql:
    """The condition on one attribute instance ``i``."""
    path = term.path
    base = _at("i", *(k for sub in path.sub for k in ("attrs", check_name(sub))))
    keys = [check_name(k) for k in path.keys]
    if isinstance(term, Exists) and not keys:
        return _cat(_at(base, path.member) if path.member else base, " IS NOT NULL")
    targets = _targets(path, base, keys, need_text=is_negated(term) or wants_text(term))
    return targets_condition(term, targets, _DIALECT)


def _targets(path: AttrPath, base: Sql, keys: list[str], need_text: bool) -> list[Target]:
    if path.member is not None:
        return [Target(None, _at(base, path.member), False, None)]
    ty = _cat("(", base, " ->> 'type')")
    main = _at(_cat(base, " -> CASE ", ty, _MAIN_WHEN, " ELSE 'value' END"), *keys)
    targets = [Target(_cat(ty, " IS DISTINCT FROM 'LanguageProperty'"), main, False, ty)]
    # A languageMap holds strings or arrays of strings; [lang] picks one language, [*] any.
    if need_text and len(keys) <= 1:
        languages = [] if not keys or keys[0] == "*" else keys
        targets.append(Target(_cat(ty, " = 'LanguageProperty'"), _at(base, "languageMap", *languages), True, None))
    return targets


def _exists_at(target: Target) -> Sql:
    """The target exists (``location`` is a jsonb value, NULL where absent)."""
    return _cat(target.location, " IS NOT NULL")


def _any_element(target: Target, condition: Sql) -> Sql:
    """Some element ``el`` of the target (columns ``v`` jsonb, ``t`` its string, ``n`` its
    number) satisfies ``condition``."""
    if target.language:
        columns = "v #>> '{}' AS t, NULL::numeric AS n"
        source = _cat("jsonb_path_query(", target.location, ", 'strict $.** ? (@.type() == \"string\")')")
    else:
        columns = f"{_ELEMENT_TEXT} AS t, {_ELEMENT_NUMBER} AS n"
        source = _cat(
            "jsonb_array_elements((SELECT CASE jsonb_typeof(x) WHEN 'array' THEN x "
            "WHEN 'object' THEN jsonb_path_query_array(x, '$.\"@value\"') ELSE jsonb_path_query_array(x, '$') END "
            "FROM (SELECT ", target.location, " AS x) AS l))",
        )
    return _cat(f"EXISTS (SELECT 1 FROM (SELECT v, {columns} FROM ", source, " AS a(v)) AS el WHERE ", condition, ")")


def _pattern(target: Target, regex: str) -> Sql:
    return _cat("el.t ~ ", Param(to_are(regex, "q")))


def _one_of(target: Target, numbers: list[Any], plain: list[str]) -> list[Sql]:
    parts = [_cat("el.n = ", Param(n)) for n in numbers]
    plain = _no_nul(plain)
    if plain:
        parts.append(_cat("el.t IN (", _marks(plain), ")"))
    return parts


def _marks(values: list[Any]) -> Sql:
    return ", ".join(["%s"] * len(values)), list(values)


def _compare(target: Target, op: str, value: Value) -> Sql:
    sql_op = _SQL_OP[op]
    kind = value.kind
    if kind == "number":
        return _cat(f"el.n {sql_op} ", Param(value.value))
    if kind == "boolean":
        return (f"el.v = '{'true' if value.value else 'false'}'::jsonb", [])
    if kind in ("dateTime", "time"):
        shape = _DATETIME_SHAPE if kind == "dateTime" else _TIME_SHAPE
        return _cat(f"(el.t ~ {shape} AND ", _julian_ms(("el.t", [])), f" {sql_op} ",
                    _julian_ms(_cat(Param(value.value))), ")")
    if kind == "date":
        return _cat(f"(el.t ~ {_DATE_SHAPE} AND ", _text_compare(op, str(value.value)), ")")
    if target.instance_type is not None and value.vocab is not None:
        return _cat("CASE WHEN ", target.instance_type, " = 'VocabProperty' THEN ", _text_compare(op, value.vocab),
                    " ELSE ", _text_compare(op, str(value.value)), " END")
    return _text_compare(op, str(value.value))


def _text_compare(op: str, literal: str) -> Sql:
    """``el.t <op> literal`` by code point. No stored string holds U+0000: against a literal
    that does, a stored string compares as against the literal's part before it."""
    if "\x00" in literal:
        if op == "==":
            return _FALSE
        op, literal = ("<=" if op in ("<", "<=") else ">"), literal[: literal.index("\x00")]
    return _cat(f'el.t COLLATE "C" {_SQL_OP[op]} ', Param(literal))


_DIALECT = Dialect(
    mark="%s",
    some=_any_element,
    present=_exists_at,
    is_text=lambda target: ("el.t IS NOT NULL", []),
    not_relationship=lambda instance_type: _cat("coalesce(", instance_type, f", '') NOT IN {_RELATIONSHIPS}"),
    compare=_compare,
    pattern=_pattern,
    one_of=_one_of,
)


# SQLite's julianday() reading of a text, in milliseconds (its internal iJD): [-]YYYY-MM-DD,
# then blanks or 'T's, then HH:MM[:SS[.F…]] and a zone ([+-]HH:MM or Z, blanks around), or a
# time alone (on 2000-01-01). Fields out of SQLite's ranges, or an instant out of its range,
# give NULL; days past a month's end roll over as in SQLite.
_SPACE = r"[\u0009-\u000d ]"
_JULIAN_SHAPE = (
    r"^(?:(-?)([0-9]{4})-([0-9]{2})-([0-9]{2})[\u0009-\u000d T]*)?"
    r"(?:([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?" + _SPACE + "*"
    r"(?:([+-])([0-9]{2}):([0-9]{2})|[Zz])?" + _SPACE + "*)?$"
)
# Around the text: its fields, checked; then SQLite's computeJD (Meeus, C integer divisions).
_JULIAN_BEFORE = (
    "(SELECT CASE WHEN jd BETWEEN 0 AND 464269060799999 THEN jd END FROM ("
    "SELECT (36525 * (y + 4716) / 100 + 306001 * (mo + 1) / 10000 + d + 2 - y / 100 + y / 100 / 4)::bigint "
    "* 86400000 - 131716800000 + ms - tz * 60000 AS jd FROM ("
    "SELECT CASE WHEN mo0 <= 2 THEN y0 - 1 ELSE y0 END AS y, CASE WHEN mo0 <= 2 THEN mo0 + 12 ELSE mo0 END AS mo, "
    "d, ms, tz FROM ("
    "SELECT CASE WHEN m[2] IS NULL THEN 2000 WHEN m[1] = '-' THEN -m[2]::int ELSE m[2]::int END AS y0, "
    "coalesce(m[3]::int, 1) AS mo0, coalesce(m[4]::int, 1) AS d, "
    "coalesce(m[5]::int * 3600000 + m[6]::int * 60000 + trunc((coalesce(m[7]::int, 0) "
    "+ coalesce(('0.' || m[8])::float8, 0)) * 1000::float8 + 0.5::float8)::bigint, 0) AS ms, "
    "coalesce(CASE m[9] WHEN '+' THEN 1 ELSE -1 END * (m[10]::int * 60 + m[11]::int), 0) AS tz "
    "FROM regexp_match("
)
_JULIAN_AFTER = (
    ", '" + _JULIAN_SHAPE + "') AS r(m) "
    "WHERE (m[2] IS NOT NULL OR m[5] IS NOT NULL) "
    "AND (m[2] IS NULL OR (m[3]::int BETWEEN 1 AND 12 AND m[4]::int BETWEEN 1 AND 31 "
    "AND NOT (m[1] = '-' AND m[2]::int > 4713))) "
    "AND (m[5] IS NULL OR (m[5]::int <= 24 AND m[6]::int <= 59 AND coalesce(m[7]::int, 0) <= 59 "
    "AND coalesce(m[10]::int, 0) <= 14 AND coalesce(m[11]::int, 0) <= 59))"
    ") AS f) AS g) AS h)"
)


def _julian_ms(text: Sql) -> Sql:
    """The instant SQLite's ``julianday(text)`` reads in a text, as a bigint of milliseconds
    (julianday × 86,400,000, which SQLite computes exactly), or NULL."""
    return _cat(_JULIAN_BEFORE, text, _JULIAN_AFTER)


# ---- scopeQ, types, attributes, id patterns --------------------------------------------------------


def compile_scope_q(expr: ScopeExpr) -> Sql:
    """A boolean expression over entity row ``e``: its scopes match ``expr`` (clause 4.19)."""
    return boolean(expr, lambda scope: _cat(f"EXISTS (SELECT 1 FROM {_SCOPES} AS sc(s) WHERE ", _scope_match(scope),
                                            ")"))


_SCOPES = "jsonb_array_elements_text(CASE jsonb_typeof(e.doc -> 'scope') WHEN 'array' THEN e.doc -> 'scope' END)"


def _scope_match(scope: Scope) -> Sql:
    if not scope.levels:  # "/#": any scope at all
        return _TRUE
    if "+" in scope.levels:
        return _cat("sc.s ~ ", Param(to_are(scope_regex(scope), "scopeQ")))
    exact = "/" + "/".join(scope.levels)
    if not scope.descendants:
        return _cat("sc.s = ", Param(exact))
    return _cat("(sc.s = ", Param(exact), " OR starts_with(sc.s, ", Param(exact + "/"), "))")


def compile_type_expr(expr: TypeExpr) -> Sql:
    """A boolean expression over shapes row ``s``: its types satisfy ``expr`` (clause 4.17)."""
    return type_condition(expr, _has_type)


def _has_type(iris: list[str]) -> Sql:
    iris = _no_nul(iris)
    return _cat("s.types && ", Param(iris), "::text[]") if iris else _FALSE


def compile_ids(ids: Sequence[str]) -> Sql:
    """A boolean expression over entity row ``e``: its id is one of ``ids``."""
    return _cat("e.id = ANY(", Param(_no_nul(list(ids))), "::text[])")


def compile_attrs(attrs: Sequence[str]) -> Sql:
    """A boolean expression over shapes row ``s``: the shape has at least one of ``attrs``."""
    names = _no_nul(list(attrs))
    return _cat("s.attrs ?| ", Param(names), "::text[]") if names else _FALSE


def compile_history(history: HistoryFilter) -> Sql:
    """A boolean expression over entity row ``e``: its history holds an instance ``history`` selects."""
    return history_condition(history, "%s", SERIES_OF_ENTITY)


def compile_id_pattern(pattern: str) -> Sql:
    """A boolean expression over entity row ``e``: its id matches the regular expression
    ``pattern`` (Python ``re`` syntax, searched, not anchored)."""
    return _cat("e.id ~ ", Param(to_are(pattern, "idPattern")))


# ---- orderBy ------------------------------------------------------------------------------------

# ICU collations PostgreSQL (built with ICU, as Debian's is) always creates, by tag.
COLLATIONS = frozenset({"und", "br", "ca", "de", "en", "es", "eu", "fr", "it", "nl", "pt"})
_ASC, _DESC = " ASC NULLS FIRST", " DESC NULLS LAST"  # SQLite's: NULL is the smallest value


def _absent_last(descending: bool) -> str:
    return " DESC NULLS LAST" if descending else " ASC NULLS LAST"


def compile_order_by(
    keys: Sequence[OrderKey], collation: str | None = None, order_from: dict[str, Any] | None = None
) -> Sql:
    """The ``ORDER BY`` terms (without the keywords) over entity row ``e`` ordering by ``keys``
    as ``EntityQuery.order_by`` documents (clause 4.23), the caller appending its own final
    tie-break (``e.rid``); empty text for no keys. Strings compare by code point, or under the
    ICU ``collation`` when it is one of ``COLLATIONS`` (else ``NotSupported``). Keys sorting by
    distance measure on the sphere from ``order_from`` (GeoJSON) to the nearest instance of
    their GeoProperty; entities without one come last."""
    collate = _collate(collation) if keys else ""
    pieces: list[str | Sql] = []
    for i, key in enumerate(keys):
        pieces.extend([", "] if i else [])
        pieces.append(_distance_terms(key, order_from) if key.by_distance else _order_terms(key, collate))
    return _cat(*pieces)


def _collate(collation: str | None) -> str:
    if collation is None:
        return ' COLLATE "C"'
    tag = collation.removesuffix("-x-icu")
    if tag not in COLLATIONS:
        raise NotSupported(
            f"collation {collation}: this broker orders strings by Unicode code point, or under one of the ICU "
            f"collations {', '.join(sorted(COLLATIONS))}"
        )
    return f' COLLATE "{tag}-x-icu"'  # a name from COLLATIONS: nothing a request wrote is spliced


def _distance_terms(key: OrderKey, order_from: dict[str, Any] | None) -> Sql:
    return _cat(
        "(SELECT min(ST_Distance(g.geom::geography, ST_GeomFromGeoJSON(", Param(orjson.dumps(order_from).decode()),
        ")::geography, false)) FROM geometries g WHERE g.rid = e.rid AND g.attr = ",
        Param(distance_attribute(key, order_from)), ")", _absent_last(key.descending),
    )


def _order_terms(key: OrderKey, collate: str) -> Sql:
    way = _DESC if key.descending else _ASC
    target = key.target
    if target == "id":
        return (f"e.id{collate}{way}", [])
    if target in ("createdAt", "modifiedAt"):
        return (f"(e.doc ->> '{target}') COLLATE \"C\"{way}", [])
    if target == "type":
        return (f"(SELECT min(t{collate}) FROM shapes sh, unnest(sh.types) AS t WHERE sh.shape = e.shape){way}", [])
    if target == "scope":  # by the smallest scope; no scope last both ways
        return (f"(SELECT min(sc.s{collate}) FROM {_SCOPES} AS sc(s)){_absent_last(key.descending)}", [])
    assert isinstance(target, AttrPath)
    if target.member is not None:
        return _order_member_terms(target, collate, key.descending)
    return _order_value_terms(target, key.descending, collate)


def _instance(path: AttrPath) -> Sql:
    """The (sub-)attribute instance an ordering reads: the first instance of the attribute."""
    subs = (k for sub in path.sub for k in ("attrs", check_name(sub)))
    return _at(_cat("(e.doc -> 'attrs' -> ", Param(check_name(path.attr)), "::text -> 0)"), *subs)


# An instant member (validated YYYY-MM-DDThh:mm:ss[.ffffff]Z) as text with six fraction digits,
# so that text order is time order ("…:00Z" and "…:00.5Z" differ in length).
_INSTANT_TEXT = (
    "substr(t, 1, 19) || substr(CASE WHEN rtrim(substr(t, 20), 'Z') = '' THEN '.'"
    " ELSE rtrim(substr(t, 20), 'Z') END || '000000', 1, 7)"
)


def _order_member_terms(path: AttrPath, collate: str, descending: bool) -> Sql:
    """A member of an instance (``name.observedAt``): as text, absent last both ways."""
    assert path.member is not None
    instant = path.member in ("observedAt", "createdAt", "modifiedAt")
    text = f"({_INSTANT_TEXT}) COLLATE \"C\"" if instant else f"t{collate}"
    member = _at(_instance(path), path.member)
    return _cat(f"(SELECT {text} FROM (SELECT ", member, " #>> '{}' AS t) AS m)", _absent_last(descending))


# Rank of a value's kind (clause 4.23.2): numbers, strings, objects, arrays, booleans, Time,
# Date, DateTime (typed literals), then JSON null (8) and no value at all (9).
_KIND_RANK = (
    "CASE jsonb_typeof(j) WHEN 'number' THEN 0 WHEN 'string' THEN 1"
    " WHEN 'object' THEN CASE j ->> '@type' WHEN 'Time' THEN 5 WHEN 'Date' THEN 6 WHEN 'DateTime' THEN 7 ELSE 2 END"
    " WHEN 'array' THEN 3 WHEN 'boolean' THEN 4 WHEN 'null' THEN 8 ELSE 9 END"
)
# Within a kind, values compare as SQLite compares what sqlite_filters reads there: Time and
# DateTime as julianday(@value), a Date's @value and any other value as SQLite reads JSON
# (numbers, text, booleans as 0 and 1, objects and arrays as JSON text). SQLite orders such a
# column NULL < numbers < text: "class" is that order, then the number or the text.
_TIMED = "coalesce(jsonb_typeof(j) = 'object' AND j ->> '@type' IN ('Time', 'DateTime'), false)"
_READ = "(CASE WHEN jsonb_typeof(j) = 'object' AND j ->> '@type' = 'Date' THEN j -> '@value' ELSE j END)"
_AT_VALUE = "(j -> '@value')"
# julianday() of a number, or of a text that is one (as SQLite's sqlite3AtoF reads it, up to
# 100 characters): a Julian day number, when in range.
_NUMBER_SHAPE = r"'^[\u0009-\u000d ]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?[\u0009-\u000d ]*$'"
_JULIAN_OF_NUMBER = (
    "(SELECT CASE WHEN ms BETWEEN 0 AND 464269060799999 THEN ms END FROM ("
    "SELECT CASE WHEN v >= 0 AND v < 5373484.5 THEN trunc(v * 86400000::float8 + 0.5::float8)::bigint END AS ms "
    f"FROM (SELECT CASE jsonb_typeof({_AT_VALUE}) WHEN 'number' THEN {_AT_VALUE}::float8 "
    f"WHEN 'boolean' THEN CASE WHEN {_AT_VALUE}::boolean THEN 1::float8 ELSE 0::float8 END "
    f"WHEN 'string' THEN (SELECT CASE WHEN length(s) <= 100 AND s ~ {_NUMBER_SHAPE} "
    "THEN greatest(least(round(s::numeric, 20), 1e7), -1)::float8 END "
    f"FROM (SELECT {_AT_VALUE} #>> '{{}}' AS s) AS sv) END AS v) AS rv) AS nv)"
)
_JULIAN_OF_J = (
    f"coalesce({_JULIAN_OF_NUMBER}, {_JULIAN_BEFORE}CASE jsonb_typeof({_AT_VALUE}) WHEN 'string' "
    f"THEN {_AT_VALUE} #>> '{{}}' END{_JULIAN_AFTER})"
)
_VALUE_CLASS = (
    f"CASE WHEN {_TIMED} THEN CASE WHEN {_JULIAN_OF_J} IS NULL THEN 0 ELSE 1 END"
    f" ELSE CASE jsonb_typeof({_READ}) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2"
    " WHEN 'object' THEN 2 WHEN 'array' THEN 2 ELSE 0 END END"
)
_VALUE_NUMBER = (
    f"CASE WHEN {_TIMED} THEN {_JULIAN_OF_J}::numeric ELSE CASE jsonb_typeof({_READ}) WHEN 'number' THEN "
    f"{_READ}::numeric WHEN 'boolean' THEN CASE WHEN {_READ}::boolean THEN 1 ELSE 0 END END END"
)
_VALUE_TEXT = (
    f"CASE WHEN NOT {_TIMED} THEN CASE jsonb_typeof({_READ}) WHEN 'string' THEN {_READ} #>> '{{}}'"
    f" WHEN 'object' THEN {_READ}::text WHEN 'array' THEN {_READ}::text END END"
)


def _order_value_terms(path: AttrPath, descending: bool, collate: str) -> Sql:
    """Terms for the value ``path`` reaches in the first instance of its attribute."""
    way = _DESC if descending else _ASC
    # Null (8) and no value (9) stay last whichever the direction.
    flipped = "7 - r" if descending else "r"
    rank = f"(SELECT CASE WHEN r >= 8 THEN r ELSE {flipped} END FROM (SELECT {_KIND_RANK} AS r) AS k)"
    value = _order_value(path)
    terms = ((rank, " ASC"), (_VALUE_CLASS, way), (_VALUE_NUMBER, way), (f"({_VALUE_TEXT}){collate}", way))
    pieces: list[str | Sql] = []
    for i, (expression, direction) in enumerate(terms):
        pieces.extend([", "] if i else [])
        pieces.extend([f"(SELECT {expression} FROM ", value, f"){direction}"])
    return _cat(*pieces)


def _order_value(path: AttrPath) -> Sql:
    """A derived table of one row, column ``j``: the value ``path`` reaches in the first
    instance of its attribute (its content, then ``keys`` into it), NULL when there is none."""
    keys = (check_name(k) for k in path.keys)
    content = _at(_cat("i -> CASE i ->> 'type'", _CONTENT_WHEN, " ELSE 'value' END"), *keys)
    return _cat("(SELECT ", content, " AS j FROM (SELECT ", _instance(path), " AS i) AS ii) AS jj")
