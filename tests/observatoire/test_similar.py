"""Similar projects (issue 4, item 4) through the real broker and text index, on each backend:
same use case first (else the domain), then comparable population band, typology, distance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from territoires.auth.principal import ANONYMOUS, Grant, Principal, Role
from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.observatoire import similar
from territoires.observatoire.projects import ProjectService
from territoires.observatoire.registry import TerritoryRegistry
from tests import postgres

MODERATOR = Principal("key", "k-mod", (Grant(Role.MODERATOR),), name="Équipe nationale")
BESANCON = Principal("key", "k-besancon", (Grant(Role.CONTRIBUTOR, scope="commune:25056"),))


@pytest.fixture(params=postgres.BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProjectService]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    broker = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    yield ProjectService(broker, TerritoryRegistry.load())
    broker.close()


def add(service: ProjectService, slug: str, territory: str, *, moderation: str = "published",
        use_cases: tuple[str, ...] = ("dynamic-lighting",), domains: tuple[str, ...] = ("public-lighting",),
        **fields: Any) -> str:
    record = {"id": slug, "title": f"Éclairage {slug}", "carrierName": slug, "carrierKind": "commune",
              "territories": [territory], "domains": list(domains), "moderation": moderation, **fields}
    if use_cases:
        record["useCases"] = list(use_cases)
    return service.create(MODERATOR, record)["id"]


@pytest.fixture
def catalogue(service: ProjectService) -> ProjectService:
    add(service, "dijon", "commune:21231", typology="urban")              # 100,000–199,999 inhabitants
    add(service, "besancon", "commune:25056", typology="urban")           # same band, about 76 km away
    add(service, "rennes", "commune:35238")                               # 200,000+: the neighbour band
    add(service, "chenove", "commune:21166")                              # 10,000–19,999, next to Dijon
    add(service, "besancon-led", "commune:25056", use_cases=("led-retrofit",))  # the domain only
    add(service, "besancon-eau", "commune:25056", use_cases=("leak-detection",), domains=("water",))
    add(service, "besancon-brouillon", "commune:25056", moderation="draft")
    return service


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [record["id"].rsplit(":", 1)[1] for record in found]


def test_same_use_case_then_band_then_distance(catalogue: ProjectService) -> None:
    found = catalogue.similar(ANONYMOUS, "dijon")
    # The draft is not shown to the public; the water project shares nothing; the record itself is left out.
    assert ids(found) == ["besancon", "rennes", "chenove", "besancon-led"]
    besancon, rennes, chenove, led = found
    assert besancon["reasons"][:3] == [
        "même cas d'usage", "même tranche de population", "même typologie de territoire"]
    assert besancon["reasons"][-1] == f"à {round(besancon['distanceKm'])} km"
    assert 70 < besancon["distanceKm"] < 85
    assert rennes["reasons"][:2] == ["même cas d'usage", "tranche de population voisine"]
    assert 400 < rennes["distanceKm"] < 600
    assert "même tranche de population" not in chenove["reasons"] and chenove["distanceKm"] < 5
    assert led["reasons"][0] == "même domaine"
    assert besancon["title"] == "Éclairage besancon" and besancon["populationBand"] == "100000-199999"


def test_the_domain_only_fills_up_what_use_cases_leave(catalogue: ProjectService) -> None:
    assert ids(catalogue.similar(ANONYMOUS, "dijon", limit=3)) == ["besancon", "rennes", "chenove"]
    assert ids(catalogue.similar(ANONYMOUS, "dijon", limit=1)) == ["besancon"]


def test_a_record_without_use_case_is_compared_by_domain(catalogue: ProjectService) -> None:
    add(catalogue, "beaune", "commune:21054", use_cases=())
    found = catalogue.similar(ANONYMOUS, "beaune")
    assert set(ids(found)) == {"dijon", "besancon", "rennes", "chenove", "besancon-led"}
    assert all(record["reasons"][0] == "même domaine" for record in found)


def test_unpublished_records_are_similar_only_for_those_who_read_them(catalogue: ProjectService) -> None:
    assert "besancon-brouillon" in ids(catalogue.similar(MODERATOR, "dijon", limit=10))
    assert "besancon-brouillon" in ids(catalogue.similar(BESANCON, "dijon", limit=10))
    assert "besancon-brouillon" not in ids(catalogue.similar(ANONYMOUS, "dijon", limit=10))
    with pytest.raises(ResourceNotFound):
        catalogue.similar(ANONYMOUS, "besancon-brouillon")
    assert ids(catalogue.similar(BESANCON, "besancon-brouillon", limit=1)) == ["besancon"]


def test_bounded_candidates_are_narrowed_to_the_best_bands(catalogue: ProjectService,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # With room for 3 candidates, the 5 records sharing the use case are narrowed to the
    # neighbouring bands (Dijon, Besançon, Rennes): what ranks first is still found.
    monkeypatch.setattr(similar, "CANDIDATES", 3)
    assert ids(catalogue.similar(ANONYMOUS, "dijon", limit=2)) == ["besancon", "rennes"]


def test_bad_requests(catalogue: ProjectService) -> None:
    with pytest.raises(ResourceNotFound):
        catalogue.similar(ANONYMOUS, "nulle-part")
    for limit in (0, 21):
        with pytest.raises(BadRequestData, match="limit must be from 1 to 20"):
            catalogue.similar(ANONYMOUS, "dijon", limit=limit)


def test_candidate_filters_go_from_widest_to_narrowest() -> None:
    record = {"useCases": ["dynamic-lighting"], "populationBand": "200000+", "typology": "urban"}
    assert list(similar.candidate_filters(record, "useCases")) == [
        {"useCases": ("dynamic-lighting",)},
        {"useCases": ("dynamic-lighting",), "populationBand": ("100000-199999", "200000+")},
        {"useCases": ("dynamic-lighting",), "populationBand": ("200000+",)},
        {"useCases": ("dynamic-lighting",), "populationBand": ("200000+",), "typology": ("urban",)},
    ]
    assert list(similar.candidate_filters(record, "domains")) == []
    assert similar.near_bands("0-3499") == ("0-3499", "3500-9999")
