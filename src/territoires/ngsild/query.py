"""The NGSI-LD query languages as pure code: ``q`` (ETSI GS CIM 009 clause 4.9), ``scopeQ``
(clause 4.19), entity type selection (clause 4.17), attribute lists (attrs, pick, omit) and
the Entity Ordering Language of ``orderBy`` (clause 4.23.3).

Each parser turns text into a small tree of frozen dataclasses whose names are expanded IRIs,
so a backend compiles it without any @context (see ``store/sqlite_filters.py``). A text that
does not follow the grammar raises ``BadRequestData`` (clause 5.7.2: a query that is not
syntactically valid), naming the position and what was expected; a text beyond the limits
below raises ``TooComplexQuery``. Percent-encoding has been decoded before these parsers run.

Deliberate readings of the clause, where it is silent or self-contradictory:
- Blanks between tokens are ignored (never inside a name or an unquoted value).
- Parentheses nest (clause 4.9 example 6 nests them although its grammar does not).
- ``!path`` (negated existence) holds when no instance of the attribute has the target
  (``!heading``, ``!speed.observedAt``): the entity lacks the attribute, or the sub-attribute,
  member or key ``path`` names.
- ``;`` binds tighter than ``|`` in all three languages; ``,`` also means "or" in scopeQ
  and type expressions.
- An unquoted bare word is a value (``gender==Male``, as in clause 4.9 example 12): compared
  as a string, and expanded like a vocabulary term when the target is a VocabProperty.
- A regular expression after ``~=`` is either a JSON string (recommended) or the raw text up
  to a ``;``, ``|`` or ``)`` outside the expression's own brackets and parentheses, trailing
  blanks dropped. It is searched (unanchored, as POSIX ``regexec``) with Python ``re`` syntax.
- Bracketed keys may be written ``a[k1.k2]`` (clause 4.9) or ``a[k1][k2]``; both give the
  same keys. For a LanguageProperty the first key is the language tag, ``*`` meaning any.
- Scope levels may start with a digit (INSEE codes); the clause asks for a letter.
- ``orderBy`` elements are attribute paths as in q (``name.observedAt``, ``address[city]``,
  sub-attributes) or the entity members ``id``, ``type``, ``scope``, ``createdAt`` and
  ``modifiedAt``; sorting by distance (``dist-asc``, ``dist-desc``) applies to attributes only.
  ``[*]`` (any language) is refused, since it names no single value to compare.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal, NoReturn

import orjson

from territoires.ngsild.errors import BadRequestData, TooComplexQuery
from territoires.ngsild.model import NGSI_LD

Expand = Callable[[str], str]  # a short name -> its IRI, under the request's @context

MAX_LENGTH = 4096  # characters of a query text
MAX_DEPTH = 32  # nested parentheses
MAX_TERMS = 100  # query terms (or scopes, or types) in one expression

# Members of an attribute instance a q path may end on (``temperature.observedAt``).
QUERY_MEMBERS = frozenset({"observedAt", "unitCode", "createdAt", "modifiedAt", "datasetId"})
# Attribute lists may also name these entity members; they stay unexpanded.
ENTITY_MEMBER_NAMES = frozenset({"id", "type"})

CompareOp = Literal["==", "!=", ">", ">=", "<", "<="]
ValueKind = Literal["string", "uri", "term", "number", "boolean", "dateTime", "date", "time"]
ORDERED_KINDS = frozenset({"string", "number", "dateTime", "date", "time"})  # ComparableValue


# ---- the trees ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttrPath:
    """Where a query term looks: ``attr.sub1.sub2.member[key1][key2]``, or with ``linked``,
    ``attr{path}``: on the entities the Relationship ``attr`` targets."""

    attr: str  # expanded attribute IRI
    sub: tuple[str, ...] = ()  # expanded sub-attribute IRIs, outermost first
    member: str | None = None  # one of QUERY_MEMBERS, or None for the attribute's content
    keys: tuple[str, ...] = ()  # JSON member names inside the value (not expanded)
    linked: LinkedPath | None = None


@dataclass(frozen=True)
class LinkedPath:
    """A Linked Entity sub-query (clause 4.9): ``attr{Type1,Type2:path}`` looks at ``path`` on
    the entities the Relationship targets, only those of one of ``types`` when given."""

    types: tuple[str, ...]  # expanded type IRIs; none: any type
    path: AttrPath


@dataclass(frozen=True)
class Value:
    """A literal of a query term. Dates and times stay strings, marked by ``kind``."""

    kind: ValueKind
    value: str | int | float | bool
    vocab: str | None = None  # the value expanded as a vocabulary term, when that differs


@dataclass(frozen=True)
class Exists:
    """``path`` (the target exists), or with ``negated`` ``!path`` (no instance has it)."""

    path: AttrPath
    negated: bool = False


@dataclass(frozen=True)
class Comparison:
    path: AttrPath
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class AnyOf:
    """``path==v1,v2,…`` (any of them), or with ``negated`` ``path!=v1,v2,…`` (none of them)."""

    path: AttrPath
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class InRange:
    """``path==low..high`` (bounds included), or with ``negated`` ``path!=low..high``."""

    path: AttrPath
    low: Value
    high: Value
    negated: bool = False


@dataclass(frozen=True)
class Pattern:
    """``path~=regex``, or with ``negated`` ``path!~=regex``."""

    path: AttrPath
    regex: str
    negated: bool = False


@dataclass(frozen=True)
class Scope:
    """A scope pattern: levels (``+`` matches any one level); ``descendants`` for a trailing
    ``/#``. ``Scope((), True)`` is ``/#``: any entity that has a scope."""

    levels: tuple[str, ...]
    descendants: bool = False


@dataclass(frozen=True)
class TypeName:
    iri: str


@dataclass(frozen=True)
class And:
    """All of ``terms`` hold. Shared by the three languages; terms are of the same language."""

    terms: tuple[QExpr | ScopeExpr | TypeExpr, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``terms`` holds."""

    terms: tuple[QExpr | ScopeExpr | TypeExpr, ...]


QTerm = Exists | Comparison | AnyOf | InRange | Pattern
QExpr = QTerm | And | Or
ScopeExpr = Scope | And | Or
TypeExpr = TypeName | And | Or

# Entity members an orderBy element may name instead of an attribute (clause 4.23.3 and
# table 6.4.3.2-1 name id, type and scope; createdAt and modifiedAt are the system attributes).
OrderMember = Literal["id", "type", "scope", "createdAt", "modifiedAt"]
ORDER_MEMBERS: frozenset[str] = frozenset({"id", "type", "scope", "createdAt", "modifiedAt"})


@dataclass(frozen=True)
class OrderKey:
    """One element of an ``orderBy``: what entities are compared on, and in which direction."""

    target: AttrPath | OrderMember  # an attribute path (expanded), or an entity member name
    descending: bool = False
    by_distance: bool = False  # dist-asc / dist-desc: by distance from a reference geometry


# ---- public parsers -------------------------------------------------------------------------


# The system attributes every entity has (clause 4.8): naming them narrows nothing.
SYSTEM_ATTRIBUTES = frozenset(NGSI_LD + name for name in ("createdAt", "modifiedAt", "deletedAt"))


def narrow_selection(
    types: TypeExpr | None, attrs: Iterable[str], q: QExpr | None, *, geo_query: bool, local: bool
) -> bool:
    """Whether a selection is narrow enough for a query (clause 5.7.2.4) or a purge (clause
    5.6.21.4), whose lists agree: entity types, ``attrs`` or ``q`` naming an attribute other
    than the system ones, a geo-query, or the local scope."""
    return (local or geo_query or types is not None
            or any(name not in SYSTEM_ATTRIBUTES for name in attrs)
            or (q is not None and any(name not in SYSTEM_ATTRIBUTES for name in _q_attributes(q))))


def link_depth(q: QExpr) -> int:
    """How many levels of Linked Entities ``q`` reads through (``a{b{c}}==1``: 2; none: 0)."""
    if isinstance(q, And | Or):
        return max(link_depth(term) for term in q.terms)  # type: ignore[arg-type]  # the terms of a q
    depth, path = 0, q.path
    while path.linked is not None:
        depth, path = depth + 1, path.linked.path
    return depth


def _q_attributes(q: QExpr) -> Iterator[str]:
    if isinstance(q, And | Or):
        for term in q.terms:
            yield from _q_attributes(term)  # type: ignore[arg-type]  # the terms of a q are q expressions
    else:
        yield q.path.attr


def parse_q(text: str, expand: Expand, *, name: str = "q") -> QExpr:
    """Parse an NGSI-LD query (clause 4.9); attribute and sub-attribute names are expanded.
    ``name``: the parameter it was given as, which error messages name (``q``, ``csf``)."""
    cur = _Cursor(name, text)
    return cur.expression(lambda: _q_term(cur, expand), or_ops="|")


def parse_scope_q(text: str) -> ScopeExpr:
    """Parse a scope query (clause 4.19)."""
    cur = _Cursor("scopeQ", text)
    return cur.expression(lambda: _scope(cur), or_ops="|,")


def types_satisfy(expr: TypeExpr, types: Collection[str]) -> bool:
    """Whether an entity of ``types`` (expanded) satisfies a type expression (clause 4.17)."""
    if isinstance(expr, TypeName):
        return expr.iri in types
    holds = (types_satisfy(term, types) for term in expr.terms)  # type: ignore[arg-type]  # terms of a type expression
    return all(holds) if isinstance(expr, And) else any(holds)


def parse_type_expr(text: str, expand: Expand) -> TypeExpr:
    """Parse an entity type selection (clause 4.17); names are expanded, IRIs kept."""
    cur = _Cursor("type", text)
    return cur.expression(lambda: _type_name(cur, expand), or_ops="|,")


def parse_attr_list(text: str, expand: Expand, *, param: str = "attrs") -> tuple[str, ...]:
    """Parse a comma-separated list of attribute names (attrs, pick, omit) into IRIs, in order
    and without repeats. ``id`` and ``type`` stay as they are (pick/omit may name them)."""
    _check_size(param, text)
    names: list[str] = []
    position = 0
    for item in text.split(","):
        name = item.strip()
        if not name:
            raise BadRequestData(f"{param}: empty name at position {position + 1} in {_quoted(text)}")
        if name in ENTITY_MEMBER_NAMES:
            iri = name
        elif _is_name(name) or _is_compact(name) or _URI.match(name):
            iri = expand(name)
        else:
            raise BadRequestData(
                f"{param}: {name!r} at position {position + 1} in {_quoted(text)} is not an attribute name or IRI"
            )
        if iri not in names:
            names.append(iri)
        position += len(item) + 1
    return tuple(names)


def parse_order_by(text: str, expand: Expand) -> tuple[OrderKey, ...]:
    """Parse an ``orderBy`` (clause 4.23.3): comma-separated elements, each an entity member or
    an attribute path, optionally followed by ``;asc`` (the default), ``;desc``, ``;dist-asc``
    or ``;dist-desc``. Keys come in the order given: the first decides, the next ones break
    its ties."""
    cur = _Cursor("orderBy", text)
    keys: list[OrderKey] = []
    while True:
        cur.terms += 1
        if cur.terms > MAX_TERMS:
            raise TooComplexQuery(f"orderBy: more than {MAX_TERMS} elements")
        target = _order_target(cur, expand)
        cur.skip_blanks()
        direction = "asc"
        if cur.peek() == ";":
            cur.pos += 1
            direction = _direction(cur)
            cur.skip_blanks()
        by_distance = direction.startswith("dist-")
        if by_distance and not isinstance(target, AttrPath):
            raise BadRequestData(f"orderBy: {direction} sorts by the distance to a GeoProperty, not by {target}")
        keys.append(OrderKey(target, direction.endswith("desc"), by_distance))
        if not cur.peek():
            return tuple(keys)
        if cur.peek() != ",":
            cur.fail("';' and a direction (asc, desc), ',' and another element, or the end")
        cur.pos += 1


def _order_target(cur: _Cursor, expand: Expand) -> AttrPath | OrderMember:
    cur.skip_blanks()
    start = cur.pos
    name = _compact_name(cur, "an attribute name or one of " + ", ".join(sorted(ORDER_MEMBERS)))
    if name in ORDER_MEMBERS:
        if cur.peek() and cur.peek() in ".[":
            cur.invalid(f"path after the entity member {name}", cur.pos, f"{name} has no sub-attributes or keys")
        return name  # type: ignore[return-value]  # one of ORDER_MEMBERS
    cur.pos = start
    path = _attr_path(cur, expand)
    if path.linked is not None:
        cur.invalid("linked entity path", start, "orderBy compares the entities' own attributes")
    if "*" in path.keys:
        cur.invalid("key '*'", start, "ordering needs one value per entity: name a single language, as name[fr]")
    return path


_DIRECTIONS = ("asc", "desc", "dist-asc", "dist-desc")


def _direction(cur: _Cursor) -> str:
    cur.skip_blanks()
    start = cur.pos
    while cur.peek() and (cur.peek().isalpha() or cur.peek() == "-"):
        cur.pos += 1
    word = cur.text[start:cur.pos]
    if word not in _DIRECTIONS:
        cur.fail("a direction: " + ", ".join(_DIRECTIONS), start)
    return word


# ---- lexical helpers ------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]{1,6}))?Z\Z")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]{1,6}))?Z\Z")
_COMMA_TIME = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T)?[0-9]{2}:[0-9]{2}:[0-9]{2},[0-9]{1,6}Z")
# An absolute URI/IRI (RFC 3986/3987: scheme ":" rest); characters no URI may hold are refused.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>\\^`{}|]+\Z")
_INT64 = 2**63

_VALUE_HINT = "a value (a number, a quoted string, true, false, a date, a time, a dateTime or a URI)"
_ORDERED_HINT = "numbers, quoted strings, dates, times or dateTimes"
_OPERATORS = ("==", "!=", "!~=", "~=", ">=", ">", "<=", "<")
_OPERATOR_HINT = "an operator (==, !=, >, >=, <, <=, ~=, !~=)"


def _name_char(c: str) -> bool:
    return unicodedata.category(c)[0] in "LN" or c == "_"


def _is_name(s: str) -> bool:
    """A name per clause 4.6.2: a letter, then letters, digits or ``_``."""
    return bool(s) and unicodedata.category(s[0])[0] == "L" and all(_name_char(c) for c in s)


def _is_compact(s: str) -> bool:
    """``prefix:name`` (clause 4.6.2)."""
    prefix, colon, rest = s.partition(":")
    return bool(colon) and _is_name(prefix) and _is_name(rest)


def _quoted(text: str) -> str:
    return '"' + (text if len(text) <= 200 else text[:200] + "…") + '"'


def _check_size(label: str, text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise TooComplexQuery(f"{label}: {len(text)} characters, more than the {MAX_LENGTH} this server accepts")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestData(f"{label}: invalid character at position {exc.start + 1} (not Unicode text)") from None


def _vocab(s: str, expand: Expand) -> str | None:
    """The IRI a VocabProperty would hold for ``s`` (clause 4.9: the target value is expanded)."""
    if not (_is_name(s) or _is_compact(s)):
        return None
    iri = expand(s)
    return iri if iri != s else None


# ---- the cursor and the logical structure shared by the three languages -----------------------


class _Cursor:
    def __init__(self, label: str, text: str) -> None:
        _check_size(label, text)
        self.label = label
        self.text = text
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def fail(self, expected: str, at: int | None = None) -> NoReturn:
        at = self.pos if at is None else at
        found = f"unexpected {self.text[at]!r}" if at < len(self.text) else "unexpected end"
        raise BadRequestData(f"{self.label}: {found} at position {at + 1} in {_quoted(self.text)}: expected {expected}")

    def invalid(self, what: str, at: int, why: str) -> NoReturn:
        raise BadRequestData(f"{self.label}: {what} at position {at + 1} in {_quoted(self.text)}: {why}")

    def expression(self, term: Callable[[], QExpr | ScopeExpr | TypeExpr], or_ops: str) -> QExpr | ScopeExpr | TypeExpr:
        """``or := and (orOp and)*``, ``and := primary (";" primary)*``, ``primary := "(" or ")" | term``."""

        def parse_or() -> QExpr | ScopeExpr | TypeExpr:
            terms = [parse_and()]
            while self.peek() and self.peek() in or_ops:
                self.pos += 1
                terms.append(parse_and())
            return _combine(Or, terms)

        def parse_and() -> QExpr | ScopeExpr | TypeExpr:
            terms = [parse_primary()]
            while self.peek() == ";":
                self.pos += 1
                terms.append(parse_primary())
            return _combine(And, terms)

        def parse_primary() -> QExpr | ScopeExpr | TypeExpr:
            self.skip_blanks()
            if self.peek() == "(":
                if self.depth >= MAX_DEPTH:
                    raise TooComplexQuery(f"{self.label}: parentheses nested deeper than {MAX_DEPTH}")
                self.depth += 1
                self.pos += 1
                node = parse_or()
                if self.peek() != ")":
                    self.fail(f"')' or a logical operator ({_ops_hint(or_ops)})")
                self.pos += 1
                self.depth -= 1
            else:
                self.terms += 1
                if self.terms > MAX_TERMS:
                    raise TooComplexQuery(f"{self.label}: more than {MAX_TERMS} terms")
                node = term()
            self.skip_blanks()
            return node

        node = parse_or()
        if self.pos < len(self.text):
            self.fail(f"a logical operator ({_ops_hint(or_ops)}) or the end")
        return node


def _ops_hint(or_ops: str) -> str:
    return ", ".join(f"'{c}'" for c in ";" + or_ops)


def _combine(cls: type[And | Or], terms: list) -> QExpr | ScopeExpr | TypeExpr:
    if len(terms) == 1:
        return terms[0]
    flat: list = []
    for t in terms:  # (a;b);c is a;b;c
        flat.extend(t.terms if isinstance(t, cls) else (t,))
    return cls(tuple(flat))


# ---- q ----------------------------------------------------------------------------------------


def _q_term(cur: _Cursor, expand: Expand) -> QTerm:
    negated = cur.peek() == "!"
    if negated:
        cur.pos += 1
    path = _attr_path(cur, expand)
    cur.skip_blanks()
    op_at = cur.pos
    op = next((o for o in _OPERATORS if cur.at(o)), None)
    if negated and (op is not None or (cur.peek() and cur.peek() in "=!<>~")):
        cur.invalid("an operator after '!attribute'", op_at,
                    "'!' only negates existence (as !heading); negate a comparison with != or !~=")
    if op is None:
        if cur.peek() and cur.peek() in "=!<>~":
            cur.fail(_OPERATOR_HINT)
        return Exists(path, negated)
    cur.pos += len(op)
    cur.skip_blanks()
    if op in ("~=", "!~="):
        return Pattern(path, _regex(cur), op == "!~=")
    value_at = cur.pos
    first = _value(cur, expand)
    cur.skip_blanks()
    if cur.at(".."):
        cur.pos += 2
        cur.skip_blanks()
        high_at = cur.pos
        high = _value(cur, expand)
        if op not in ("==", "!="):
            cur.invalid(f"range after {op!r}", op_at, "a range is only allowed with == or !=")
        for bound, at in ((first, value_at), (high, high_at)):
            if bound.kind not in ORDERED_KINDS:
                cur.invalid(f"range bound {_show(bound)}", at, f"bounds are {_ORDERED_HINT}")
        if first.kind != high.kind:
            cur.invalid("range", value_at, f"both bounds must be of one kind, not a {first.kind} and a {high.kind}")
        if cur.peek() == ",":
            cur.invalid("',' after a range", cur.pos, "a range cannot be part of a value list")
        return InRange(path, first, high, op == "!=")
    if cur.peek() == ",":
        if op not in ("==", "!="):
            cur.invalid(f"value list after {op!r}", op_at, "a list of values is only allowed with == or !=")
        values = [first]
        while cur.peek() == ",":
            cur.pos += 1
            values.append(_value(cur, expand))
            cur.skip_blanks()
            if cur.at(".."):
                cur.invalid("range inside a value list", cur.pos, "a list holds single values")
        return AnyOf(path, tuple(values), op == "!=")
    if op not in ("==", "!=") and first.kind not in ORDERED_KINDS:
        cur.invalid(
            f"value {_show(first)} after {op!r}", value_at,
            f"ordering compares {_ORDERED_HINT}",
        )
    return Comparison(path, op, first)  # type: ignore[arg-type]  # op is a CompareOp here


def _show(v: Value) -> str:
    if v.kind == "string":
        return orjson.dumps(v.value).decode()
    return str(v.value).lower() if v.kind == "boolean" else str(v.value)


def _attr_path(cur: _Cursor, expand: Expand) -> AttrPath:
    cur.skip_blanks()
    attr = expand(_compact_name(cur, "an attribute name"))
    if cur.peek() == "{":
        return AttrPath(attr, linked=_linked_path(cur, expand))
    sub: list[str] = []
    member: str | None = None
    while cur.peek() == ".":
        if member is not None:
            cur.fail(f"an operator after the member {member}")
        cur.pos += 1
        name = _compact_name(cur, "a sub-attribute or member name after '.'")
        if name in QUERY_MEMBERS:
            member = name
        else:
            sub.append(expand(name))
    keys: list[str] = []
    while cur.peek() == "[":
        if member is not None:
            cur.fail(f"an operator after the member {member}")
        cur.pos += 1
        keys.append(_key(cur))
        while cur.peek() == ".":
            cur.pos += 1
            keys.append(_key(cur))
        if cur.peek() != "]":
            cur.fail("']' or '.' and a key")
        cur.pos += 1
    return AttrPath(attr, tuple(sub), member, tuple(keys))


def _linked_path(cur: _Cursor, expand: Expand) -> LinkedPath:
    """``{Type1,Type2:path}`` after a Relationship's name; inside the braces, names followed by
    ':' are the entity types considered (clause 4.9), so the path names its attribute by a term."""
    cur.pos += 1
    types: list[str] = []
    start = cur.pos
    while True:
        cur.skip_blanks()
        types.append(_plain_name(cur, "an entity type or an attribute name after '{'"))
        cur.skip_blanks()
        if cur.peek() != ",":
            break
        cur.pos += 1
    if cur.peek() == ":":
        cur.pos += 1
        types = [expand(name) for name in types]
    else:  # no type hint: the braces hold the path alone
        cur.pos, types = start, []
    path = _attr_path(cur, expand)
    cur.skip_blanks()
    if cur.peek() != "}":
        cur.fail("'}' closing the linked entity path")
    cur.pos += 1
    return LinkedPath(tuple(types), path)


def _compact_name(cur: _Cursor, expected: str) -> str:
    """A name, or a compact IRI ``prefix:name``."""
    name = _plain_name(cur, expected)
    if cur.peek() == ":":
        cur.pos += 1
        name += ":" + _plain_name(cur, "a name after the prefix")
    return name


def _plain_name(cur: _Cursor, expected: str) -> str:
    start = cur.pos
    if not (cur.peek() and unicodedata.category(cur.peek())[0] == "L"):
        cur.fail(expected)
    while cur.peek() and _name_char(cur.peek()):
        cur.pos += 1
    return cur.text[start:cur.pos]


def _key(cur: _Cursor) -> str:
    """A JSON member name inside brackets, or ``*`` (any language of a LanguageProperty)."""
    if cur.peek() == "*":
        cur.pos += 1
        return "*"
    start = cur.pos
    while cur.peek() and (_name_char(cur.peek()) or cur.peek() in "-@"):
        cur.pos += 1
    if cur.pos == start:
        cur.fail("a key (letters, digits, '_', '-', '@') or '*'")
    return cur.text[start:cur.pos]


def _value(cur: _Cursor, expand: Expand) -> Value:
    cur.skip_blanks()
    start = cur.pos
    if cur.peek() == '"':
        s = _json_string(cur)
        return Value("string", s, _vocab(s, expand))
    text, n = cur.text, len(cur.text)
    comma_time = _COMMA_TIME.match(text, start)  # a decimal comma is not a list separator
    if comma_time:
        cur.pos = comma_time.end()
    while cur.pos < n and text[cur.pos] not in ";|),\"" and not text[cur.pos].isspace() and not cur.at(".."):
        cur.pos += 1
    raw = text[start:cur.pos]
    if not raw:
        cur.fail(_VALUE_HINT)
    if raw in ("true", "false"):
        return Value("boolean", raw == "true")
    if _NUMBER.match(raw):
        return Value("number", _number(cur, raw, start))
    for kind, pattern in (("dateTime", _DATETIME), ("date", _DATE), ("time", _TIME)):
        m = pattern.match(raw)
        if m:
            return Value(kind, _temporal(cur, kind, m, raw, start))  # type: ignore[arg-type]
    if _URI.match(raw):
        return Value("uri", raw, _vocab(raw, expand))
    if _is_name(raw):
        return Value("term", raw, _vocab(raw, expand))
    cur.invalid(f"value {raw!r}", start, f"expected {_VALUE_HINT}; quote strings: \"…\"")


def _number(cur: _Cursor, raw: str, at: int) -> int | float:
    if not any(c in raw for c in ".eE"):
        n = int(raw)
        if -_INT64 <= n < _INT64:
            return n
    f = float(raw)
    if not math.isfinite(f):
        cur.invalid(f"number {raw}", at, "out of range")
    return f


def _temporal(cur: _Cursor, kind: str, m: re.Match[str], raw: str, at: int) -> str:
    """Check a date/time literal (clause 4.6.3) and give it with a '.' decimal separator."""
    parts = [int(g) for g in m.groups()[:6] if g is not None]
    try:
        if kind == "dateTime":
            datetime(*parts)
        elif kind == "date":
            date(*parts)
        else:
            time(*parts)
    except ValueError as exc:
        cur.invalid(f"{kind} {raw}", at, str(exc))
    return raw.replace(",", ".")


def _json_string(cur: _Cursor) -> str:
    start = cur.pos
    i = start + 1
    text, n = cur.text, len(cur.text)
    while i < n and text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    if i >= n:
        cur.invalid("unterminated string", start, "expected a closing '\"'")
    cur.pos = i + 1
    try:
        return orjson.loads(text[start:cur.pos])
    except orjson.JSONDecodeError as exc:
        cur.invalid(f"string {text[start:cur.pos]}", start, f"not a JSON string ({exc.msg})")


def _regex(cur: _Cursor) -> str:
    start = cur.pos
    if cur.peek() == '"':
        pattern = _json_string(cur)
    else:
        text, n = cur.text, len(cur.text)
        i, depth, in_class = start, 0, False
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if in_class:
                in_class = c != "]"
            elif c == "[":
                in_class = True
            elif c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            elif c in ";|" and depth == 0:
                break
            i += 1
        cur.pos = min(i, n)
        pattern = text[start:cur.pos].rstrip()  # blanks before the next operator are not the pattern's
    if not pattern:
        cur.fail("a regular expression")
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        cur.invalid(f"regular expression {pattern!r}", start, f"invalid ({exc})")
    return pattern


# ---- scopeQ and type expressions ---------------------------------------------------------------


def _scope(cur: _Cursor) -> Scope:
    if cur.peek() != "/":
        cur.fail("a scope starting with '/'")
    levels: list[str] = []
    while cur.peek() == "/":
        if cur.at("/#"):
            cur.pos += 2
            return Scope(tuple(levels), True)
        cur.pos += 1
        if cur.peek() == "+":
            cur.pos += 1
            levels.append("+")
            continue
        start = cur.pos
        while cur.peek() and _name_char(cur.peek()):
            cur.pos += 1
        if cur.pos == start:
            cur.fail("a scope level (letters, digits, '_'), '+' or '#'")
        levels.append(cur.text[start:cur.pos])
    return Scope(tuple(levels))


def _type_name(cur: _Cursor, expand: Expand) -> TypeName:
    start = cur.pos
    text, n = cur.text, len(cur.text)
    while cur.pos < n and text[cur.pos] not in ",;|()" and not text[cur.pos].isspace():
        cur.pos += 1
    token = text[start:cur.pos]
    if not token:
        cur.fail("an entity type name or IRI")
    if not (_is_name(token) or _is_compact(token) or _URI.match(token)):
        cur.invalid(f"type {token!r}", start, "an entity type is a name (letters, digits, '_') or an IRI")
    return TypeName(expand(token))
