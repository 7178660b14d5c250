"""The French full-text search and facets of the storage contract (index_documents, unindex,
text_search), on every backend."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData
from territoires.store.port import Store, TextDocument, TextSearch, TextSearchResult
from territoires.store.postgres import PostgresStore
from tests import postgres

PROJECT = "https://territoires.example/ns/v1#Project"
OTHER = "https://territoires.example/ns/v1#WorkingGroup"


def doc(n: int, title: str, summary: str = "", description: str = "", **facets: tuple[str, ...]) -> TextDocument:
    return TextDocument(f"urn:ngsi-ld:Project:p{n:02d}", PROJECT,
                        {"title": title, "summary": summary, "description": description}, facets)


CATALOGUE = [
    doc(1, "Éclairage public intelligent", "Abaissement nocturne des lampadaires LED",
        domains=("public-lighting",), status=("deployed",), carrierKind=("commune",)),
    doc(2, "Rénovation des points lumineux", "Des eclairages intelligents pilotés à distance dans les bourgs",
        domains=("public-lighting",), status=("pilot",), carrierKind=("syndicat",)),
    doc(3, "Compteur d'eau communicant", "Détection des fuites chez les abonnés",
        domains=("water",), status=("deployed",), carrierKind=("communaute-d-agglomeration",)),
    doc(4, "Télérelève des compteurs", "Relève à distance pour la régie des eaux",
        domains=("water", "administration-data"), status=("partial-deployment",), carrierKind=("commune",)),
    doc(5, "Capteurs de remplissage des colonnes de verre", "Tournées de collecte optimisées",
        description="Les compteurs de passage et l'éclairage du dépôt ne font pas partie du projet.",
        domains=("waste",), status=("abandoned",), carrierKind=("syndicat",)),
    doc(6, "Qualité de l'air intérieur des écoles", "Mesure du CO2 dans les salles de classe",
        domains=("air-noise", "building-energy"), status=("deployed",), carrierKind=("commune",)),
]
LIGHTING = {"urn:ngsi-ld:Project:p01", "urn:ngsi-ld:Project:p02"}
WATER = {"urn:ngsi-ld:Project:p03", "urn:ngsi-ld:Project:p04"}


def index(store: Store, documents: list[TextDocument], tenant: str = "") -> None:
    with store.session(tenant, write=True) as session:
        session.index_documents(documents)


def search(store: Store, text: str | None = None, tenant: str = "", **fields: object) -> TextSearchResult:
    with store.session(tenant) as session:
        return session.text_search(TextSearch(fields.pop("entity_type", PROJECT), text, **fields))  # type: ignore[arg-type]


@pytest.fixture
def catalogue(store: Store) -> Store:
    index(store, CATALOGUE)
    return store


def test_eclairage_intelligent_finds_the_public_lighting_projects(catalogue: Store) -> None:
    found = search(catalogue, "éclairage intelligent")
    assert set(found.ids) == LIGHTING and found.total == 2


def test_compteurs_d_eau_finds_the_water_metering_projects(catalogue: Store) -> None:
    found = search(catalogue, "compteurs d'eau")
    assert set(found.ids) == WATER and found.total == 2


@pytest.mark.parametrize("text", ["ÉCLAIRAGE", "eclairage", "Éclairage", "éclairages", "ECLAIRAGES"])
def test_accents_case_and_plurals_do_not_matter(catalogue: Store, text: str) -> None:
    assert set(search(catalogue, text).ids) == LIGHTING | {"urn:ngsi-ld:Project:p05"}


def test_a_title_match_ranks_before_a_match_in_the_other_fields(catalogue: Store) -> None:
    found = search(catalogue, "compteurs")
    assert set(found.ids[:2]) == WATER and found.ids[2] == "urn:ngsi-ld:Project:p05"


def test_every_word_is_required(catalogue: Store) -> None:
    assert search(catalogue, "compteurs fuites").ids == ["urn:ngsi-ld:Project:p03"]
    assert search(catalogue, "compteurs lampadaires").ids == []


def test_a_quoted_phrase_needs_its_words_together(catalogue: Store) -> None:
    assert search(catalogue, '"compteur d\'eau"').ids == ["urn:ngsi-ld:Project:p03"]
    assert search(catalogue, "« détection des fuites »").ids == ["urn:ngsi-ld:Project:p03"]
    assert search(catalogue, '"fuites détection"').ids == []


def test_type_ahead_matches_the_beginning_of_the_last_word(catalogue: Store) -> None:
    assert search(catalogue, "éclai").ids == []
    assert set(search(catalogue, "éclai", prefix=True).ids) == LIGHTING | {"urn:ngsi-ld:Project:p05"}
    assert search(catalogue, "compteur d'eau comm", prefix=True).ids == ["urn:ngsi-ld:Project:p03"]
    # The word typed so far may be a stop word of the phrase begun.
    assert set(search(catalogue, '"compteur d', prefix=True).ids) == WATER | {"urn:ngsi-ld:Project:p05"}
    # A word the text does not end in is a whole word: the prefix is the last one only.
    assert search(catalogue, "éclai ", prefix=True).ids == []


def test_without_text_every_document_of_the_type_by_id(catalogue: Store) -> None:
    index(catalogue, [TextDocument("urn:ngsi-ld:WorkingGroup:g1", OTHER, {"title": "Éclairage intelligent"})])
    found = search(catalogue)
    assert found.ids == sorted(d.entity_id for d in CATALOGUE) and found.total == 6
    assert search(catalogue, "éclairage intelligent", entity_type=OTHER).ids == ["urn:ngsi-ld:WorkingGroup:g1"]


def test_facet_counts_cover_every_match_with_filters_and_within_or(catalogue: Store) -> None:
    found = search(catalogue, facets=("domains", "status"))
    assert found.facets == {
        "domains": {"public-lighting": 2, "water": 2, "administration-data": 1, "waste": 1, "air-noise": 1,
                    "building-energy": 1},
        "status": {"deployed": 3, "pilot": 1, "partial-deployment": 1, "abandoned": 1},
    }
    # OR within a facet, AND across facets; counts over what matches text and every filter.
    found = search(catalogue, filters={"domains": ("water", "public-lighting"), "status": ("deployed",)},
                   facets=("domains", "carrierKind"))
    assert found.ids == ["urn:ngsi-ld:Project:p01", "urn:ngsi-ld:Project:p03"] and found.total == 2
    assert found.facets == {"domains": {"public-lighting": 1, "water": 1},
                            "carrierKind": {"commune": 1, "communaute-d-agglomeration": 1}}
    found = search(catalogue, "compteurs", filters={"carrierKind": ("commune", "syndicat")}, facets=("status",))
    assert set(found.ids) == {"urn:ngsi-ld:Project:p04", "urn:ngsi-ld:Project:p05"}
    assert found.facets == {"status": {"partial-deployment": 1, "abandoned": 1}}


def test_a_facet_without_match_is_empty_and_an_unknown_value_matches_nothing(catalogue: Store) -> None:
    found = search(catalogue, filters={"status": ("no-such-status",)}, facets=("status", "labels"))
    assert found == TextSearchResult([], 0, {"status": {}, "labels": {}})


def test_pages_follow_the_ranking_and_the_total_ignores_them(catalogue: Store) -> None:
    everything = search(catalogue, "compteurs", limit=100).ids
    assert len(everything) == 3
    assert search(catalogue, "compteurs", offset=1, limit=1).ids == everything[1:2]
    by_id = search(catalogue, limit=100).ids
    pages = [search(catalogue, offset=start, limit=2) for start in (0, 2, 4, 6)]
    assert [i for page in pages for i in page.ids] == by_id and {page.total for page in pages} == {6}
    counted = search(catalogue, "compteurs", limit=0, facets=("status",))
    assert counted.ids == [] and counted.total == 3 and sum(counted.facets["status"].values()) == 3


def test_indexing_again_replaces_text_and_facets(catalogue: Store) -> None:
    index(catalogue, [doc(1, "Vidéoprotection du centre-ville", domains=("risks",), status=("study",))])
    assert set(search(catalogue, "éclairage intelligent").ids) == {"urn:ngsi-ld:Project:p02"}
    assert search(catalogue, "vidéoprotection").ids == ["urn:ngsi-ld:Project:p01"]
    found = search(catalogue, filters={"domains": ("risks",)}, facets=("status", "carrierKind"))
    assert found.ids == ["urn:ngsi-ld:Project:p01"]
    assert found.facets == {"status": {"study": 1}, "carrierKind": {}}
    assert search(catalogue).total == 6


def test_unindex_removes_documents_and_ignores_unknown_ones(catalogue: Store) -> None:
    with catalogue.session("", write=True) as session:
        session.unindex(["urn:ngsi-ld:Project:p01", "urn:ngsi-ld:Project:nope"])
    assert search(catalogue, "éclairage intelligent").ids == ["urn:ngsi-ld:Project:p02"]
    assert search(catalogue, facets=("status",)).facets["status"]["deployed"] == 2


def test_the_index_commits_and_rolls_back_with_its_session(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session("", write=True) as session:
        session.index_documents(CATALOGUE)
        raise RuntimeError("the write fails")
    assert search(store).total == 0


def test_tenants_have_their_own_index(catalogue: Store) -> None:
    catalogue.create_tenant("observatoire")
    index(catalogue, [doc(9, "Éclairage intelligent du port", status=("idea",))], tenant="observatoire")
    assert search(catalogue, "éclairage", tenant="observatoire").ids == ["urn:ngsi-ld:Project:p09"]
    assert search(catalogue, "port").ids == []
    assert search(catalogue, facets=("status",)).facets["status"].get("idea") is None


# ---- tallies: counts kept at each write ------------------------------------------------------
ASSESSMENT = "https://territoires.example/ns/v1#MaturityAssessment"


def assessment(n: int, *peers: str, status: str = "published") -> TextDocument:
    return TextDocument(f"urn:ngsi-ld:MaturityAssessment:a{n:02d}", ASSESSMENT, {},
                        {"peers": peers, "status": (status,)}, tallied=frozenset({"peers"}))


def tallies(store: Store, prefix: str = "", tenant: str = "") -> dict[str, int]:
    with store.session(tenant) as session:
        return session.text_tallies(ASSESSMENT, "peers", prefix)


def test_tallies_count_the_tallied_values_of_every_document(store: Store) -> None:
    index(store, [assessment(1, "commune|b3|A1=2", "commune|b3|A2=1"), assessment(2, "commune|b3|A1=2"),
                  assessment(3, "commune|b4|A1=5")])
    assert tallies(store) == {"commune|b3|A1=2": 2, "commune|b3|A2=1": 1, "commune|b4|A1=5": 1}
    assert tallies(store, "commune|b3|") == {"commune|b3|A1=2": 2, "commune|b3|A2=1": 1}
    assert tallies(store, "epci|") == {}
    with store.session("") as session:
        assert session.text_tallies(ASSESSMENT, "status") == {}  # not tallied: counted by a search only


def test_tallies_follow_replacements_and_removals(store: Store) -> None:
    index(store, [assessment(1, "commune|b3|A1=2"), assessment(2, "commune|b3|A1=2")])
    index(store, [assessment(1, "commune|b3|A1=3"), assessment(1, "commune|b3|A1=4")])  # the last one wins
    assert tallies(store) == {"commune|b3|A1=2": 1, "commune|b3|A1=4": 1}
    with store.session("", write=True) as session:
        session.unindex(["urn:ngsi-ld:MaturityAssessment:a02", "urn:ngsi-ld:MaturityAssessment:a09"])
    assert tallies(store) == {"commune|b3|A1=4": 1}
    index(store, [assessment(1)])  # no tallied value any more
    assert tallies(store) == {}


def test_tallies_roll_back_with_their_session_and_stay_in_their_tenant(store: Store) -> None:
    index(store, [assessment(1, "commune|b3|A1=2")])
    with pytest.raises(RuntimeError), store.session("", write=True) as session:
        session.index_documents([assessment(1, "commune|b3|A1=5"), assessment(2, "commune|b3|A1=5")])
        raise RuntimeError("the write fails")
    store.create_tenant("rennes")
    index(store, [assessment(1, "commune|b3|A1=1")], tenant="rennes")
    assert tallies(store) == {"commune|b3|A1=2": 1}
    assert tallies(store, tenant="rennes") == {"commune|b3|A1=1": 1}


HOSTILE = [
    'éclairage NEAR(intelligent public, 2)', "éclairage*", "^éclairage", "title:éclairage", "summary : compteurs",
    "éclairage OR compteurs", "NOT compteurs", "éclairage AND", "(éclairage", '"éclairage', 'compteurs"',
    "'; DROP TABLE text_documents; --", "' OR 1=1 --", "éclairage & !intelligent | compteur", "eau:* <-> compteur",
    "\\x00 éclairage", "éclairage\x00intelligent", "%s %(x)s ? $1", "{éclairage}", "-compteurs +eau",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_operators_and_sql_in_the_text_are_answered_as_words(catalogue: Store, text: str) -> None:
    for prefix in (False, True):
        found = search(catalogue, text, prefix=prefix, facets=("status",))
        assert found.total == len(found.ids) <= len(CATALOGUE)


def test_operators_have_no_meaning_of_their_own(catalogue: Store) -> None:
    assert set(search(catalogue, "éclairage* ^intelligent").ids) == LIGHTING
    assert search(catalogue, "title:compteurs").ids == []  # "title" is a word here, found nowhere
    assert search(catalogue, "compteurs OR fuites").ids == []  # "or" is a word, required like the others
    assert search(catalogue, "compteurs NOT fuites").ids == []
    assert search(catalogue, "'; DROP TABLE text_documents; --").ids == []
    assert search(catalogue).total == len(CATALOGUE)


@pytest.mark.parametrize("text", ["", "   ", "*", "NEAR", "de la", "« »", '""', "'", "x" * 501, " ".join(["eau"] * 33)])
def test_a_text_without_word_to_search_or_too_long_is_refused(catalogue: Store, text: str) -> None:
    if text == "NEAR":
        assert search(catalogue, text).ids == []  # a word like any other
        return
    with pytest.raises(BadRequestData):
        search(catalogue, text)


@pytest.mark.parametrize("page", [{"limit": -1}, {"limit": 1001}, {"offset": -1}])
def test_a_bad_page_is_refused(catalogue: Store, page: dict[str, int]) -> None:
    with pytest.raises(BadRequestData):
        search(catalogue, "eau", **page)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=60), prefix=st.booleans())
def test_any_text_is_answered_or_refused_as_bad_request(catalogue: Store, text: str, prefix: bool) -> None:
    try:
        found = search(catalogue, text, prefix=prefix, facets=("status",))
    except BadRequestData:
        return
    assert found.total == len(found.ids) and set(found.ids) <= {d.entity_id for d in CATALOGUE}


def test_deleting_a_tenant_forgets_its_index(catalogue: Store) -> None:
    catalogue.create_tenant("observatoire")
    index(catalogue, [doc(9, "Éclairage intelligent du port", status=("idea",))], tenant="observatoire")
    catalogue.delete_tenant("observatoire")
    catalogue.create_tenant("observatoire")
    assert search(catalogue, facets=("status",), tenant="observatoire") == TextSearchResult([], 0, {"status": {}})
    assert search(catalogue).total == len(CATALOGUE)


@pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
def test_postgres_shows_sql_the_index_of_the_named_tenant_only() -> None:
    store = PostgresStore(postgres.fresh_database())
    try:
        store.create_tenant("a")
        index(store, CATALOGUE)
        index(store, CATALOGUE[:2], tenant="a")
        with psycopg.connect(postgres.URL, autocommit=True) as conn, conn.transaction():
            conn.execute("SELECT set_config('territoires.tenant', 'a', true)")
            for table in ("text_documents", "text_facets"):
                assert conn.execute(f"SELECT DISTINCT tenant FROM {table}").fetchall() == [("a",)]
            assert conn.execute("SELECT count(*) FROM text_documents").fetchone() == (2,)
    finally:
        store.close()


@pytest.mark.parametrize("fields", [
    {"filters": {"status": ()}},
    {"filters": {"status": tuple(f"s{n}" for n in range(101))}},
    {"filters": {f"f{n}": ("x",) for n in range(21)}},
    {"facets": tuple(f"f{n}" for n in range(21))},
])
def test_filters_and_facets_are_bounded(catalogue: Store, fields: dict[str, object]) -> None:
    with pytest.raises(BadRequestData):
        search(catalogue, **fields)


def test_many_accepted_values_and_facets_within_bounds_are_answered(catalogue: Store) -> None:
    found = search(catalogue, "compteurs", filters={"status": ("deployed", *(f"s{n}" for n in range(99)))},
                   facets=tuple(f"f{n}" for n in range(19)) + ("status",))
    assert found.ids == ["urn:ngsi-ld:Project:p03"] and found.facets["status"] == {"deployed": 1}
