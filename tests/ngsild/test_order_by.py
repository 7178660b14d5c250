"""The NGSI-LD Entity Ordering Language of ``orderBy`` (clause 4.23.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData, NgsiLdError, TooComplexQuery
from territoires.ngsild.query import (
    MAX_LENGTH,
    MAX_TERMS,
    ORDER_MEMBERS,
    QUERY_MEMBERS,
    AttrPath,
    OrderKey,
    parse_order_by,
)

VOCAB = "https://example.org/"
EX = "https://example.com/ns#"


def expand(name: str) -> str:
    if name.startswith("ex:"):
        return EX + name[3:]
    return name if ":" in name else VOCAB + name


def compact(iri: str) -> str:
    return "ex:" + iri[len(EX):] if iri.startswith(EX) else iri.removeprefix(VOCAB)


def path(attr: str, *sub: str, member: str | None = None, keys: tuple[str, ...] = ()) -> AttrPath:
    return AttrPath(expand(attr), tuple(expand(s) for s in sub), member, keys)


# ---- the examples of clause 4.23.3 and the orderBy values of the ETSI test purposes 019_19 --------


@pytest.mark.parametrize(("text", "expected"), [
    ("name", (OrderKey(path("name")),)),  # example 1
    ("name,age", (OrderKey(path("name")), OrderKey(path("age")))),  # example 2
    ("name,age;desc", (OrderKey(path("name")), OrderKey(path("age"), descending=True))),  # example 3
    ("address[city]", (OrderKey(path("address", keys=("city",))),)),  # example 4
    ("name.observedAt", (OrderKey(path("name", member="observedAt")),)),  # example 5
    ("location;dist-asc", (OrderKey(path("location"), by_distance=True),)),  # example 8
    ("location;dist-desc", (OrderKey(path("location"), descending=True, by_distance=True),)),  # example 9
    ("id", (OrderKey("id"),)),  # 019_19_02
    ("createdAt", (OrderKey("createdAt"),)),  # 019_19_03
    ("name.createdAt", (OrderKey(path("name", member="createdAt")),)),  # 019_19_04
    ("name.subProperty", (OrderKey(path("name", "subProperty")),)),  # 019_19_05
    ("name;asc", (OrderKey(path("name")),)),  # 019_19_06
    ("name;desc", (OrderKey(path("name"), descending=True),)),  # 019_19_07
    ("type,name", (OrderKey("type"), OrderKey(path("name")))),  # 019_19_08
    ("type;asc,name.subProperty;desc,name;asc", (  # 019_19_09
        OrderKey("type"), OrderKey(path("name", "subProperty"), descending=True), OrderKey(path("name")))),
])
def test_clause_examples_and_etsi_values(text: str, expected: tuple[OrderKey, ...]) -> None:
    assert parse_order_by(text, expand) == expected


def test_members_stay_unexpanded_and_names_may_be_compact_with_sub_attributes_and_keys() -> None:
    assert parse_order_by("scope;desc,modifiedAt", expand) == (
        OrderKey("scope", descending=True), OrderKey("modifiedAt"))
    assert parse_order_by("ex:a.ex:b.c[k1.k2][k3]", expand) == (
        OrderKey(AttrPath(EX + "a", (EX + "b", VOCAB + "c"), None, ("k1", "k2", "k3"))),)


def test_blanks_between_tokens_are_ignored() -> None:
    assert parse_order_by(" name ; desc , id ;asc ", expand) == (
        OrderKey(path("name"), descending=True), OrderKey("id"))


def test_a_repeated_key_is_kept_in_place() -> None:
    assert parse_order_by("name,name;desc", expand) == (OrderKey(path("name")), OrderKey(path("name"), True))


# ---- bad input: a precise BadRequestData ---------------------------------------------------------


@pytest.mark.parametrize(("text", "detail"), [
    ("", 'orderBy: unexpected end at position 1 in "": expected an attribute name or one of createdAt, id, '
         "modifiedAt, scope, type"),
    ("name,", 'orderBy: unexpected end at position 6 in "name,": expected an attribute name'),
    (",name", "orderBy: unexpected ',' at position 1"),
    ("name;", 'orderBy: unexpected end at position 6 in "name;": expected a direction: asc, desc, dist-asc, dist-desc'),
    ("name;up", "orderBy: unexpected 'u' at position 6"),
    ("name;DESC", "orderBy: unexpected 'D' at position 6"),
    ("name;desc;asc", "orderBy: unexpected ';' at position 10"),
    ("name name", "expected ';' and a direction (asc, desc), ',' and another element, or the end"),
    ("name==1", "orderBy: unexpected '=' at position 5"),
    ("1name", "orderBy: unexpected '1' at position 1"),
    ("type.x", 'orderBy: path after the entity member type at position 5 in "type.x": type has no sub-attributes'),
    ("id[k]", "orderBy: path after the entity member id at position 3"),
    ("owner{name}", "orderBy: linked entity path at position 1 in \"owner{name}\": orderBy compares the entities' own"),
    ("name[*]", "ordering needs one value per entity: name a single language, as name[fr]"),
    ("name[]", "orderBy: unexpected ']' at position 6"),
    ("id;dist-asc", "orderBy: dist-asc sorts by the distance to a GeoProperty, not by id"),
    ("name.observedAt.x", "orderBy: unexpected '.' at position 16"),
])
def test_bad_order_by_is_bad_request_data_naming_the_place(text: str, detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        parse_order_by(text, expand)
    assert detail in caught.value.detail


def test_limits() -> None:
    assert len(parse_order_by(",".join(["id"] * MAX_TERMS), expand)) == MAX_TERMS
    with pytest.raises(TooComplexQuery):
        parse_order_by(",".join(["id"] * (MAX_TERMS + 1)), expand)
    with pytest.raises(TooComplexQuery):
        parse_order_by("a" * (MAX_LENGTH + 1), expand)


# ---- round trip and robustness -----------------------------------------------------------------------

_letters = st.text(st.sampled_from("abcxyzABCé"), min_size=1, max_size=1)
_name = st.builds(lambda a, b: a + b, _letters, st.text(st.sampled_from("abcxyzABC019_éΩ"), max_size=6))
_attr_name = st.one_of(_name, _name.map(lambda n: "ex:" + n)).filter(
    lambda n: n not in QUERY_MEMBERS and n not in ORDER_MEMBERS)
_paths = st.builds(
    lambda attr, sub, member, keys: AttrPath(expand(attr), tuple(expand(s) for s in sub),
                                             member, () if member else tuple(keys)),
    _attr_name,
    st.lists(_attr_name, max_size=2),
    st.one_of(st.none(), st.sampled_from(sorted(QUERY_MEMBERS))),
    st.lists(st.text(st.sampled_from("abcXYZ09_-@é"), min_size=1, max_size=5), max_size=3),
)
_keys = st.one_of(
    st.builds(OrderKey, st.sampled_from(sorted(ORDER_MEMBERS)), st.booleans()),
    st.builds(OrderKey, _paths, st.booleans(), st.booleans()),
)


def order_text(keys: tuple[OrderKey, ...]) -> str:
    def one(key: OrderKey) -> str:
        target = key.target
        if isinstance(target, AttrPath):
            text = compact(target.attr) + "".join("." + compact(s) for s in target.sub)
            text += f".{target.member}" if target.member else ""
            text += "".join(f"[{k}]" for k in target.keys)
        else:
            text = target
        direction = ("dist-" if key.by_distance else "") + ("desc" if key.descending else "asc")
        return text + ("" if direction == "asc" else f";{direction}")

    return ",".join(one(key) for key in keys)


@given(st.lists(_keys, min_size=1, max_size=5).map(tuple))
def test_order_by_round_trip(keys: tuple[OrderKey, ...]) -> None:
    assert parse_order_by(order_text(keys), expand) == keys


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=60), st.text(st.sampled_from(list("abiTd.[]();,:*-é 0\ud800")), max_size=60),
                 st.lists(_keys, min_size=1, max_size=3).map(lambda ks: order_text(tuple(ks)) + ";")))
def test_order_by_only_raises_ngsi_ld_errors(text: str) -> None:
    try:
        parse_order_by(text, expand)
    except NgsiLdError:
        pass
