"""The indicator vocabulary shipped with the package."""

import csv
from pathlib import Path

import pytest

from territoires.observatoire.indicators import INDICATORS, for_domain, indicator
from territoires.observatoire.vocabularies import DOMAINS

FACTS = Path(__file__).resolve().parents[3] / "shared" / "facts" / "kpis.csv"


def test_every_indicator_belongs_to_a_known_domain_and_says_its_reference():
    assert len(INDICATORS) == 32
    for item in INDICATORS:
        assert item.domain in DOMAINS.terms
        assert item.name and item.unit and item.reference


def test_percentages_carry_the_un_cefact_percent_code():
    assert indicator(16).unit_code == "P1"
    assert indicator(15).unit_code is None        # kWh per km per year: no single common code
    assert all(item.unit_code == "P1" for item in INDICATORS if item.unit_en.startswith("% of"))


def test_lookup_by_number_and_domain():
    assert indicator(18).name == "Compteurs d'eau communicants installés"
    assert [item.num for item in for_domain("public-lighting")] == [15, 16, 17]
    with pytest.raises(KeyError):
        indicator(99)


@pytest.mark.skipif(not FACTS.exists(), reason="the shared facts folder is not beside this clone")
def test_the_packaged_list_matches_the_facts_file():
    with FACTS.open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    assert [(int(r["num"]), r["indicator"], r["unit"], r["reference"], r["reference_status"]) for r in rows] == [
        (i.num, i.name_en, i.unit_en, i.reference, i.reference_status) for i in INDICATORS]
