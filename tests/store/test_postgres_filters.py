"""q, scopeQ, type expressions, id patterns and orderBy compiled to PostgreSQL answer exactly as
the SQLite compilation does: the documents, cases and oracles of ``test_sqlite_filters`` are run
through ``PostgresStore``, and random inputs are compared with the live SQLite answer.

Runs when ``TERRITOIRES_TEST_DATABASE_URL`` names a PostgreSQL + PostGIS database."""

from __future__ import annotations

import math
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData, NgsiLdError
from territoires.ngsild.query import (
    MAX_DEPTH,
    MAX_TERMS,
    AnyOf,
    AttrPath,
    Comparison,
    Exists,
    Value,
    parse_order_by,
    parse_q,
    parse_scope_q,
    parse_type_expr,
)
from territoires.store import postgres_filters, sqlite_filters
from territoires.store.port import EntityQuery, NotSupported
from territoires.store.postgres_regex import MAX_POSITIONS, to_are
from tests.store import test_sqlite_filters as lite
from tests.store.test_sqlite_filters import db  # noqa: F401 - the SQLite oracle fixture

URL = os.environ.get("TERRITOIRES_TEST_DATABASE_URL", "")
if not URL:
    pytest.skip("TERRITOIRES_TEST_DATABASE_URL is not set: no PostgreSQL to test on", allow_module_level=True)

from territoires.store.postgres import PostgresStore

FEW = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Tenant:
    """A tenant of its own on the test database, queried through the store."""

    def __init__(self, store: PostgresStore, documents: list[dict[str, Any]]) -> None:
        self.store = store
        self.name = f"filters-{uuid.uuid4().hex}"
        store.create_tenant(self.name)
        with store.session(self.name, write=True) as session:
            session.insert(documents)

    def ids(self, **query: Any) -> list[str]:
        with self.store.session(self.name) as session:
            return [e["id"] for e in session.query(EntityQuery(limit=1000, **query)).entities]

    def drop(self) -> None:
        self.store.delete_tenant(self.name)


@pytest.fixture(scope="module")
def store() -> Iterator[PostgresStore]:
    backend = PostgresStore(URL, upgrade=True)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def city(store: PostgresStore) -> Iterator[Tenant]:
    """The Smart Data Models entities of ``test_sqlite_filters``."""
    tenant = Tenant(store, lite.ENTITIES)
    yield tenant
    tenant.drop()


@pytest.fixture(scope="module")
def raw() -> Iterator[psycopg.Connection]:
    """A plain connection, for expressions that read no table."""
    with psycopg.connect(URL, autocommit=True) as conn:
        yield conn


def on_sqlite(db: sqlite3.Connection, sql: str, params: list[Any], order: str = "e.rid") -> list[str]:  # noqa: F811
    return [r[0] for r in db.execute(f"SELECT e.id FROM entities e WHERE {sql} ORDER BY {order}", params)]


def parametrized(test: Any) -> list[Any]:
    """The cases a test of ``test_sqlite_filters`` is parametrized with."""
    return next(mark.args[1] for mark in test.pytestmark if mark.name == "parametrize")


# ---- q ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), lite.CASES, ids=[c[0] for c in lite.CASES])
def test_q_selects_as_on_sqlite(city: Tenant, q: str, expected: set[str]) -> None:
    assert lite.short(set(city.ids(q=parse_q(q, lite.expand)))) == expected


@FEW
@given(term=lite._random_terms())
def test_sql_agrees_with_a_plain_reading_of_the_semantics(city: Tenant, db: sqlite3.Connection, term: Any) -> None:  # noqa: F811
    selected = set(city.ids(q=term))
    assert selected == {doc["id"] for doc in lite.ENTITIES if lite.reference(doc, term)}
    assert selected == set(on_sqlite(db, *sqlite_filters.compile_q(term)))


@FEW
@given(path=lite._paths, op=st.sampled_from(["==", "!=", ">", ">=", "<", "<="]), value=lite._values)
def test_every_comparison_selects_as_on_sqlite(city: Tenant, db: sqlite3.Connection, path: AttrPath, op: str,  # noqa: F811
                                               value: Value) -> None:
    term = Comparison(path, op, value)  # type: ignore[arg-type]
    assert set(city.ids(q=term)) == set(on_sqlite(db, *sqlite_filters.compile_q(term)))


@FEW
@given(st.text(lite._q_alphabet, max_size=40))
def test_any_parsed_text_selects_as_on_sqlite(city: Tenant, db: sqlite3.Connection, text: str) -> None:  # noqa: F811
    try:
        expr = parse_q(text, lite.expand)
    except NgsiLdError:
        return
    assert set(city.ids(q=expr)) == set(on_sqlite(db, *sqlite_filters.compile_q(expr)))


def test_the_largest_queries_run(city: Tenant, db: sqlite3.Connection) -> None:  # noqa: F811
    widest = "|".join(f'status=="s{n}";luminosity.observedAt>2026-01-01T00:00:00Z' for n in range(MAX_TERMS // 2))
    deepest = "(" * (MAX_DEPTH - 1) + "|".join(['(luminosity>1;status!="x")'] * 3) + ")" * (MAX_DEPTH - 1)
    for text in (widest, deepest):
        expr = parse_q(text, lite.expand)
        assert city.ids(q=expr) == on_sqlite(db, *sqlite_filters.compile_q(expr))


@pytest.mark.parametrize("literal", ["ok\x00", "\x00", "SN-001-A\x00z", "o"])
@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_strings_holding_nul_compare_as_on_sqlite(city: Tenant, db: sqlite3.Connection, op: str, literal: str) -> None:  # noqa: F811
    """PostgreSQL text cannot hold U+0000: such literals are rewritten, not bound."""
    for term in (Comparison(AttrPath(lite.expand("serialNumber")), op, Value("string", literal)),  # type: ignore[arg-type]
                 AnyOf(AttrPath(lite.expand("status")), (Value("string", literal), Value("string", "ok")), op == "!=")):
        assert set(city.ids(q=term)) == set(on_sqlite(db, *sqlite_filters.compile_q(term)))


def test_values_are_bound_never_spliced(city: Tenant) -> None:
    for q in ("status==\"x') OR 1=1 --\"", 'status=="100%"', 'status=="%s"', 'status=="%(x)s"', 'status~="%"'):
        assert city.ids(q=parse_q(q, lite.expand)) == []
    sql, params = postgres_filters.compile_q(parse_q('status=="\'; DROP TABLE entities; --"', lite.expand))
    assert "DROP" not in sql and params[-1] == "'; DROP TABLE entities; --"
    assert sql.count("%s") == len(params) and "%" not in sql.replace("%s", "")
    assert len(city.ids()) == len(lite.ENTITIES)


@pytest.mark.parametrize("iri", parametrized(lite.test_iris_that_could_break_a_json_path_are_refused))
def test_names_sqlite_refuses_are_refused_here_too(iri: str) -> None:
    with pytest.raises(BadRequestData, match="cannot query"):
        postgres_filters.compile_q(parse_q("name==1", lambda _: iri))
    with pytest.raises(BadRequestData, match="cannot query"):
        postgres_filters.compile_q(Exists(AttrPath("https://example.org/ok", keys=(iri,))))
    with pytest.raises(BadRequestData, match="cannot query"):
        postgres_filters.compile_order_by(parse_order_by("name", lambda _: iri))


def test_q_terms_are_served_by_the_shape_index(store: PostgresStore) -> None:
    """Entities of 40 kinds: a term on an attribute of one kind reads that kind's rows only."""
    kinds = [lite.entity(f"urn:ngsi-ld:Thing:{n}", "Thing", **{f"a{n % 40}": lite.prop("x")}) for n in range(4000)]
    tenant = Tenant(store, kinds)
    try:
        sql, params = postgres_filters.compile_q(parse_q('a7=="x"', lite.expand))
        with psycopg.connect(URL) as conn, conn.transaction():
            conn.execute("ANALYZE entities")
            conn.execute("SELECT set_config('territoires.tenant', %s, true)", (tenant.name,))
            plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT e.rid FROM entities e WHERE {sql}", params))
        assert "entities_by_shape" in plan, plan
        assert len(tenant.ids(q=parse_q('a7=="x"', lite.expand))) == 100
    finally:
        tenant.drop()


# ---- types, attributes, scopes, id patterns --------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), parametrized(lite.test_type_expressions_select))
def test_type_expressions_select_as_on_sqlite(city: Tenant, text: str, expected: set[str]) -> None:
    assert lite.short(set(city.ids(types=parse_type_expr(text, lite.expand)))) == expected


def test_019_01_01_query_entities_by_type(city: Tenant) -> None:
    assert lite.short(set(city.ids(types=parse_type_expr("Streetlight", lite.expand)))) == set(lite.SL[1:])
    both = parse_type_expr("ParkingSpot,WasteContainer", lite.expand)
    assert lite.short(set(city.ids(types=both))) == set(lite.PS[1:]) | set(lite.WC[1:])


def test_019_01_04_query_entities_by_attribute_names(city: Tenant) -> None:
    names = tuple(lite.expand(n) for n in ("fillingLevel", "NO2"))
    assert lite.short(set(city.ids(attrs=names))) == set(lite.WC[1:]) | set(lite.AQ[1:])
    assert city.ids(attrs=(lite.expand("nothing"),)) == []


def test_names_holding_nul_match_nothing(city: Tenant) -> None:
    assert city.ids(types=parse_type_expr("a:\x00", lambda s: s)) == []
    assert city.ids(attrs=(lite.expand("NO2\x00"),)) == []
    streetlights = parse_type_expr("Streetlight|a:\x00", lite.expand)
    assert lite.short(set(city.ids(types=streetlights))) == set(lite.SL[1:])


@pytest.mark.parametrize(("text", "expected"), parametrized(lite.test_scope_q_selects))
def test_scope_q_selects_as_on_sqlite(city: Tenant, text: str, expected: set[str]) -> None:
    assert lite.short(set(city.ids(scope_q=parse_scope_q(text)))) == expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ("Waste", set(lite.WC[1:])),
    ("^urn:ngsi-ld:Parking", set(lite.PS[1:])),
    ("(?i)streetlightCONTROL", {"StreetlightControlCabinet:A"}),
    (r":\d$", set(lite.SL[1:]) | set(lite.WC[1:]) | set(lite.PS[1:]) | set(lite.AQ[1:])),
    ("Cabinet:[^A]", set()),
])
def test_019_01_03_query_entities_by_id_pattern(city: Tenant, pattern: str, expected: set[str]) -> None:
    assert lite.short(set(city.ids(id_pattern=pattern))) == expected


@pytest.mark.parametrize(("pattern", "detail"), [
    ("(", "not a valid regular expression|invalid"),
    (r"(a)\1", "back reference"),
    ("(?P<x>a)(?P=x)", "back reference"),
    ("(a)?(?(1)b|c)", "conditional"),
    ("(?>ab)", "atomic group"),
    ("a*+", "possessive"),
    (f"(?:a{{{MAX_POSITIONS}}})b", "positions"),
])
def test_patterns_postgresql_cannot_run_are_bad_request_data(city: Tenant, pattern: str, detail: str) -> None:
    with pytest.raises(BadRequestData, match=detail) as refused:
        city.ids(id_pattern=pattern)
    assert "idPattern" in refused.value.detail
    with pytest.raises(BadRequestData, match=detail):
        city.ids(q=parse_q(f"status~={orjson.dumps(pattern).decode()}", lite.expand))


# ---- regular expressions: Python re, evaluated by PostgreSQL ---------------------------------------


def matches_on_postgresql(raw: psycopg.Connection, pattern: str, subjects: list[str]) -> list[bool]:
    rows = raw.execute(
        "SELECT array_agg(u.s ~ %s ORDER BY u.i) FROM unnest(%s::text[]) WITH ORDINALITY AS u(s, i)",
        (to_are(pattern, "q"), subjects),
    ).fetchone()
    return list(rows[0])


@pytest.mark.parametrize(("pattern", "subjects"), [
    ("e$", ["Rennes", "Rennes\n", "Rennes\n\n", "e\nx"]),  # $ also before a final newline
    (r"e\Z", ["Rennes", "Rennes\n"]),
    ("(?m)^b$", ["a\nb\nc", "ab", "b\n", "\nb"]),
    ("a.c", ["abc", "a\nc", "aéc"]),
    ("(?s)a.c", ["a\nc"]),
    (r"\bx", ["", "x", "ax", "a x", "éx", "_x"]),
    (r"\B", ["", "a", " "]),  # Python finds no boundary in an empty string
    (r"\d", ["٣", "3", "x", "²"]),  # Unicode digits, not superscripts
    (r"(?a)\d", ["٣", "3"]),
    (r"\w+\s\w", ["café noir", "a\u00a0b", "a\u2003b", "a-b"]),
    (r"(?a:\w)\w", ["éé", "aé", "ée"]),
    ("(?i)straße", ["STRASSE", "Straße", "STRAẞE", "ſtraße"]),
    ("(?i)k", ["K", "\u212a", "k"]),  # the Kelvin sign
    ("(?i)[a-z]", ["İ", "ı", "\u212a", "1"]),
    ("(?i)σ", ["Σ", "ς", "σ"]),
    ("(?i:a)B", ["AB", "Ab", "aB"]),
    ("[^\\W\\d]", ["1", "a", "_", " "]),
    ("x{300}", ["x" * 299, "x" * 300]),
    ("^x{3,600}$", ["xx", "xxx", "x" * 600, "x" * 601]),
    ("a+?b", ["aab", "ab", "b"]),
    ("(?<=a)b", ["ab", "cb"]),
    ("(?<!a)b", ["ab", "cb"]),
    ("a(?=b)", ["ab", "ac"]),
    ("\x00", ["", "a"]),
    ("[\x00-a]", ["a", "b", "\x01"]),
    ("(?x) a  b # comment", ["ab", "a b"]),
    ("", ["", "x"]),
    ("a|", ["", "b"]),
    (r"[\]\[^-]", ["]", "[", "^", "-", "a"]),
    ("\\U0001F600+", ["😀", "x"]),
])
def test_patterns_match_as_python_re(raw: psycopg.Connection, pattern: str, subjects: list[str]) -> None:
    assert matches_on_postgresql(raw, pattern, subjects) == [re.search(pattern, s) is not None for s in subjects]


_ATOMS = st.sampled_from([
    "a", "b", "é", "É", "k", "K", "s", "ß", "ſ", "σ", "Σ", "ς", "1", "٣", " ", "\\n", "-", "\\.", ".",
    "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "[a-c]", "[^a]", "[é-ÿ]", "[\\d_]", "[^\\w\\s]", "^", "$",
    "\\A", "\\Z", "\\b", "\\B", "(?i:b)", "(?a:\\w)",
])


@st.composite
def _regexes(draw: Any, depth: int = 0) -> str:
    """Python regular expressions made of the constructs the translation rewrites."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 9 if depth < 2 else 5))
        if kind <= 5:
            part = draw(_ATOMS)
        elif kind == 6:
            part = "(?:" + "|".join(draw(st.lists(_regexes(depth + 1), min_size=1, max_size=3))) + ")"
        elif kind == 7:
            part = "(" + draw(_regexes(depth + 1)) + ")"
        elif kind == 8:
            part = draw(st.sampled_from(["(?=", "(?!", "(?<=", "(?<!"])) + draw(_ATOMS) + ")"
        else:
            part = "(?:" + draw(_regexes(depth + 1)) + ")"
        quantifier = draw(st.sampled_from(["", "", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "*?", "{2,3}?"]))
        parts.append(part + (quantifier if part not in ("^", "$", "\\A", "\\Z", "\\b", "\\B") else ""))
    flags = draw(st.sampled_from(["", "", "(?i)", "(?m)", "(?s)", "(?a)", "(?ims)"])) if depth == 0 else ""
    return flags + "".join(parts)


_SUBJECTS = st.lists(st.text(st.sampled_from(list("abkKsßſσΣςéÉ1٣ -.\n_\u212a\u00a0")), max_size=6), min_size=8,
                     max_size=8)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=_regexes(), subjects=_SUBJECTS)
def test_translated_patterns_match_where_python_re_does(raw: psycopg.Connection, pattern: str,
                                                        subjects: list[str]) -> None:
    try:
        compiled = re.compile(pattern)
    except re.error:
        assume(False)
        return
    assert matches_on_postgresql(raw, pattern, subjects) == [compiled.search(s) is not None for s in subjects]


# ---- dates and times: SQLite's julianday, in PostgreSQL -------------------------------------------------

_DIGITS = st.text(st.sampled_from("0123456789"), min_size=1, max_size=3).map(lambda s: s.zfill(2)[-2:])


@st.composite
def _timestamps(draw: Any) -> str:
    """Texts near the shapes julianday reads: valid, out of range, or slightly malformed."""
    date = draw(st.sampled_from(["", "2026-11-28", "-0100-02-29", "0000-01-01", "9999-12-31", "2026-02-30",
                                 "2026-13-01", "2026-00-10", "-4714-01-01", "2026-1-01"]))
    if draw(st.booleans()) or not date:
        separator = draw(st.sampled_from(["T", " ", "", "TT", "\t", "T "])) if date else ""
        clock = f"{draw(_DIGITS)}:{draw(_DIGITS)}"
        if draw(st.booleans()):
            fraction = draw(st.sampled_from(["", ".5", ".123456", ".9999", ".0005", ".", ".1234567890123"]))
            clock += ":" + draw(_DIGITS) + fraction
        zone = draw(st.sampled_from(["", "Z", "z", " Z ", "+01:00", "-14:00", "+15:00", "+01:60", "+0100", "Zx"]))
        date += separator + clock + zone
    return date + draw(st.sampled_from(["", "", " ", "x"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_timestamps(), min_size=20, max_size=20))
def test_instants_are_read_as_sqlite_julianday_reads_them(raw: psycopg.Connection, texts: list[str]) -> None:
    julian, params = postgres_filters._julian_ms(("u.s", []))
    (found,) = raw.execute(
        f"SELECT array_agg({julian} ORDER BY u.i) FROM unnest(%s::text[]) WITH ORDINALITY AS u(s, i)",
        (*params, texts),
    ).fetchone()
    lite_conn = sqlite3.connect(":memory:")
    expected = [None if jd is None else round(jd * 86400000)
                for (jd,) in (lite_conn.execute("SELECT julianday(?)", (t,)).fetchone() for t in texts)]
    assert list(found) == expected


# ---- orderBy ------------------------------------------------------------------------------------------

# Values whose order only the JSON text of objects with several members decides are left out:
# SQLite compares objects as written, jsonb keeps no member order (see the module's docstring).
ORDERINGS = [
    "luminosity", "luminosity;desc", "status", "status;desc", "category", "category;desc",
    "address[addressLocality]", "dateLastLamped", "dateLastLamped;desc", "luminosity.observedAt",
    "luminosity.observedAt;desc", "description[fr]", "description[en];desc", "id", "id;desc", "type", "type;desc",
    "scope", "scope;desc", "createdAt", "modifiedAt;desc", "temperature.accuracy", "temperature.accuracy;desc",
    "refDevice", "refDevice;desc", "pollutants", "pollutants;desc", "pollutants[no2]", "pollutants[no2.value]",
    "isActive", "isActive;desc", "NO2", "fillingLevel;desc,luminosity", "wasteType", "wasteType;desc", "name[fr]",
    "openingTime", "reservationDate", "occupancyModified;desc", "luminosity.unitCode", "luminosity.datasetId;desc",
    "airQualityLevel", "airQualityLevel;desc", "category[0]", "luminosity.accuracy.unitCode", "type,status;desc,id",
]


@pytest.mark.parametrize("text", ORDERINGS)
def test_orders_as_on_sqlite(city: Tenant, db: sqlite3.Connection, text: str) -> None:  # noqa: F811
    keys = parse_order_by(text, lite.expand)
    order, params = sqlite_filters.compile_order_by(keys)
    assert city.ids(order_by=keys) == on_sqlite(db, "1", params, f"{order}, e.rid")


# Every kind of clause 4.23.2, and typed literals SQLite's julianday reads in unusual ways.
PROBES = [
    2.5, 10, -3, 10**18, 1e20, 0.1, "Abc", "abc", "é", "", {"k": 1}, [1, 2], [10], [], {}, False, True, None,
    {"@type": "Time", "@value": "10:00:00Z"}, {"@type": "Time", "@value": "09:59:59.9996Z"},
    {"@type": "Time", "@value": "junk"}, {"@type": "Time", "@value": 5}, {"@type": "Time"},
    {"@type": "Date", "@value": "2026-01-02"}, {"@type": "Date", "@value": 3}, {"@type": "Date", "@value": True},
    {"@type": "Date"}, {"@type": "DateTime", "@value": "2026-01-01T00:00:00Z"},
    {"@type": "DateTime", "@value": "2026-01-01 00:00:00+01:00"}, {"@type": "DateTime", "@value": "2026-02-30T00:00Z"},
    {"@type": "DateTime", "@value": "-0010-01-01"}, {"@type": "DateTime", "@value": 2460000.5},
    {"@type": "DateTime", "@value": False}, {"@type": "DateTime", "@value": [1]}, {"@type": ["Time"], "@value": "x"},
    {"@type": "DateTime", "@value": " 2460000.25 "}, {"@type": "DateTime", "@value": "+.5e3"},
    {"@type": "DateTime", "@value": "5."}, {"@type": "DateTime", "@value": "1e-999"},
    {"@type": "Time", "@value": "1e9999"}, {"@type": "Time", "@value": "-1"}, {"@type": "Time", "@value": "5373484.5"},
    {"@type": "Time", "@value": "1e"},
    {"@type": "Other", "@value": 1},
]


@pytest.fixture(scope="module")
def probes(store: PostgresStore) -> Iterator[tuple[Tenant, sqlite3.Connection]]:
    """Entities of every kind of value, on PostgreSQL and in a SQLite table like ``db``."""
    documents = [lite.entity(f"urn:ngsi-ld:Probe:{n}", "Probe", rank=lite.prop(v)) for n, v in enumerate(PROBES)]
    documents.append(lite.entity("urn:ngsi-ld:Probe:absent", "Probe"))
    tenant = Tenant(store, documents)
    lite_db = sqlite3.connect(":memory:")
    lite_db.executescript("CREATE TABLE entities(rid INTEGER PRIMARY KEY, id TEXT, shape INTEGER, doc TEXT);")
    lite_db.executemany("INSERT INTO entities(id, shape, doc) VALUES (?, 0, ?)",
                        [(d["id"], orjson.dumps(d).decode()) for d in documents])
    yield tenant, lite_db
    tenant.drop()


@pytest.mark.parametrize("text", ["rank", "rank;desc"])
def test_values_of_every_kind_order_as_on_sqlite(probes: tuple[Tenant, sqlite3.Connection], text: str) -> None:
    tenant, lite_db = probes
    keys = parse_order_by(text, lite.expand)
    order, params = sqlite_filters.compile_order_by(keys)
    assert tenant.ids(order_by=keys) == on_sqlite(lite_db, "1", params, f"{order}, e.rid")


@pytest.fixture(scope="module")
def places(store: PostgresStore) -> Iterator[Tenant]:
    """Points around Rennes, named with and without accents; one without location or name."""
    spots = {"a": (-1.68, 48.11, "été"), "b": (-1.60, 48.11, "Ete"), "c": (-1.68, 48.20, "ete"),
             "d": (2.35, 48.85, "fête"), "e": (-1.70, 48.10, "Fete")}
    documents = [lite.entity(f"urn:ngsi-ld:Place:{k}", "Place", location=lite.geo(lon, lat), name=lite.prop(name))
                 for k, (lon, lat, name) in spots.items()]
    documents.append(lite.entity("urn:ngsi-ld:Place:nowhere", "Place"))
    tenant = Tenant(store, documents)
    yield tenant
    tenant.drop()


def _on_sphere(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon1, lat1), (lon2, lat2) = (map(math.radians, p) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def test_order_by_distance_nearest_first_and_places_without_location_last(places: Tenant) -> None:
    here = (-1.675, 48.112)
    reference = {"type": "Point", "coordinates": list(here)}
    coordinates = {"a": (-1.68, 48.11), "b": (-1.60, 48.11), "c": (-1.68, 48.20), "d": (2.35, 48.85),
                   "e": (-1.70, 48.10)}
    nearest = sorted(coordinates, key=lambda k: _on_sphere(here, coordinates[k]))
    expected = [f"urn:ngsi-ld:Place:{k}" for k in nearest]
    nearest_first = parse_order_by("location;dist-asc", lite.expand)
    assert places.ids(order_by=nearest_first, order_from=reference) == expected + ["urn:ngsi-ld:Place:nowhere"]
    farthest = parse_order_by("location;dist-desc", lite.expand)
    assert places.ids(order_by=farthest, order_from=reference) == expected[::-1] + ["urn:ngsi-ld:Place:nowhere"]


def test_sorting_by_distance_needs_a_reference_and_a_top_level_geoproperty() -> None:
    with pytest.raises(BadRequestData, match="reference geometry"):
        postgres_filters.compile_order_by(parse_order_by("location;dist-asc", lite.expand))
    with pytest.raises(NotSupported, match="sub-attribute"):
        postgres_filters.compile_order_by(parse_order_by("location.origin;dist-asc", lite.expand),
                                          order_from={"type": "Point", "coordinates": [0, 0]})


def test_an_icu_collation_orders_strings_as_a_reader_expects(places: Tenant) -> None:
    by_name = parse_order_by("name", lite.expand)
    names = {"a": "été", "b": "Ete", "c": "ete", "d": "fête", "e": "Fete"}
    by_code_point = [f"urn:ngsi-ld:Place:{k}" for k in sorted(names, key=lambda k: names[k])]
    assert places.ids(order_by=by_name)[:5] == by_code_point
    french = places.ids(order_by=by_name, collation="fr")
    assert french == places.ids(order_by=by_name, collation="fr-x-icu")
    letters = [names[i.rsplit(":", 1)[1]] for i in french[:5]]
    assert [n.lower().replace("é", "e").replace("ê", "e") for n in letters] == ["ete"] * 3 + ["fete"] * 2
    assert french[-1] == "urn:ngsi-ld:Place:nowhere"


@pytest.mark.parametrize("collation", ["de-u-co-phonebk", "tlh", "x-icu"])
def test_other_collations_are_not_supported(places: Tenant, collation: str) -> None:
    with pytest.raises(NotSupported, match="code point"):
        places.ids(order_by=parse_order_by("name", lite.expand), collation=collation)
