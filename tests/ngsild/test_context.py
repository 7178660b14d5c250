"""JSON-LD contexts: the bundled core context, expansion and compaction of NGSI-LD names, the cache."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from territoires.ngsild import context as context_module
from territoires.ngsild.context import (
    CORE_CONTEXT_URL,
    CORE_CONTEXT_URLS,
    DEFAULT_VOCAB,
    Context,
    clear_cache,
    compile_context,
    core_context_document,
    forget,
)
from territoires.ngsild.errors import BadRequestData, LdContextNotAvailable, NgsiLdError

NGSI = "https://uri.etsi.org/ngsi-ld/"
SHARED_CONTEXTS = Path(__file__).resolve().parents[2].parent / "shared" / "contexts"
SDM = "https://smartdatamodels.org/dataModel.Streetlight/"


class DictResolver:
    """A resolver backed by a dict of documents; counts what it was asked for."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.calls: list[str] = []

    def __call__(self, url: str) -> Any:
        self.calls.append(url)
        try:
            return self.documents[url]
        except KeyError:
            raise LdContextNotAvailable(f"no document at {url}") from None


def no_remote(url: str) -> Any:
    raise LdContextNotAvailable(f"unexpected fetch of {url}")


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def core() -> Context:
    return compile_context(None, no_remote)


def core_terms() -> dict[str, Any]:
    return {k: v for k, v in core_context_document()["@context"].items() if not k.startswith("@")}


# -- the bundled core context -------------------------------------------------------------------


def test_core_document_is_bundled_and_protected():
    body = core_context_document()["@context"]
    assert body["@version"] == 1.1
    assert body["@protected"] is True
    assert body["@vocab"] == DEFAULT_VOCAB
    assert body["ngsi-ld"] == NGSI
    assert body["id"] == "@id" and body["type"] == "@type"
    assert len(core_terms()) == 176


def test_core_document_is_a_private_copy():
    core_context_document()["@context"]["location"] = "https://example.org/hijack"
    assert core_context_document()["@context"]["location"] == "ngsi-ld:location"


@pytest.mark.skipif(not SHARED_CONTEXTS.is_dir(), reason="no ../shared/contexts beside the repository")
def test_core_terms_match_the_published_v1_8_context():
    published = json.loads((SHARED_CONTEXTS / "ngsi-ld-core-context-v1.8.jsonld").read_text())["@context"]
    ours = core_context_document()["@context"]
    assert sorted(ours) == sorted(published)
    for term, definition in published.items():
        assert ours[term] == definition, term


def test_core_context_urls_name_every_published_version():
    assert CORE_CONTEXT_URL in CORE_CONTEXT_URLS
    for minor in range(3, 10):
        assert f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{minor}.jsonld" in CORE_CONTEXT_URLS
    assert "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld" in CORE_CONTEXT_URLS


@pytest.mark.parametrize("url", sorted(CORE_CONTEXT_URLS))
def test_core_context_is_never_fetched(url):
    ctx = compile_context(url, no_remote)
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.source == url
    assert ctx.urls == frozenset()


# -- expansion and compaction with the core context ------------------------------------------


@pytest.mark.parametrize(
    ("term", "iri"),
    [
        ("location", NGSI + "location"),
        ("observedAt", NGSI + "observedAt"),
        ("createdAt", NGSI + "createdAt"),
        ("unitCode", NGSI + "unitCode"),
        ("datasetId", NGSI + "datasetId"),
        ("Property", NGSI + "Property"),
        ("Relationship", NGSI + "Relationship"),
        ("GeoProperty", NGSI + "GeoProperty"),
        ("VocabProperty", NGSI + "VocabProperty"),
        ("value", NGSI + "hasValue"),
        ("object", NGSI + "hasObject"),
        ("languageMap", NGSI + "hasLanguageMap"),
        ("containedBy", NGSI + "isContainedBy"),
        ("Point", "https://purl.org/geojson/vocab#Point"),
        ("coordinates", "https://purl.org/geojson/vocab#coordinates"),
        ("description", "http://purl.org/dc/terms/description"),
        ("attributeCount", DEFAULT_VOCAB + "attributeCount"),
        ("id", "@id"),
        ("type", "@type"),
    ],
)
def test_core_terms_expand_and_compact(term, iri):
    ctx = core()
    assert ctx.expand(term) == iri
    assert ctx.compact(iri) == term


def test_every_core_term_round_trips():
    ctx = core()
    for term in core_terms():
        assert ctx.compact(ctx.expand(term)) == term


def test_unknown_names_go_to_the_default_vocabulary():
    ctx = core()
    assert ctx.vocab == DEFAULT_VOCAB
    assert ctx.expand("powerState") == DEFAULT_VOCAB + "powerState"
    assert ctx.compact(DEFAULT_VOCAB + "powerState") == "powerState"
    assert ctx.compact(DEFAULT_VOCAB + "location") == "ngsi-ld:default-context/location"
    assert ctx.expand("ngsi-ld:default-context/location") == DEFAULT_VOCAB + "location"


def test_keywords_and_absolute_iris_stay():
    ctx = core()
    for keyword in ("@id", "@type", "@context", "@value"):
        assert ctx.expand(keyword) == keyword
    assert ctx.compact("@context") == "@context"
    assert ctx.compact("@id") == "id"
    for iri in ("urn:ngsi-ld:Streetlight:0042", "https://example.org/powerState", "_:b0"):
        assert ctx.expand(iri) == iri
        assert ctx.compact(iri) == iri


def test_core_prefixes_make_compact_iris():
    ctx = core()
    assert ctx.expand("ngsi-ld:somethingNew") == NGSI + "somethingNew"
    assert ctx.compact(NGSI + "somethingNew") == "ngsi-ld:somethingNew"
    assert ctx.expand("geojson:crs") == "https://purl.org/geojson/vocab#crs"
    assert ctx.compact("https://purl.org/geojson/vocab#crs") == "geojson:crs"


def test_expand_refuses_what_is_not_a_name():
    ctx = core()
    for bad in (5, None, ["location"], {"a": 1}):
        with pytest.raises(BadRequestData):
            ctx.expand(bad)  # type: ignore[arg-type]
        with pytest.raises(BadRequestData):
            ctx.compact(bad)  # type: ignore[arg-type]


def test_vocab_values_expand_like_types():
    ctx = compile_context({"Lamp": "https://example.org/Lamp"}, no_remote)
    assert ctx.expand_vocab("Lamp") == "https://example.org/Lamp"
    assert ctx.expand_vocab("Property") == NGSI + "Property"
    assert ctx.expand_vocab("ngsi-ld:Thing") == NGSI + "Thing"
    assert ctx.expand_vocab("https://example.org/x") == "https://example.org/x"
    assert ctx.expand_vocab("dimmed") == DEFAULT_VOCAB + "dimmed"
    assert ctx.compact_vocab("https://example.org/Lamp") == "Lamp"
    assert ctx.compact_vocab(DEFAULT_VOCAB + "dimmed") == "dimmed"
    # A vocabulary value is never a keyword, even when a term aliases one.
    assert ctx.expand_vocab("id") == DEFAULT_VOCAB + "id"
    assert ctx.compact_vocab(DEFAULT_VOCAB + "id") == "id"
    with pytest.raises(BadRequestData):
        ctx.expand_vocab("@id")
    with pytest.raises(BadRequestData):
        ctx.expand_vocab(3)  # type: ignore[arg-type]


# -- user contexts ---------------------------------------------------------------------------------


def test_user_terms_take_precedence_over_the_vocabulary():
    ctx = compile_context({"speed": "https://example.org/speed"}, no_remote)
    assert ctx.expand("speed") == "https://example.org/speed"
    assert ctx.compact("https://example.org/speed") == "speed"
    assert ctx.compact(DEFAULT_VOCAB + "speed") == "ngsi-ld:default-context/speed"
    assert ctx.expand("location") == NGSI + "location"


def test_user_terms_cannot_override_protected_core_terms():
    user = {
        "location": "https://example.org/location",
        "type": "https://example.org/type",
        "ngsi-ld": "https://example.org/not-etsi/",
        "value": {"@id": "https://example.org/value", "@type": "@id"},
    }
    ctx = compile_context(user, no_remote)
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.expand("type") == "@type"
    assert ctx.expand("value") == NGSI + "hasValue"
    assert ctx.expand("ngsi-ld:foo") == NGSI + "foo"
    assert ctx.compact(NGSI + "location") == "location"
    assert ctx.compact("https://example.org/location") == "https://example.org/location"


def test_protected_user_terms_cannot_be_redefined():
    first = {"@protected": True, "speed": "https://example.org/speed"}
    with pytest.raises(BadRequestData, match="protected term 'speed'"):
        compile_context([first, {"speed": "https://other.org/speed"}], no_remote)
    with pytest.raises(BadRequestData, match="protected"):
        compile_context([first, None], no_remote)
    same = compile_context([first, {"speed": "https://example.org/speed"}], no_remote)
    assert same.expand("speed") == "https://example.org/speed"


def test_unprotected_user_terms_can_be_redefined_and_cleared():
    ctx = compile_context([{"speed": "https://a.org/speed"}, {"speed": "https://b.org/speed"}], no_remote)
    assert ctx.expand("speed") == "https://b.org/speed"
    ctx = compile_context([{"speed": "https://a.org/speed"}, {"speed": None}], no_remote)
    assert ctx.expand("speed") == DEFAULT_VOCAB + "speed"
    ctx = compile_context([{"speed": "https://a.org/speed", "@vocab": "https://v.org/"}, None], no_remote)
    assert ctx.expand("speed") == DEFAULT_VOCAB + "speed"
    assert ctx.expand("location") == NGSI + "location"


def test_prefixes_and_compact_iris():
    ctx = compile_context(
        {"schema": "https://schema.org/", "name": "schema:name", "ex": "https://example.org/ns"}, no_remote
    )
    assert ctx.expand("schema:address") == "https://schema.org/address"
    assert ctx.compact("https://schema.org/address") == "schema:address"
    assert ctx.expand("name") == "https://schema.org/name"
    assert ctx.compact("https://schema.org/name") == "name"
    # An IRI that does not end in a delimiter makes no prefix (JSON-LD 1.1): "ex:foo" is an IRI.
    assert ctx.expand("ex:foo") == "ex:foo"
    assert ctx.compact("https://example.org/nsfoo") == "https://example.org/nsfoo"


def test_explicit_prefix_flag():
    ctx = compile_context({"ex": {"@id": "https://example.org/ns", "@prefix": True}}, no_remote)
    assert ctx.expand("ex:foo") == "https://example.org/nsfoo"
    assert ctx.compact("https://example.org/nsfoo") == "ex:foo"


def test_term_definitions_may_depend_on_each_other_in_any_order():
    ctx = compile_context(
        {
            "measuredAt": {"@id": "ex:measuredAt", "@type": "xsd:dateTime"},
            "ex": "https://example.org/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "stamp": {"@id": "measuredAt"},
        },
        no_remote,
    )
    assert ctx.expand("measuredAt") == "https://example.org/measuredAt"
    assert ctx.expand("stamp") == "https://example.org/measuredAt"
    # Two terms for one IRI: the shorter one is chosen when compacting.
    assert ctx.compact("https://example.org/measuredAt") == "stamp"


def test_compaction_prefers_the_shortest_then_least_term():
    ctx = compile_context({"bb": "https://e.org/p", "ab": "https://e.org/p", "long": "https://e.org/p"}, no_remote)
    assert ctx.compact("https://e.org/p") == "ab"


def test_user_vocab_replaces_the_default_vocabulary():
    ctx = compile_context({"@vocab": "https://example.org/vocab#"}, no_remote)
    assert ctx.vocab == "https://example.org/vocab#"
    assert ctx.expand("speed") == "https://example.org/vocab#speed"
    assert ctx.compact("https://example.org/vocab#speed") == "speed"
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.compact(DEFAULT_VOCAB + "speed") == "ngsi-ld:default-context/speed"
    assert ctx.expand(ctx.compact(DEFAULT_VOCAB + "speed")) == DEFAULT_VOCAB + "speed"


def test_vocab_may_be_a_compact_iri_and_null_restores_the_default():
    ctx = compile_context({"@vocab": "ngsi-ld:custom/"}, no_remote)
    assert ctx.expand("speed") == NGSI + "custom/speed"
    ctx = compile_context([{"@vocab": "https://example.org/"}, {"@vocab": None}], no_remote)
    assert ctx.expand("speed") == DEFAULT_VOCAB + "speed"


def test_context_members_are_accepted():
    ctx = compile_context(
        {
            "@version": 1.1,
            "@protected": False,
            "@propagate": True,
            "@base": "https://ignored.example.org/",
            "@language": "fr",
            "@type": {"@container": "@set"},
            "@direction": "ltr",
            "nom": {"@id": "https://example.org/name", "@language": "fr", "@container": ["@set"]},
        },
        no_remote,
    )
    assert ctx.language == "fr"
    assert ctx.expand("nom") == "https://example.org/name"
    assert core().language is None


def test_smart_data_models_context_round_trips():
    user = {"Streetlight": SDM + "Streetlight", "powerState": SDM + "powerState"}
    ctx = compile_context(user, no_remote)
    assert ctx.expand("Streetlight") == SDM + "Streetlight"
    assert ctx.expand("powerState") == SDM + "powerState"
    for term in ("Streetlight", "powerState", "location", "observedAt", "dateLastLampChange"):
        assert ctx.compact(ctx.expand(term)) == term
    for iri in (SDM + "Streetlight", SDM + "powerState", SDM + "other", NGSI + "location"):
        assert ctx.expand(ctx.compact(iri)) == iri


def test_source_is_kept_as_given_and_copied():
    user = {"b": "https://example.org/b", "a": "https://example.org/a"}
    ctx = compile_context(user, no_remote)
    user["a"] = "https://changed.org/a"
    assert ctx.source == {"b": "https://example.org/b", "a": "https://example.org/a"}
    assert list(ctx.source) == ["b", "a"]
    assert compile_context([], no_remote).source == []
    assert core().source is None


# -- remote contexts -------------------------------------------------------------------------------

A = "https://contexts.example.org/a.jsonld"
B = "https://contexts.example.org/b.jsonld"
C = "https://contexts.example.org/c.jsonld"


def test_arrays_of_urls_and_objects_resolve_through_the_resolver():
    resolver = DictResolver(
        {
            A: {"@context": [B, {"speed": "https://a.org/speed"}]},
            B: {"@context": {"Vehicle": "https://b.org/Vehicle", "speed": "https://b.org/speed"}},
        }
    )
    ctx = compile_context([A, {"brand": "https://inline.org/brand"}, CORE_CONTEXT_URL], resolver)
    assert ctx.expand("Vehicle") == "https://b.org/Vehicle"
    assert ctx.expand("speed") == "https://a.org/speed"
    assert ctx.expand("brand") == "https://inline.org/brand"
    assert ctx.urls == frozenset({A, B})
    assert resolver.calls == [A, B]


def test_a_document_shared_by_two_contexts_is_resolved_once():
    resolver = DictResolver(
        {
            A: {"@context": [C, {"a": "https://a.org/a"}]},
            B: {"@context": [C, {"b": "https://b.org/b"}]},
            C: {"@context": {"c": "https://c.org/c"}},
        }
    )
    ctx = compile_context([A, B], resolver)
    assert [ctx.expand(t) for t in "abc"] == ["https://a.org/a", "https://b.org/b", "https://c.org/c"]
    assert resolver.calls == [A, C, B]


def test_cycles_between_remote_contexts_are_refused():
    resolver = DictResolver({A: {"@context": [B]}, B: {"@context": {"x": "https://x.org/x", "@import": A}}})
    with pytest.raises(BadRequestData, match="includes itself"):
        compile_context(A, DictResolver({A: {"@context": [B]}, B: {"@context": [C]}, C: {"@context": A}}))
    with pytest.raises(BadRequestData, match="includes itself"):
        compile_context(A, resolver)


def test_too_deeply_nested_remote_contexts_are_refused():
    urls = [f"https://contexts.example.org/{i}.jsonld" for i in range(40)]
    documents = {url: {"@context": nxt} for url, nxt in zip(urls, urls[1:])}
    documents[urls[-1]] = {"@context": {}}
    with pytest.raises(BadRequestData, match="nested more than"):
        compile_context(urls[0], DictResolver(documents))


def test_unavailable_remote_context():
    with pytest.raises(LdContextNotAvailable):
        compile_context([A], DictResolver({}))

    def broken(url: str) -> Any:
        raise OSError("connection refused")

    with pytest.raises(LdContextNotAvailable, match="connection refused"):
        compile_context(A, broken)


@pytest.mark.parametrize("document", [None, [], "text", {"terms": {}}])
def test_a_remote_document_without_context_is_bad_data(document):
    with pytest.raises(BadRequestData, match="no @context"):
        compile_context(A, DictResolver({A: document}))


def test_import_merges_the_imported_context_under_the_local_one():
    resolver = DictResolver({A: {"@context": {"speed": "https://a.org/speed", "brand": "https://a.org/brand"}}})
    ctx = compile_context({"@import": A, "speed": "https://local.org/speed"}, resolver)
    assert ctx.expand("speed") == "https://local.org/speed"
    assert ctx.expand("brand") == "https://a.org/brand"
    assert ctx.urls == frozenset({A})
    with pytest.raises(BadRequestData, match="must be an object"):
        compile_context({"@import": A}, DictResolver({A: {"@context": [B]}}))


@pytest.mark.skipif(not SHARED_CONTEXTS.is_dir(), reason="no ../shared/contexts beside the repository")
def test_etsi_test_suite_compound_context():
    suite = "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/"
    documents = {
        suite + name: json.loads((SHARED_CONTEXTS / name).read_text())
        for name in ("ngsi-ld-test-suite.jsonld", "ngsi-ld-test-suite-compound.jsonld")
    }
    ctx = compile_context(suite + "ngsi-ld-test-suite-compound.jsonld", DictResolver(documents))
    assert ctx.expand("Building") == "https://ngsi-ld-test-suite/context#Building"
    assert ctx.compact("https://ngsi-ld-test-suite/context#speed") == "speed"
    assert ctx.expand("location") == NGSI + "location"


# -- malformed contexts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        5,
        True,
        [[{"a": "https://a.org/a"}]],
        "relative/context.jsonld",
        {"speed": 5},
        {"speed": ["https://a.org/speed"]},
        {"speed": {"@id": 5}},
        {"speed": {"@id": "https://a.org/speed", "@unknown": 1}},
        {"speed": {"@id": "https://a.org/speed", "@type": "@list"}},
        {"speed": {"@id": "https://a.org/speed", "@type": 7}},
        {"speed": {"@id": "https://a.org/speed", "@container": "@bogus"}},
        {"speed": {"@id": "https://a.org/speed", "@container": None}},
        {"speed": {"@id": "https://a.org/speed", "@prefix": "yes"}},
        {"speed": {"@id": "https://a.org/speed", "@protected": 1}},
        {"speed": {"@reverse": "https://a.org/speed", "@id": "https://a.org/x"}},
        {"speed": "@context"},
        {"": "https://a.org/empty"},
        {"@id": "https://a.org/id"},
        {"@type": "https://a.org/type"},
        {"a": "b", "b": "a"},
        {"a": {"@id": "a:x"}, "b": "https://b.org/"},
        {"schema": "https://schema.org/", "schema:x": "https://other.org/x"},
        {"@vocab": 5},
        {"@vocab": "@nonsense"},
        {"@version": 1.0},
        {"@protected": "yes"},
        {"@propagate": 0},
        {"@language": 3},
        {"@base": 3},
        {"@direction": "up"},
        {"@import": 5},
        {"x:y": {"@prefix": True}},
        {"alias": {"@id": "@type", "@prefix": True}},
        {1, 2},
    ],
)
def test_malformed_contexts_are_bad_request_data(value):
    with pytest.raises(BadRequestData):
        compile_context(value, no_remote)


def test_errors_say_where_the_problem_is():
    with pytest.raises(BadRequestData) as info:
        compile_context(A, DictResolver({A: {"@context": {"speed": 5}}}))
    assert "speed" in info.value.detail and A in info.value.detail


def test_term_dependency_chains_are_bounded():
    chain = {f"t{i}": f"t{i + 1}:x" for i in range(200)}
    chain["t200"] = "https://example.org/"
    with pytest.raises(BadRequestData, match="levels deep"):
        compile_context(chain, no_remote)


# -- the cache -------------------------------------------------------------------------------------


def test_compiling_the_same_value_again_hits_the_cache():
    first = compile_context({"speed": "https://a.org/speed", "brand": "https://a.org/brand"}, no_remote)
    again = compile_context({"brand": "https://a.org/brand", "speed": "https://a.org/speed"}, no_remote)
    assert again is first
    assert compile_context(None, no_remote) is compile_context(None, no_remote)


def test_url_contexts_are_resolved_once_then_cached():
    resolver = DictResolver({A: {"@context": {"speed": "https://a.org/speed"}}})
    first = compile_context(A, resolver)
    assert compile_context(A, resolver) is first
    assert compile_context([A], resolver).expand("speed") == "https://a.org/speed"
    assert resolver.calls == [A, A]  # "A" and ["A"] are two context values


def test_forget_drops_the_contexts_that_used_a_url():
    resolver = DictResolver(
        {A: {"@context": {"speed": "https://a.org/speed"}}, B: {"@context": {"brand": "https://b.org/brand"}}}
    )
    uses_a = compile_context([A, B], resolver)
    uses_b = compile_context(B, resolver)
    inline = compile_context({"x": "https://x.org/x"}, resolver)
    resolver.documents[A] = {"@context": {"speed": "https://a.org/v2/speed"}}
    forget(A)
    recompiled = compile_context([A, B], resolver)
    assert recompiled is not uses_a
    assert recompiled.expand("speed") == "https://a.org/v2/speed"
    assert compile_context(B, resolver) is uses_b
    assert compile_context({"x": "https://x.org/x"}, resolver) is inline


def test_clear_cache_drops_everything():
    first = compile_context({"x": "https://x.org/x"}, no_remote)
    clear_cache()
    assert compile_context({"x": "https://x.org/x"}, no_remote) is not first


def test_the_cache_is_bounded_and_keeps_recently_used_contexts(monkeypatch):
    monkeypatch.setattr(context_module, "CACHE_SIZE", 3)
    contexts = [compile_context({"t": f"https://x.org/{i}"}, no_remote) for i in range(3)]
    assert compile_context({"t": "https://x.org/0"}, no_remote) is contexts[0]  # now most recent
    compile_context({"t": "https://x.org/3"}, no_remote)  # evicts 1, the least recently used
    assert compile_context({"t": "https://x.org/0"}, no_remote) is contexts[0]
    assert compile_context({"t": "https://x.org/1"}, no_remote) is not contexts[1]


def test_failed_compilations_are_not_cached():
    resolver = DictResolver({})
    with pytest.raises(LdContextNotAvailable):
        compile_context(A, resolver)
    resolver.documents[A] = {"@context": {"speed": "https://a.org/speed"}}
    assert compile_context(A, resolver).expand("speed") == "https://a.org/speed"


# -- properties --------------------------------------------------------------------------------------

names = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=12).filter(
    lambda s: s[0].isalpha()
)
segments = st.text(string.ascii_lowercase + string.digits + "-._~", min_size=1, max_size=10)
iris = st.one_of(
    st.builds(lambda h, p: f"https://{h}.org/{p}", segments, segments),
    st.builds(lambda p: f"urn:ngsi-ld:{p}", segments),
    st.builds(lambda n: DEFAULT_VOCAB + n, names),
    st.builds(lambda n: NGSI + n, names),
    st.builds(lambda n: "https://purl.org/geojson/vocab#" + n, names),
    st.builds(lambda n: f"{DEFAULT_VOCAB}{n}:{n}", names),
    st.builds(lambda n: f"{NGSI}{n}/{n}", names),
)
term_iri_bases = st.sampled_from(
    ["https://example.org/a/", "https://example.org/b#", "http://example.com/", "urn:example:"]
)


@st.composite
def user_contexts(draw) -> tuple[dict[str, Any], set[str]]:
    """A random inline context; each term maps to its own IRI, some terms are prefixes."""
    terms = draw(st.dictionaries(names, term_iri_bases, max_size=8))
    value: dict[str, Any] = {}
    for term, base in terms.items():
        kind = draw(st.sampled_from(["plain", "object", "prefix"]))
        if kind == "plain":
            value[term] = base + term
        elif kind == "object":
            value[term] = {"@id": base + term, "@type": draw(st.sampled_from(["@id", "@vocab", "@json"]))}
        else:
            value[term] = f"{base}{term}/"
    if draw(st.booleans()):
        value["@vocab"] = draw(st.sampled_from(["https://vocab.example.org/", "https://example.org/v#"]))
    return value, set(terms)


@given(names)
def test_plain_names_round_trip(name):
    ctx = core()
    assert ctx.compact(ctx.expand(name)) == name


@given(iris)
def test_iris_round_trip(iri):
    ctx = core()
    assert ctx.expand(ctx.compact(iri)) == iri
    assert ctx.expand_vocab(ctx.compact_vocab(iri)) == iri


@given(st.text(max_size=30))
def test_expansion_is_stable_under_compaction(text):
    ctx = core()
    expanded = ctx.expand(text)
    assert ctx.expand(ctx.compact(expanded)) == expanded


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(user_contexts(), st.lists(names, max_size=5), st.lists(iris, max_size=5))
def test_random_contexts_round_trip(drawn, plain_names, other_iris):
    value, user_terms = drawn
    ctx = compile_context(value, no_remote)
    core_names = set(core_terms()) | {"ngsi-ld", "geojson", "id", "type"}
    for term in user_terms - core_names:
        assert ctx.compact(ctx.expand(term)) == term
    for name in plain_names:
        if name not in user_terms and name not in core_names:
            assert ctx.compact(ctx.expand(name)) == name
    # (a user definition of a core name such as id is ignored: it names no prefix)
    prefixes = {t for t in user_terms - core_names if isinstance(value.get(t), str) and value[t].endswith("/")}
    for iri in other_iris + [ctx.expand(t) + "x" for t in prefixes]:
        assume(iri.split(":", 1)[0] not in prefixes)
        assert ctx.expand(ctx.compact(iri)) == iri
        assert ctx.expand_vocab(ctx.compact_vocab(iri)) == iri


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["@id", "@vocab", "a", "x:y", "https://e.org/", A]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["@id", "@type", "@vocab", "@container", "@import", "@version", "a", "b", "x:y", ""]),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)


@given(json_values, st.text(max_size=10))
def test_any_json_context_compiles_or_raises_an_ngsi_ld_error(value, name):
    try:
        ctx = compile_context(value, DictResolver({A: {"@context": value}}))
    except NgsiLdError as error:
        assert error.detail
        return
    expanded = ctx.expand(name)
    assert ctx.expand(ctx.compact(expanded)) == expanded
