"""The NGSI-LD query languages: q (clause 4.9), scopeQ (4.19), type expressions (4.17), attribute lists."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData, NgsiLdError, TooComplexQuery
from territoires.ngsild.query import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TERMS,
    QUERY_MEMBERS,
    And,
    AnyOf,
    AttrPath,
    Comparison,
    Exists,
    InRange,
    LinkedPath,
    Or,
    Pattern,
    QExpr,
    Scope,
    TypeName,
    Value,
    parse_attr_list,
    parse_q,
    parse_scope_q,
    parse_type_expr,
)

VOCAB = "https://example.org/"


def expand(name: str) -> str:
    if name.startswith("ex:"):
        return "https://example.com/ns#" + name[3:]
    return name if ":" in name else VOCAB + name


def compact(iri: str) -> str:
    if iri.startswith("https://example.com/ns#"):
        return "ex:" + iri[len("https://example.com/ns#"):]
    return iri.removeprefix(VOCAB)


def path(attr: str, *sub: str, member: str | None = None, keys: tuple[str, ...] = ()) -> AttrPath:
    return AttrPath(expand(attr), tuple(expand(s) for s in sub), member, keys)


def num(n: float) -> Value:
    return Value("number", n)


def string(s: str) -> Value:
    return Value("string", s, expand(s) if s.isidentifier() else None)


# ---- the examples of clause 4.9 ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("temperature", Exists(path("temperature"))),  # example 0
    ("temperature==20", Comparison(path("temperature"), "==", num(20))),  # example 1
    ('brandName!="Mercedes"', Comparison(path("brandName"), "!=", string("Mercedes"))),  # example 2
    ('isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"',  # example 3
     Comparison(path("isParked"), "==", Value("string", "urn:ngsi-ld:OffStreetParking:Downtown1"))),
    ('speed>50;brandName!="Mercedes"', And((Comparison(path("speed"), ">", num(50)),  # example 4
                                            Comparison(path("brandName"), "!=", string("Mercedes"))))),
    ("isMonitoredBy", Exists(path("isMonitoredBy"))),  # example 5
    ('((speed>50|rpm>3000);brandName=="Mercedes")', And((  # example 6
        Or((Comparison(path("speed"), ">", num(50)), Comparison(path("rpm"), ">", num(3000)))),
        Comparison(path("brandName"), "==", string("Mercedes"))))),
    ("(temperature>=20;temperature<=25)|capacity<=10", Or((  # example 7
        And((Comparison(path("temperature"), ">=", num(20)), Comparison(path("temperature"), "<=", num(25)))),
        Comparison(path("capacity"), "<=", num(10))))),
    ("temperature.observedAt>=2017-12-24T12:00:00Z",  # example 8
     Comparison(path("temperature", member="observedAt"), ">=", Value("dateTime", "2017-12-24T12:00:00Z"))),
    ('address[city]=="Berlin"', Comparison(path("address", keys=("city",)), "==", string("Berlin"))),  # example 9
    ("sensor.rawdata[airquality.particulate]==40",  # example 10
     Comparison(path("sensor", "rawdata", keys=("airquality", "particulate")), "==", num(40))),
    ('parkingTickets[value]=="Overstay 60 minutes"',  # example 11
     Comparison(path("parkingTickets", keys=("value",)), "==", Value("string", "Overstay 60 minutes"))),
    ("gender==Male", Comparison(path("gender"), "==", Value("term", "Male", VOCAB + "Male"))),  # example 12
])
def test_clause_4_9_examples(text: str, expected: QExpr) -> None:
    assert parse_q(text, expand) == expected


def test_and_binds_tighter_than_or() -> None:
    a, b, c = (Exists(path(n)) for n in "abc")
    assert parse_q("a|b;c", expand) == Or((a, And((b, c))))
    assert parse_q("a;b|c", expand) == Or((And((a, b)), c))
    assert parse_q("(a|b);c", expand) == And((Or((a, b)), c))
    assert parse_q("a;(b;c)", expand) == And((a, b, c))  # associations of one operator flatten
    assert parse_q(" ( a ; b ) | c ", expand) == Or((And((a, b)), c))  # blanks between tokens


@pytest.mark.parametrize(("text", "expected"), [
    ("a==1,2,3", AnyOf(path("a"), (num(1), num(2), num(3)))),
    ('a!="x","y"', AnyOf(path("a"), (string("x"), string("y")), negated=True)),
    ("a==1, true ,urn:x:1", AnyOf(path("a"), (num(1), Value("boolean", True), Value("uri", "urn:x:1")))),
    ("a==10..20", InRange(path("a"), num(10), num(20))),
    ("a!=-1.5..2e3", InRange(path("a"), num(-1.5), num(2000.0), negated=True)),
    ('a=="a".."m"', InRange(path("a"), string("a"), string("m"))),
    ("a==2020-01-01T00:00:00Z..2020-12-31T23:59:59.999Z",
     InRange(path("a"), Value("dateTime", "2020-01-01T00:00:00Z"), Value("dateTime", "2020-12-31T23:59:59.999Z"))),
    ("a==2024-02-29", Comparison(path("a"), "==", Value("date", "2024-02-29"))),
    ("a<12:30:00Z", Comparison(path("a"), "<", Value("time", "12:30:00Z"))),
    ("a>12:30:00,25Z", Comparison(path("a"), ">", Value("time", "12:30:00.25Z"))),  # a decimal comma (4.6.3)
    ("a==2020-01-01T00:00:00,5Z,3", AnyOf(path("a"), (Value("dateTime", "2020-01-01T00:00:00.5Z"), num(3)))),
    ("a==true", Comparison(path("a"), "==", Value("boolean", True))),
    ("a!=false", Comparison(path("a"), "!=", Value("boolean", False))),
    ("a==0", Comparison(path("a"), "==", num(0))),
    ("a==-0.5e-3", Comparison(path("a"), "==", num(-0.0005))),
    ("a==12345678901234567890123", Comparison(path("a"), "==", num(1.2345678901234568e22))),  # beyond int64
    ("refX==urn:ngsi-ld:Thing:1", Comparison(path("refX"), "==", Value("uri", "urn:ngsi-ld:Thing:1"))),
    ("a==https://example.org/x?y=1#z", Comparison(path("a"), "==", Value("uri", "https://example.org/x?y=1#z"))),
    ("a==ex:Thing", Comparison(path("a"), "==", Value("uri", "ex:Thing", "https://example.com/ns#Thing"))),
    (r'a=="quote \" backslash \\ tab \t \u00e9"',
     Comparison(path("a"), "==", Value("string", 'quote " backslash \\ tab \t é'))),
    ('a==";|)(,"', Comparison(path("a"), "==", Value("string", ";|)(,"))),
    ('a==""', Comparison(path("a"), "==", Value("string", ""))),
])
def test_values(text: str, expected: QExpr) -> None:
    assert parse_q(text, expand) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("a.b.c", Exists(path("a", "b", "c"))),
    ("a.b.unitCode", Exists(path("a", "b", member="unitCode"))),
    ("a.datasetId==urn:x:1", Comparison(path("a", member="datasetId"), "==", Value("uri", "urn:x:1"))),
    ("a.modifiedAt<2020-01-01T00:00:00Z", Comparison(path("a", member="modifiedAt"), "<",
                                                     Value("dateTime", "2020-01-01T00:00:00Z"))),
    ("a[k1][k2]", Exists(path("a", keys=("k1", "k2")))),
    ("a[k1.k2][k3]", Exists(path("a", keys=("k1", "k2", "k3")))),
    ("a.b[k]==1", Comparison(path("a", "b", keys=("k",)), "==", num(1))),
    ('name[fr-CA]=="x"', Comparison(path("name", keys=("fr-CA",)), "==", Value("string", "x", VOCAB + "x"))),
    ('name[*]=="x"', Comparison(path("name", keys=("*",)), "==", Value("string", "x", VOCAB + "x"))),
    ("ex:temp.ex:acc>1", Comparison(path("ex:temp", "ex:acc"), ">", num(1))),
    ("température_2>1", Comparison(path("température_2"), ">", num(1))),
    ("observedAt", Exists(path("observedAt"))),  # at top level it is an attribute name
    # Linked entity sub-queries (clause 4.9, EXAMPLES 13 and 14), type hints before ':'
    ('managedBy{name}=="Pisa"', Comparison(AttrPath(expand("managedBy"), linked=LinkedPath((), path("name"))), "==",
                                           Value("string", "Pisa", VOCAB + "Pisa"))),
    ("managedBy{Building,Tower:name.observedAt}", Exists(AttrPath(expand("managedBy"), linked=LinkedPath(
        (expand("Building"), expand("Tower")), path("name", member="observedAt"))))),
    ("a{T:b{c[k]}}", Exists(AttrPath(expand("a"), linked=LinkedPath(
        (expand("T"),), AttrPath(expand("b"), linked=LinkedPath((), path("c", keys=("k",)))))))),
])
def test_attribute_paths(text: str, expected: QExpr) -> None:
    assert parse_q(text, expand) == expected


def test_sub_attribute_names_are_expanded_but_json_keys_are_not() -> None:
    seen: list[str] = []

    def spy(name: str) -> str:
        seen.append(name)
        return "urn:x:" + name

    parse_q("a.b.observedAt>=2020-01-01T00:00:00Z;c[d.e][f]==1", spy)
    assert seen == ["a", "b", "c"]


@pytest.mark.parametrize(("text", "expected"), [
    ("a~=^ab+c$", Pattern(path("a"), "^ab+c$")),
    ("a!~=x", Pattern(path("a"), "x", negated=True)),
    ('a~="^(x|y);z$"', Pattern(path("a"), "^(x|y);z$")),
    ("a~=(x|y)[;|)]z;b", And((Pattern(path("a"), "(x|y)[;|)]z"), Exists(path("b"))))),
    (r"a~=x\;y|b", Or((Pattern(path("a"), r"x\;y"), Exists(path("b"))))),
    ("(a~=x)", Pattern(path("a"), "x")),
    ("a~= x y | b", Or((Pattern(path("a"), "x y"), Exists(path("b"))))),
    ('a~=" x "', Pattern(path("a"), " x ")),
    ('a~="(?i)^rennes"', Pattern(path("a"), "(?i)^rennes")),
])
def test_patterns(text: str, expected: QExpr) -> None:
    assert parse_q(text, expand) == expected


def test_5744_01_08_negated_existence_in_a_conjunction() -> None:
    """Clause 4.9: ``!attr`` holds for the entities lacking the attribute (or the path it names)."""
    assert parse_q("!heading;speed>25", expand) == And((Exists(path("heading"), negated=True),
                                                        Comparison(path("speed"), ">", num(25))))
    assert parse_q("(! heading.observedAt | a)", expand) == Or((
        Exists(path("heading", member="observedAt"), negated=True), Exists(path("a"))))
    for text in ("!speed>25", "!speed==1", "!speed!~=x"):
        with pytest.raises(BadRequestData, match="'!' only negates existence"):
            parse_q(text, expand)
    with pytest.raises(BadRequestData, match="expected an attribute name"):
        parse_q("!!heading", expand)


@pytest.mark.parametrize(("text", "detail"), [
    ("(a==1))", "q: unexpected ')' at position 7 in \"(a==1))\": expected a logical operator (';', '|') or the end"),
    ("a==1;;b", "q: unexpected ';' at position 6"),
    ("", "q: unexpected end at position 1 in \"\": expected an attribute name"),
    ("a=1", "q: unexpected '=' at position 2 in \"a=1\": expected an operator (==, !=, >, >=, <, <=, ~=, !~=)"),
    ("a==", "q: unexpected end at position 4 in \"a==\": expected a value"),
    ("(a==1", "q: unexpected end at position 6 in \"(a==1\": expected ')' or a logical operator"),
    ("a==1 b", "q: unexpected 'b' at position 6"),
    ("1a==1", "q: unexpected '1' at position 1 in \"1a==1\": expected an attribute name"),
    ("a..b", "q: unexpected '.' at position 3"),
    ("a.==1", "q: unexpected '=' at position 3 in \"a.==1\": expected a sub-attribute or member name after '.'"),
    ("a[k==1", "q: unexpected '=' at position 4 in \"a[k==1\": expected ']'"),
    ("a[]", "q: unexpected ']' at position 3"),
    ("a{b==1", "q: unexpected '=' at position 4 in \"a{b==1\": expected '}' closing the linked entity path"),
    ("a{}", "q: unexpected '}' at position 3"),
    ("a{T:}", "q: unexpected '}' at position 5"),
    ("a.observedAt.x==1", "q: unexpected '.' at position 13"),
    ("a.observedAt[x]==1", "q: unexpected '[' at position 13"),
    ("a==hello world", "q: unexpected 'w' at position 10"),
    ("a==x y", "q: unexpected 'y' at position 6"),
    ('a=="abc', "q: unterminated string at position 4"),
    (r'a=="\x"', "q: string \"\\x\" at position 4"),
    ("a==1e999", "q: number 1e999 at position 4 in \"a==1e999\": out of range"),
    ("a==2021-02-29T00:00:00Z", "q: dateTime 2021-02-29T00:00:00Z at position 4"),
    ("a==2021-13-01", "q: date 2021-13-01 at position 4"),
    ("a==25:00:00Z", "q: time 25:00:00Z at position 4"),
    ("a==2021-01-01T00:00:00+01:00", "q: value '2021-01-01T00:00:00+01:00' at position 4"),  # UTC only (4.6.3)
    ("a==12:00:00", "q: value '12:00:00' at position 4"),
    ("a==@x", "q: value '@x' at position 4"),
    ("a>true", "q: value true after '>' at position 3"),
    ("a<=urn:x:1", "q: value urn:x:1 after '<=' at position 4"),
    ("a>Male", "q: value Male after '>' at position 3"),
    ("a>1,2", "q: value list after '>' at position 2"),
    ("a>1..2", "q: range after '>' at position 2"),
    ("a==1..true", "q: range bound true at position 7"),
    ('a==1.."2"', 'q: range at position 4 in "a==1.."2"": both bounds must be of one kind'),
    ("a==1..2,3", "q: ',' after a range at position 8"),
    ("a==1,2..3", "q: range inside a value list at position 7"),
    ("a~=", "q: unexpected end at position 4 in \"a~=\": expected a regular expression"),
    ("a~=(", "q: regular expression '(' at position 4 in \"a~=(\": invalid"),
    ('a~="[z-a]"', "q: regular expression '[z-a]' at position 4"),
    ("a~=x{99999999999}", "q: regular expression"),
    ("a,b", "q: unexpected ',' at position 2"),
])
def test_syntax_errors_are_bad_request_data_with_position(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_q(text, expand)
    assert caught.value.detail.startswith(detail)
    assert caught.value.status == 400 and caught.value.type_uri.endswith("/BadRequestData")


def test_long_texts_are_shortened_in_details() -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_q("abcdefgh==1;" * 30 + ")", expand)
    assert "…" in caught.value.detail and len(caught.value.detail) < 400


def test_limits_raise_too_complex_query() -> None:
    parse_q("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH, expand)
    with pytest.raises(TooComplexQuery, match="nested deeper"):
        parse_q("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), expand)
    with pytest.raises(TooComplexQuery, match="nested deeper"):
        parse_q("(" * MAX_LENGTH, expand)
    with pytest.raises(TooComplexQuery, match="characters"):
        parse_q("a" * (MAX_LENGTH + 1), expand)
    parse_q(";".join(["a"] * MAX_TERMS), expand)
    with pytest.raises(TooComplexQuery, match="terms"):
        parse_q(";".join(["a"] * (MAX_TERMS + 1)), expand)
    with pytest.raises(TooComplexQuery):
        parse_scope_q("|".join(["/a"] * (MAX_TERMS + 1)))
    with pytest.raises(TooComplexQuery):
        parse_type_expr(",".join(["A"] * (MAX_TERMS + 1)), expand)


def test_text_that_is_not_unicode_is_refused() -> None:
    with pytest.raises(BadRequestData, match="position 5"):
        parse_q('a=="\ud800"', expand)


# ---- scopeQ (clause 4.19) ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("/Madrid", Scope(("Madrid",))),  # example 1
    ("/Madrid/Gardens/#", Scope(("Madrid", "Gardens"), True)),  # example 2
    ("/Madrid/+/ParqueNorte", Scope(("Madrid", "+", "ParqueNorte"))),  # example 3
    ("(/Madrid/Districts;/CompanyA)", And((Scope(("Madrid", "Districts")), Scope(("CompanyA",))))),  # example 4
    ("(/Madrid/Districts;/CompanyA)|/CompanyB", Or((  # example 5
        And((Scope(("Madrid", "Districts")), Scope(("CompanyA",)))), Scope(("CompanyB",))))),
    ("(/Madrid/Districts;/CompanyA),/CompanyB", Or((
        And((Scope(("Madrid", "Districts")), Scope(("CompanyA",)))), Scope(("CompanyB",))))),
    ("/#", Scope((), True)),
    ("/+/#", Scope(("+",), True)),
    ("/Bretagne/35/35238", Scope(("Bretagne", "35", "35238"))),
    ("/Île_de_France", Scope(("Île_de_France",))),
])
def test_scope_q(text: str, expected: Any) -> None:
    assert parse_scope_q(text) == expected


@pytest.mark.parametrize(("text", "detail"), [
    ("Madrid", "scopeQ: unexpected 'M' at position 1 in \"Madrid\": expected a scope starting with '/'"),
    ("/", "scopeQ: unexpected end at position 2"),
    ("/a//b", "scopeQ: unexpected '/' at position 4"),
    ("/a/#/b", "scopeQ: unexpected '/' at position 5"),
    ("/a b", "scopeQ: unexpected 'b' at position 4"),
    ("/a-b", "scopeQ: unexpected '-' at position 3"),
    ("(/a;/b", "scopeQ: unexpected end at position 7"),
    ("/a/++", "scopeQ: unexpected '+' at position 5"),
])
def test_scope_q_errors(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_scope_q(text)
    assert caught.value.detail.startswith(detail)


# ---- type expressions (clause 4.17) -----------------------------------------------------------


def t(name: str) -> TypeName:
    return TypeName(expand(name))


@pytest.mark.parametrize(("text", "expected"), [
    ("Building", t("Building")),
    ("Building|House", Or((t("Building"), t("House")))),  # example 1
    ("Building,House", Or((t("Building"), t("House")))),
    ("(Home;Vehicle)", And((t("Home"), t("Vehicle")))),  # example 2
    ("(Home;Vehicle)|Motorhome", Or((And((t("Home"), t("Vehicle"))), t("Motorhome")))),  # example 3
    ("(Home;Vehicle),Motorhome", Or((And((t("Home"), t("Vehicle"))), t("Motorhome")))),
    ("Home;Vehicle|Motorhome", Or((And((t("Home"), t("Vehicle"))), t("Motorhome")))),
    ("https://smartdatamodels.org/dataModel.Streetlight/Streetlight",
     TypeName("https://smartdatamodels.org/dataModel.Streetlight/Streetlight")),
    ("ex:Thing,urn:ngsi-ld:Types:Vehicle", Or((TypeName("https://example.com/ns#Thing"),
                                               TypeName("urn:ngsi-ld:Types:Vehicle")))),
])
def test_type_expressions(text: str, expected: Any) -> None:
    assert parse_type_expr(text, expand) == expected


@pytest.mark.parametrize(("text", "detail"), [
    ("", "type: unexpected end at position 1"),
    ("A,,B", "type: unexpected ',' at position 3"),
    ("A|", "type: unexpected end at position 3"),
    ("(A;B", "type: unexpected end at position 5"),
    ("A-B", "type: type 'A-B' at position 1"),
    ("A B", "type: unexpected 'B' at position 3"),
])
def test_type_expression_errors(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_type_expr(text, expand)
    assert caught.value.detail.startswith(detail)


# ---- attribute lists ----------------------------------------------------------------------------


def test_attr_lists_expand_names_and_keep_id_and_type() -> None:
    assert parse_attr_list("temperature,id, type ,ex:speed,temperature,urn:x:y", expand) == (
        VOCAB + "temperature", "id", "type", "https://example.com/ns#speed", "urn:x:y")


@pytest.mark.parametrize(("text", "detail"), [
    ("a,,b", "attrs: empty name at position 3"),
    ("a,", "attrs: empty name at position 3"),
    ("a,b c", "attrs: 'b c' at position 3"),
    ("a.b", "attrs: 'a.b' at position 1"),
])
def test_attr_list_errors(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_attr_list(text, expand)
    assert caught.value.detail.startswith(detail)
    with pytest.raises(BadRequestData, match="^pick: "):
        parse_attr_list(text, expand, param="pick")


# ---- round trips: a tree printed as text parses back to itself ------------------------------------


def to_text(expr: Any) -> str:
    """The q text of a tree, names compacted (the inverse of parse_q under ``expand``)."""
    if isinstance(expr, And):
        return ";".join(f"({to_text(x)})" if isinstance(x, Or) else to_text(x) for x in expr.terms)
    if isinstance(expr, Or):
        return "|".join(to_text(x) for x in expr.terms)
    text = path_text(expr.path)
    if isinstance(expr, Exists):
        return "!" + text if expr.negated else text
    if isinstance(expr, Comparison):
        return text + expr.op + value_text(expr.value)
    if isinstance(expr, AnyOf):
        return text + ("!=" if expr.negated else "==") + ",".join(value_text(v) for v in expr.values)
    if isinstance(expr, InRange):
        return text + ("!=" if expr.negated else "==") + value_text(expr.low) + ".." + value_text(expr.high)
    assert isinstance(expr, Pattern)
    return text + ("!~=" if expr.negated else "~=") + orjson.dumps(expr.regex).decode()


def path_text(p: AttrPath) -> str:
    if p.linked is not None:
        types = ",".join(compact(t) for t in p.linked.types)
        return f"{compact(p.attr)}{{{types + ':' if types else ''}{path_text(p.linked.path)}}}"
    text = compact(p.attr) + "".join("." + compact(s) for s in p.sub)
    text += f".{p.member}" if p.member else ""
    return text + "".join(f"[{k}]" for k in p.keys)


def value_text(v: Value) -> str:
    if v.kind == "string":
        return orjson.dumps(v.value).decode()
    if v.kind == "boolean":
        return "true" if v.value else "false"
    return repr(v.value) if v.kind == "number" else str(v.value)


def without_vocab(expr: Any) -> Any:
    """The tree with vocabulary expansions dropped (they derive from the value and @context)."""
    if isinstance(expr, And | Or):
        return type(expr)(tuple(without_vocab(x) for x in expr.terms))
    if isinstance(expr, Value):
        return dataclasses.replace(expr, vocab=None)
    if dataclasses.is_dataclass(expr):
        return dataclasses.replace(expr, **{
            f.name: tuple(without_vocab(x) for x in getattr(expr, f.name))
            if isinstance(getattr(expr, f.name), tuple) else without_vocab(getattr(expr, f.name))
            for f in dataclasses.fields(expr)
        })
    return expr


_letters = st.sampled_from("abcxyzABCXYZéßΩ")
_name = st.builds(lambda a, b: a + b, _letters,
                  st.text(st.sampled_from("abcxyzABC019_éΩ"), max_size=6))
_attr_name = st.one_of(_name, _name.map(lambda n: "ex:" + n)).filter(lambda n: n not in QUERY_MEMBERS)
_key = st.one_of(st.just("*"), st.text(st.sampled_from("abcXYZ09_-@é"), min_size=1, max_size=5))
_own_paths = st.builds(
    lambda attr, sub, member, keys: AttrPath(expand(attr), tuple(expand(s) for s in sub),
                                             member, () if member else tuple(keys)),
    _attr_name,
    st.lists(_attr_name, max_size=2),
    st.one_of(st.none(), st.sampled_from(sorted(QUERY_MEMBERS))),
    st.lists(_key, max_size=3),
)
# Linked entity paths (clause 4.9): inside the braces, a name before ':' is a type, so the
# linked path's attribute is a plain term.
_linked_paths = st.builds(
    lambda rel, types, inner: AttrPath(expand(rel), linked=LinkedPath(tuple(expand(t) for t in types), inner)),
    _attr_name, st.lists(_name, max_size=2),
    _own_paths.filter(lambda p: ":" not in compact(p.attr)),
)
_paths = st.one_of(_own_paths, _linked_paths)
_numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: 0.0 if f == 0 else f),
).map(num)
_strings = st.text(max_size=10).map(lambda s: Value("string", s))
_datetimes = st.datetimes().map(lambda d: Value("dateTime", d.isoformat(timespec="microseconds")
                                                .rstrip("0").removesuffix(".") + "Z"))
_dates = st.dates().map(lambda d: Value("date", d.isoformat()))
_times = st.times().map(lambda x: Value("time", x.strftime("%H:%M:%S") + "Z"))
_ordered = st.one_of(_numbers, _strings, _datetimes, _dates, _times)
_values = st.one_of(
    _ordered,
    st.booleans().map(lambda b: Value("boolean", b)),
    st.from_regex(r"urn:ngsi-ld:[A-Za-z]{1,5}:[A-Za-z0-9_\-]{1,5}", fullmatch=True).map(lambda u: Value("uri", u)),
    _name.filter(lambda n: n not in ("true", "false")).map(lambda n: Value("term", n)),
)
_regexes = st.sampled_from(["^a", "b$", "(x|y)+", "[;|)]", r"\d{2,3}", '"q"', "(?i)rennes", "a\\\\b"])


@st.composite
def _ranges(draw: Any) -> InRange:
    low = draw(_ordered)
    high = draw({"number": _numbers, "string": _strings, "dateTime": _datetimes, "date": _dates,
                 "time": _times}[low.kind])
    return InRange(draw(_paths), low, high, draw(st.booleans()))


_terms = st.one_of(
    st.builds(Exists, _paths, st.booleans()),
    st.builds(Comparison, _paths, st.sampled_from(["==", "!="]), _values),
    st.builds(Comparison, _paths, st.sampled_from([">", ">=", "<", "<="]), _ordered),
    st.builds(AnyOf, _paths, st.lists(_values, min_size=2, max_size=4).map(tuple), st.booleans()),
    _ranges(),
    st.builds(Pattern, _paths, _regexes, st.booleans()),
)


def _combined(children: Any) -> Any:
    def node(cls: type, terms: list) -> Any:
        flat: list = []
        for x in terms:  # the parser flattens a;(b;c) into a;b;c
            flat.extend(x.terms if isinstance(x, cls) else (x,))
        return cls(tuple(flat))

    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda ts: node(And, ts)),
        st.lists(children, min_size=2, max_size=3).map(lambda ts: node(Or, ts)),
    )


_queries = st.recursive(_terms, _combined, max_leaves=8)


@settings(max_examples=200)
@given(_queries)
def test_q_round_trip(expr: QExpr) -> None:
    text = to_text(expr)
    parsed = parse_q(text, expand)
    assert without_vocab(parsed) == expr
    assert to_text(parsed) == text


def scope_text(expr: Any) -> str:
    if isinstance(expr, And):
        return ";".join(f"({scope_text(x)})" if isinstance(x, Or) else scope_text(x) for x in expr.terms)
    if isinstance(expr, Or):
        return ",".join(scope_text(x) for x in expr.terms)
    return "".join("/" + level for level in expr.levels) + ("/#" if expr.descendants else "")


_scopes = st.builds(
    Scope, st.lists(st.one_of(st.just("+"), st.text(st.sampled_from("abXY09_é"), min_size=1, max_size=4)),
                    max_size=3).map(tuple), st.booleans(),
).filter(lambda s: s.levels or s.descendants)


@given(st.recursive(_scopes, _combined, max_leaves=6))
def test_scope_q_round_trip(expr: Any) -> None:
    assert parse_scope_q(scope_text(expr)) == expr


def type_text(expr: Any) -> str:
    if isinstance(expr, And):
        return "(" + ";".join(f"({type_text(x)})" if isinstance(x, Or) else type_text(x) for x in expr.terms) + ")"
    if isinstance(expr, Or):
        return "|".join(type_text(x) for x in expr.terms)
    return compact(expr.iri)


@given(st.recursive(st.builds(TypeName, _name.map(expand)), _combined, max_leaves=6))
def test_type_expression_round_trip(expr: Any) -> None:
    assert parse_type_expr(type_text(expr), expand) == expr


# ---- no input makes a parser fail with anything but an NGSI-LD error --------------------------------

_q_alphabet = st.sampled_from(list('abT.[]()=!<>~;|,"\\0123456789-:Z*/# +eé\ud800'))


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=60), st.text(_q_alphabet, max_size=60)))
def test_parsers_only_raise_ngsi_ld_errors(text: str) -> None:
    for parse in (lambda: parse_q(text, expand), lambda: parse_scope_q(text),
                  lambda: parse_type_expr(text, expand), lambda: parse_attr_list(text, expand)):
        try:
            parse()
        except NgsiLdError:
            pass
