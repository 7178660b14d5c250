"""The territory registry shipped in the package, against what its source states."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.observatoire.bands import POPULATION_BANDS, population_band
from territoires.observatoire.codes import valid_insee_commune, valid_siren
from territoires.observatoire.names import fold
from territoires.observatoire.registry import EPCI_KIND_LABELS, KINDS, TerritoryRegistry, urn


@pytest.fixture(scope="module")
def registry() -> TerritoryRegistry:
    return TerritoryRegistry.load()


def test_totals_match_the_source(registry: TerritoryRegistry) -> None:
    # @etalab/decoupage-administratif 6.0.0: current communes, EPCI, départements, régions.
    assert registry.totals() == {"commune": 34_969, "epci": 1_255, "departement": 109, "region": 26}
    assert sum(1 for _ in registry) == 34_969 + 1_255 + 109 + 26


def test_provenance_states_the_millesime_and_the_licence(registry: TerritoryRegistry) -> None:
    provenance = registry.provenance
    assert (provenance.package, provenance.version, provenance.millesime) == (
        "@etalab/decoupage-administratif", "6.0.0", 2026)
    assert provenance.attribution == "Découpage administratif : Etalab, INSEE, DGCL — Licence Ouverte 2.0"
    assert provenance.coordinates_attribution == "Coordonnées approchées : GeoNames — CC BY 4.0"


def test_load_is_cached(registry: TerritoryRegistry) -> None:
    assert TerritoryRegistry.load() is registry


def test_rennes_in_rennes_metropole_in_ille_et_vilaine_in_bretagne(registry: TerritoryRegistry) -> None:
    rennes = registry.commune("35238")
    assert (rennes.kind, rennes.name, rennes.siren) == ("commune", "Rennes", "213502388")
    assert rennes.population_year == 2026 and rennes.population > 200_000
    chain = [(t.kind, t.code, t.name) for t in registry.ancestors(rennes)]
    assert chain == [
        ("epci", "243500139", "Rennes Métropole"),
        ("departement", "35", "Ille-et-Vilaine"),
        ("region", "53", "Bretagne"),
    ]
    metropole = registry.get("epci", "243500139")
    assert metropole.epci_kind == "METRO" and EPCI_KIND_LABELS[metropole.epci_kind] == "Métropole"
    assert metropole.siren == metropole.code
    assert rennes in registry.children(metropole)
    assert [t.name for t in registry.ancestors(metropole)] == ["Ille-et-Vilaine", "Bretagne"]
    assert [t.name for t in registry.ancestors(registry.get("departement", "35"))] == ["Bretagne"]
    assert registry.ancestors(registry.get("region", "53")) == []


def test_territories_are_ordinary_frozen_dataclasses(registry: TerritoryRegistry) -> None:
    rennes = registry.commune("35238")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rennes.name = "Roazhon"  # type: ignore[misc]
    rebuilt = dataclasses.replace(rennes)
    assert rebuilt == rennes and hash(rebuilt) == hash(rennes) and rebuilt is not rennes
    assert isinstance(rennes.departements, tuple) and rennes.departement == "35" and rennes.region == "53"


def test_children_by_level(registry: TerritoryRegistry) -> None:
    bretagne = registry.get("region", "53")
    assert [t.code for t in registry.children(bretagne)] == ["22", "29", "35", "56"]
    bretagne_communes = registry.children(bretagne, "commune")
    assert all(t.region == "53" for t in bretagne_communes)
    assert len(bretagne_communes) == sum(len(registry.children(d)) for d in registry.children(bretagne))
    ille_et_vilaine = registry.get("departement", "35")
    assert registry.get("epci", "243500139") in registry.children(ille_et_vilaine, "epci")
    assert registry.children(registry.commune("35238")) == []
    with pytest.raises(BadRequestData, match="a departement has no region within it"):
        registry.children(ille_et_vilaine, "region")


def test_corsica_codes(registry: TerritoryRegistry) -> None:
    ajaccio = registry.commune("2A004")
    assert ajaccio.name == "Ajaccio" and ajaccio.departement == "2A" and ajaccio.region == "94"
    assert registry.commune("2b033").name == "Bastia"  # case does not matter
    assert registry.get("departement", "2A").name == "Corse-du-Sud"
    assert registry.get("departement", "2B").name == "Haute-Corse"
    assert valid_insee_commune("2A004") and valid_insee_commune("2B033")
    # Corsica's codes before 1976; still in the source's former codes, not current ones.
    with pytest.raises(BadRequestData, match="'20004' is not an INSEE commune code"):
        registry.commune("20004")


def test_paris_lyon_marseille_are_communes_not_their_arrondissements(registry: TerritoryRegistry) -> None:
    for code, name in (("75056", "Paris"), ("69123", "Lyon"), ("13055", "Marseille")):
        assert registry.commune(code).name == name
    for arrondissement in ("75101", "69381", "13201"):
        with pytest.raises(ResourceNotFound, match=f"no commune has code {arrondissement}"):
            registry.commune(arrondissement)
    assert registry.get("epci", registry.commune("69123").epci).epci_kind == "MET69"


def test_siren_check_digit(registry: TerritoryRegistry) -> None:
    for siren in ("213502388", "243500139", "212000046", "200046977"):
        assert valid_siren(siren)
        assert registry.by_siren(siren).siren == siren
    assert registry.by_siren("243 500 139").name == "Rennes Métropole"
    for wrong in ("213502387", "243500138", "212000047"):
        assert not valid_siren(wrong)
        with pytest.raises(BadRequestData, match="check digit"):
            registry.by_siren(wrong)
    with pytest.raises(BadRequestData, match="9 digits"):
        registry.by_siren("21350238")
    # A valid SIREN (La Poste's) that is no commune or EPCI.
    with pytest.raises(ResourceNotFound, match="no commune or EPCI has SIREN 356000000"):
        registry.by_siren("356000000")


def test_every_siren_in_the_data_passes_the_check(registry: TerritoryRegistry) -> None:
    sirens = [t.siren for t in registry if t.siren]
    assert len(sirens) == len(set(sirens)) > 34_000
    assert all(valid_siren(siren) for siren in sirens)


def test_every_commune_has_existing_parents(registry: TerritoryRegistry) -> None:
    without_epci = []
    for commune in registry.territories("commune"):
        assert valid_insee_commune(commune.code), commune
        assert len(commune.departements) == 1 and len(commune.regions) == 1
        departement = registry.get("departement", commune.departement)
        assert departement.regions == commune.regions
        registry.get("region", commune.region)
        if commune.epci is None:
            without_epci.append(commune)
        else:
            epci = registry.get("epci", commune.epci)
            assert commune.departement in epci.departements and commune.region in epci.regions
    # Only the four islands of mainland France with no EPCI, and overseas collectivities.
    mainland = sorted(t.name for t in without_epci if len(t.departement) == 2)
    assert mainland == ["L'Île-d'Yeu", "Ouessant", "Île-de-Bréhat", "Île-de-Sein"]
    assert all(t.departement.startswith("9") for t in without_epci if len(t.departement) == 3)
    for epci in registry.territories("epci"):
        members = registry.children(epci)
        assert members and all(m.epci == epci.code for m in members)
        assert sorted({m.departement for m in members}) == list(epci.departements)
        assert epci.epci_kind in EPCI_KIND_LABELS
    assert sum(len(registry.children(e)) for e in registry.territories("epci")) == 34_969 - len(without_epci)


def test_epci_kinds_as_the_dgcl_counts_them(registry: TerritoryRegistry) -> None:
    kinds = [t.epci_kind for t in registry.territories("epci")]
    assert {kind: kinds.count(kind) for kind in EPCI_KIND_LABELS} == {
        "CC": 989, "CA": 230, "CU": 14, "METRO": 21, "MET69": 1}


def test_population_bands_of_known_communes(registry: TerritoryRegistry) -> None:
    assert registry.commune("75056").band == "200000+"  # Paris
    assert registry.commune("35238").band == "200000+"  # Rennes, about 231,000
    assert registry.commune("2A004").band == "50000-99999"  # Ajaccio, about 76,000
    assert registry.commune("01001").band == "0-3499"  # L'Abergement-Clémenciat, about 860
    assert registry.commune("29019").band == "100000-199999"  # Brest, about 140,000
    assert registry.commune("35115").band == "20000-49999"  # Fougères, about 20,300
    assert registry.commune("35047").band == "10000-19999"  # Bruz, about 19,700
    # Every stored band is the one the single definition gives.
    assert all(t.band == population_band(t.population) for t in registry)


def test_band_boundaries() -> None:
    assert [population_band(n) for n in (0, 3_499, 3_500, 9_999, 10_000, 19_999, 20_000, 49_999,
                                          50_000, 99_999, 100_000, 199_999, 200_000, 2_000_000)] == [
        "0-3499", "0-3499", "3500-9999", "3500-9999", "10000-19999", "10000-19999", "20000-49999",
        "20000-49999", "50000-99999", "50000-99999", "100000-199999", "100000-199999", "200000+", "200000+"]
    assert population_band(None) is None
    with pytest.raises(BadRequestData, match="a population cannot be negative: -1"):
        population_band(-1)
    assert POPULATION_BANDS[0].label == "moins de 3 500 habitants"


@given(st.integers(min_value=0, max_value=10**8))
def test_exactly_one_band_holds_each_population(population: int) -> None:
    holding = [band.code for band in POPULATION_BANDS if band.contains(population)]
    assert holding == [population_band(population)]


def test_population_years(registry: TerritoryRegistry) -> None:
    # The package states millésime 2026, and Mayotte's populations from INSEE's 2017 census.
    assert registry.commune("97611").population_year == 2017  # Mamoudzou
    assert registry.get("departement", "976").population_year == 2017
    assert registry.get("departement", "35").population_year == 2026
    assert registry.get("epci", "243500139").population_year == 2026
    # The TAAF have no municipal population.
    taaf = registry.get("departement", "984")
    assert taaf.population is None and taaf.band is None
    bretagne = registry.get("region", "53")
    assert bretagne.population == sum(c.population for c in registry.children(bretagne, "commune"))


def test_approximate_coordinates(registry: TerritoryRegistry) -> None:
    rennes = registry.commune("35238")
    assert abs(rennes.lat - 48.11) < 0.05 and abs(rennes.lon + 1.68) < 0.05
    ajaccio = registry.commune("2A004")
    assert abs(ajaccio.lat - 41.93) < 0.05 and abs(ajaccio.lon - 8.74) < 0.05
    # A département's centre is weighted by population: Ille-et-Vilaine's is near Rennes.
    ille_et_vilaine = registry.get("departement", "35")
    assert abs(ille_et_vilaine.lat - 48.1) < 0.3 and abs(ille_et_vilaine.lon + 1.7) < 0.3
    # Every région of mainland France and overseas départements (2-digit codes) has a centre.
    assert all(t.lat is not None for t in registry.territories("region") if len(t.code) == 2)
    populated = [t for t in registry.territories("commune") if (t.population or 0) > 1000]
    assert sum(t.lat is not None for t in populated) >= 0.85 * len(populated)


def test_search_ignores_accents_case_and_punctuation(registry: TerritoryRegistry) -> None:
    found = registry.search("saint etienne")
    assert found[0].code == "42218" and found[0].name == "Saint-Étienne"
    assert registry.search("SAINT-ÉTIENNE", limit=1) == [found[0]]
    assert "Saint-Étienne-du-Rouvray" in [t.name for t in found]
    # An exact name comes before longer names, whatever their population.
    assert [t.name for t in registry.search("rennes", limit=2)] == ["Rennes", "Rennes Métropole"]
    # A word inside the name matches too, after names that start with the text.
    assert "Métropole de Lyon" in [t.name for t in registry.search("lyon", kind="epci")]
    assert [t.code for t in registry.search("ajacc", kind="commune")] == ["2A004"]
    assert len(registry.search("saint", limit=5)) == 5
    assert registry.search("  ") == [] and registry.search("zzzzqx") == []
    with pytest.raises(BadRequestData, match="limit must be at least 1"):
        registry.search("rennes", limit=0)


@given(st.text(max_size=40))
def test_fold_gives_single_spaced_ascii_words(text: str) -> None:
    folded = fold(text)
    assert re.fullmatch(r"([0-9a-z]+( [0-9a-z]+)*)?", folded)
    assert fold(folded) == folded


def test_fold_examples() -> None:
    assert fold("Saint-Étienne") == fold("SAINT ETIENNE") == "saint etienne"
    assert fold("L'Haÿ-les-Roses") == "l hay les roses"
    assert fold("Œuilly") == "oeuilly"


def test_urn(registry: TerritoryRegistry) -> None:
    assert urn(registry.commune("35238")) == "urn:ngsi-ld:Territory:commune:35238"
    assert urn(registry.get("epci", "243500139")) == "urn:ngsi-ld:Territory:epci:243500139"
    assert urn(registry.get("departement", "2A")) == "urn:ngsi-ld:Territory:departement:2A"
    assert all(re.fullmatch(r"urn:ngsi-ld:Territory:[a-z]+:[0-9AB]+", urn(t)) for t in registry)


def test_bad_input_is_refused_with_a_precise_detail(registry: TerritoryRegistry) -> None:
    with pytest.raises(BadRequestData, match="unknown territory kind 'canton'"):
        registry.get("canton", "3501")
    with pytest.raises(BadRequestData, match="'3523' is not an INSEE commune code"):
        registry.commune("3523")
    with pytest.raises(BadRequestData, match="not a département code"):
        registry.get("departement", "20")
    with pytest.raises(ResourceNotFound, match="no commune has code 35999 .*millésime 2026"):
        registry.commune("35999")
    with pytest.raises(ResourceNotFound, match="no region has code 99"):
        registry.get("region", "99")
    assert {kind: registry.territories(kind)[0].kind for kind in KINDS} == {kind: kind for kind in KINDS}


# --- shape checks --------------------------------------------------------------------------


def _luhn_complete(prefix: str) -> str:
    """The SIREN whose check digit completes ``prefix`` (8 digits)."""
    return next(prefix + digit for digit in "0123456789" if valid_siren(prefix + digit))


@given(st.from_regex(r"[0-9]{8}", fullmatch=True))
def test_each_siren_prefix_has_exactly_one_check_digit(prefix: str) -> None:
    assert sum(valid_siren(prefix + digit) for digit in "0123456789") == 1


@given(st.from_regex(r"[0-9]{8}", fullmatch=True), st.integers(0, 8), st.integers(1, 9))
def test_a_single_wrong_digit_fails_the_siren_check(prefix: str, position: int, shift: int) -> None:
    siren = _luhn_complete(prefix)
    wrong = siren[:position] + str((int(siren[position]) + shift) % 10) + siren[position + 1:]
    assert not valid_siren(wrong)


@given(st.text(max_size=12))
def test_siren_shape(text: str) -> None:
    if not (len(text) == 9 and text.isascii() and text.isdigit()):
        assert not valid_siren(text)


@given(st.from_regex(r"(0[1-9]|1[0-9]|[3-8][0-9]|9[0-8])[0-9]{3}|2[1-9][0-9]{3}|2[AB][0-9]{3}", fullmatch=True))
def test_well_formed_insee_commune_codes(code: str) -> None:
    assert valid_insee_commune(code)


@given(st.text(max_size=8))
def test_malformed_insee_commune_codes(text: str) -> None:
    well_formed = re.fullmatch(r"(0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-8])[0-9]{3}", text, re.ASCII)
    assert valid_insee_commune(text) == (well_formed is not None)


def test_insee_commune_code_edges() -> None:
    assert not valid_insee_commune("20004")  # Corsica before 1976
    assert not valid_insee_commune("99100")  # INSEE's code of a foreign country
    assert not valid_insee_commune("2a004")  # the registry upper-cases; the shape check does not
    assert not valid_insee_commune("٣٥٢٣٨")  # Arabic-Indic digits are no INSEE digits
    assert valid_insee_commune("97611") and valid_insee_commune("98818")
