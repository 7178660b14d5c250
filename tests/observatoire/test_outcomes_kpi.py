"""Outcomes measured from data (issue 4, item 5), on each backend: an outcome bound to a real
KeyPerformanceIndicator entity of a territory's tenant shows its current kpiValue as "after"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from territoires.auth.principal import ANONYMOUS, Grant, Principal, Role
from territoires.auth.public_types import PublicTypes
from territoires.broker import Broker, open_broker
from territoires.config import Settings
from territoires.ngsild.errors import BadRequestData
from territoires.observatoire.indicators import indicator
from territoires.observatoire.project_filters import ProjectFilters
from territoires.observatoire.projects import ProjectService
from territoires.observatoire.registry import TerritoryRegistry
from tests import postgres

SDM = "https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/"
KPI = "urn:ngsi-ld:KeyPerformanceIndicator:dijon-eclairage-led"
# A contributor for Dijon who also reads Dijon's tenant (a person with two grants).
DIJON = Principal("oidc", "agent-dijon", (Grant(Role.CONTRIBUTOR, scope="commune:21231"),
                                          Grant(Role.READER, tenant="dijon")))
DIJON_CONTRIBUTOR = Principal("key", "k-dijon", (Grant(Role.CONTRIBUTOR, scope="commune:21231"),))
MODERATOR = Principal("key", "k-mod", (Grant(Role.MODERATOR),))


@pytest.fixture(params=postgres.BACKENDS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    broker = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    broker.tenants.create("dijon")
    create_kpi(broker, KPI, 61.5, "2025-12-31T00:00:00Z")
    yield broker
    broker.close()


@pytest.fixture
def service(broker: Broker) -> ProjectService:
    return ProjectService(broker, TerritoryRegistry.load())


def sdm_context(broker: Broker) -> Any:
    return broker.contexts.compile("dijon", {"KeyPerformanceIndicator": SDM + "KeyPerformanceIndicator",
                                             "kpiValue": SDM + "kpiValue"})


def create_kpi(broker: Broker, entity_id: str, value: float, observed_at: str) -> None:
    broker.entities.create("dijon", {
        "id": entity_id, "type": "KeyPerformanceIndicator",
        "kpiValue": {"type": "Property", "value": value, "observedAt": observed_at, "unitCode": "P1"},
    }, sdm_context(broker))


def set_kpi(broker: Broker, entity_id: str, value: float, observed_at: str) -> None:
    broker.entities.update_attributes("dijon", entity_id, {
        "kpiValue": {"type": "Property", "value": value, "observedAt": observed_at, "unitCode": "P1"}},
        sdm_context(broker))


def record(*outcomes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "eclairage-dijon", "title": "Éclairage LED de Dijon", "carrierName": "Ville de Dijon",
            "carrierKind": "commune", "territories": ["commune:21231"], "domains": ["public-lighting"],
            "outcomes": list(outcomes), **fields}


def bound(entity: str = KPI, tenant: str = "dijon", **fields: Any) -> dict[str, Any]:
    return {"indicatorNum": 17, "kpi": {"tenant": tenant, "entity": entity}, **fields}


def test_a_bound_outcome_follows_its_kpi(service: ProjectService, broker: Broker) -> None:
    declared = {"value": 40, "date": "2024"}
    created = service.create(DIJON, record(bound(after=declared, baseline={"value": 10, "date": "2020"})))
    outcome = created["outcomes"][0]
    # The indicator and its unit come from the vocabulary (17: light points refurbished or LED).
    assert (outcome["indicator"], outcome["unit"]) == (indicator(17).name, indicator(17).unit)
    assert outcome["measured"] == {"value": 61.5, "unit": "P1", "observedAt": "2025-12-31T00:00:00Z",
                                   "entity": KPI, "tenant": "dijon"}
    assert outcome["after"] == {"value": 61.5, "date": "2025-12-31"}
    assert outcome["declaredAfter"] == declared
    assert outcome["baseline"] == {"value": 10, "date": "2020"}
    # The platform computes a new value: the record follows, whoever reads it.
    set_kpi(broker, KPI, 72.0, "2026-06-30T00:00:00Z")
    service.publish(MODERATOR, "eclairage-dijon")
    shown = service.get(ANONYMOUS, "eclairage-dijon")["outcomes"][0]
    assert (shown["measured"]["value"], shown["after"]) == (72.0, {"value": 72.0, "date": "2026-06-30"})
    assert service.list(ANONYMOUS, ProjectFilters()).projects[0]["outcomes"][0]["measured"]["value"] == 72.0
    assert next(service.export(ANONYMOUS, ProjectFilters()))["outcomes"][0]["measured"]["value"] == 72.0


def test_a_record_read_changed_and_sent_back_keeps_its_declared_values(service: ProjectService) -> None:
    declared = {"value": 40, "date": "2024"}
    shown = service.create(DIJON, record(bound(after=declared)))
    sent_back = [{**shown["outcomes"][0], "source": "rapport annuel"}]  # with measured, declaredAfter…
    changed = service.update(DIJON, "eclairage-dijon", {"outcomes": sent_back})["outcomes"][0]
    assert changed["source"] == "rapport annuel" and changed["declaredAfter"] == declared
    assert changed["after"] == {"value": 61.5, "date": "2025-12-31"}  # measured, not stored as declared


def test_a_kpi_under_the_core_context_alone_is_bound_too(service: ProjectService, broker: Broker) -> None:
    other = "urn:ngsi-ld:KeyPerformanceIndicator:dijon-telegestion"
    broker.entities.create("dijon", {"id": other, "type": "KeyPerformanceIndicator",
                                     "kpiValue": {"type": "Property", "value": 12}},
                           broker.contexts.compile("dijon", None))
    outcome = service.create(DIJON, record(bound(other, indicatorNum=16)))["outcomes"][0]
    assert outcome["measured"]["value"] == 12 and outcome["measured"]["unit"] == indicator(16).unit
    assert outcome["measured"]["observedAt"].endswith("Z")  # no observedAt: when it was written
    assert "declaredAfter" not in outcome


def test_bindings_are_refused_with_the_field_named(service: ProjectService, broker: Broker) -> None:
    def refused(outcome: dict[str, Any], principal: Principal = DIJON) -> str:
        with pytest.raises(BadRequestData) as caught:
            service.create(principal, record({"indicator": "Points lumineux LED", "unit": "%"}, outcome))
        return caught.value.detail

    assert refused(bound(tenant="besancon")) == "outcomes[1].kpi: no tenant 'besancon' on this platform"
    missing = "urn:ngsi-ld:KeyPerformanceIndicator:absent"
    assert refused(bound(missing)) == f"outcomes[1].kpi: no entity {missing} in tenant 'dijon'"
    light = "urn:ngsi-ld:KeyPerformanceIndicator:in-fact-a-streetlight"
    broker.entities.create("dijon", {"id": light, "type": "Streetlight"}, broker.contexts.compile("dijon", None))
    assert refused(bound(light)) == f"outcomes[1].kpi: {light} is not a KeyPerformanceIndicator"
    assert refused(bound(), DIJON_CONTRIBUTOR).startswith(
        f"outcomes[1].kpi: this credential may not read {KPI} in tenant 'dijon'")
    assert refused({"kpi": "urn:ngsi-ld:KeyPerformanceIndicator:x", "indicator": "x"}).startswith(
        'outcomes[1].kpi: {"tenant": "<tenant>", "entity": "urn:ngsi-ld:KeyPerformanceIndicator:…"} is expected')
    assert refused(bound("urn:ngsi-ld:Streetlight:1")).startswith("outcomes[1].kpi.entity: the id of a KeyPerf")
    assert refused(bound(tenant="../etc")) == "outcomes[1].kpi.tenant: '../etc' is not a tenant name"
    assert refused(bound(indicatorNum=999)) == "outcomes[1].indicatorNum: 999 is not an indicator of the vocabulary " \
                                               "(numbers 1 to 32)"
    assert refused(bound(indicatorNum=True)).startswith("outcomes[1].indicatorNum: the number of an indicator")
    # Once the tenant publishes its KPIs, anyone who writes the record may bind them.
    PublicTypes(broker.store).replace("dijon", frozenset({SDM + "KeyPerformanceIndicator"}))
    assert service.create(DIJON_CONTRIBUTOR, record(bound()))["outcomes"][0]["measured"]["value"] == 61.5


def test_a_kpi_gone_shows_no_measure_and_the_record_stays_editable(service: ProjectService, broker: Broker) -> None:
    service.create(DIJON, record(bound(after={"value": 40})))
    broker.entities.delete("dijon", KPI)
    outcome = service.get(DIJON, "eclairage-dijon")["outcomes"][0]
    assert outcome["measured"] is None
    assert outcome["measuredReason"] == f"l'indicateur {KPI} n'existe plus dans le locataire dijon"
    assert outcome["after"] == {"value": 40}  # the declared value, as it was
    # A moderator, who does not read Dijon's tenant, edits another field: the binding made stays.
    changed = service.update(MODERATOR, "eclairage-dijon", {"status": "deployed"})
    assert changed["outcomes"][0]["kpi"] == {"tenant": "dijon", "entity": KPI}
    # Binding another KPI is checked again, for whoever binds it.
    with pytest.raises(BadRequestData, match=r"^outcomes\[1\]\.kpi: no entity"):
        service.update(MODERATOR, "eclairage-dijon",
                       {"outcomes": [bound(), bound("urn:ngsi-ld:KeyPerformanceIndicator:b")]})
    broker.tenants.delete("dijon")
    assert service.get(DIJON, "eclairage-dijon")["outcomes"][0]["measuredReason"] == "le locataire dijon n'existe plus"


def test_outcomes_shown_together_are_read_in_one_query_per_tenant(service: ProjectService, broker: Broker) -> None:
    second = "urn:ngsi-ld:KeyPerformanceIndicator:dijon-telegestion"
    create_kpi(broker, second, 80.0, "2025-12-31T00:00:00Z")
    for n in range(3):
        service.create(DIJON, record(bound(), bound(second, indicatorNum=16), id=f"eclairage-{n}",
                                     moderation="submitted"))
    queried: list[str] = []
    query = broker.entities.query

    def counted(tenant: str, *args: Any, **kwargs: Any) -> Any:
        queried.append(tenant)
        return query(tenant, *args, **kwargs)

    broker.entities.query = counted  # type: ignore[method-assign]  # counts, then asks the real store
    page = service.list(MODERATOR, ProjectFilters(moderation="submitted"))
    assert [[o["measured"]["value"] for o in p["outcomes"]] for p in page.projects] == [[61.5, 80.0]] * 3
    assert queried.count("dijon") == 1
