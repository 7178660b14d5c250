"""The observatory's JSON API (/api/observatoire/v1) over HTTP, on each backend: project
records, moderation by role, history, exports, territories, vocabularies and the @context."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.applications import Starlette
from starlette.testclient import TestClient

from territoires.observatoire.indicators import indicator
from tests.api.conftest import CORE, assert_problem, bearer, link

BASE = "/api/observatoire/v1"
CONTEXT = "https://territoires.example/ns/v1/territoires-context.jsonld"


def project(**fields: Any) -> dict[str, Any]:
    return {"title": "Télérelève des compteurs d'eau", "carrierName": "Ville de Rennes", "carrierKind": "commune",
            "carrier": "213502388", "territories": ["commune:35238"], "domains": ["water"],
            "useCases": ["remote-meter-reading"], "status": "pilot", **fields}


def test_projects_lifecycle_by_role(app: Starlette, anonymous: TestClient) -> None:
    rennes = bearer(app, "contributor", "commune:35238")
    moderator = bearer(app, "moderator")
    created = anonymous.post(f"{BASE}/projects", json=project(), headers=rennes)
    assert created.status_code == 201, created.text
    record = created.json()
    assert created.headers["location"] == f"{BASE}/projects/{record['id']}"
    assert record["id"] == "urn:ngsi-ld:Project:telereleve-des-compteurs-d-eau"
    assert (record["moderation"], record["populationBand"], record["region"]) == ("draft", "200000+", ["53"])
    slug = "telereleve-des-compteurs-d-eau"
    # A draft is not shown to others.
    assert_problem(anonymous.get(f"{BASE}/projects/{slug}"), 404, "ResourceNotFound")
    assert anonymous.get(f"{BASE}/projects").json()["total"] == 0
    assert anonymous.get(f"{BASE}/projects/{slug}", headers=rennes).json()["moderation"] == "draft"
    # Writes need a credential, then the right one.
    response = anonymous.post(f"{BASE}/projects", json=project())
    assert response.status_code == 401 and response.json()["type"] == "urn:territoires:errors:Unauthenticated"
    dijon = bearer(app, "contributor", "commune:21231")
    response = anonymous.patch(f"{BASE}/projects/{slug}", json={"status": "deployed"}, headers=dijon)
    assert response.status_code == 403 and response.json()["type"] == "urn:territoires:errors:Forbidden"
    changed = anonymous.patch(f"{BASE}/projects/{slug}", json={"moderation": "submitted"}, headers=rennes)
    assert changed.status_code == 200 and changed.json()["moderation"] == "submitted"
    assert anonymous.post(f"{BASE}/projects/{slug}/publish", headers=rennes).status_code == 403
    published = anonymous.post(f"{BASE}/projects/{slug}/publish", headers=moderator)
    assert published.status_code == 200 and published.json()["moderation"] == "published"
    # Published: everyone reads it, its history too.
    assert anonymous.get(f"{BASE}/projects/{record['id']}").json()["title"] == "Télérelève des compteurs d'eau"
    listed = anonymous.get(f"{BASE}/projects", params={"domain": "water", "region": "53"}).json()
    assert (listed["total"], listed["offset"], listed["limit"]) == (1, 0, 20)
    history = anonymous.get(f"{BASE}/projects/{slug}/history").json()
    assert [e["changes"].get("moderation") for e in history] == ["draft", "submitted", "published"]
    assert [e["by"]["role"] for e in history] == ["contributor", "contributor", "moderator"]
    sent_back = anonymous.post(f"{BASE}/projects/{slug}/send-back", headers=moderator)
    assert sent_back.json()["moderation"] == "draft"


def test_bad_input_is_a_problem_details(client: TestClient) -> None:
    """With the operator's key of the shared fixture: the refusals issue 4 names."""
    api = client
    for fields, start in [
        ({"territories": ["commune:35999"]}, "territories[0]: no commune has code 35999"),
        ({"carrier": "213502389"}, "carrier: SIREN 213502389 has a wrong check digit"),
        ({"outcomes": [{"indicator": "Fuites", "baseline": {"value": 3}}]}, "outcomes[0]: a baseline value needs its unit"),
        ({"outcomes": [{"indicator": "Fuites", "unit": "%", "after": {"value": 3, "date": "2999-01-01"},
                        "observed": True}]}, "outcomes[0].after.date: 2999-01-01 is in the future"),
    ]:
        problem = assert_problem(api.post(f"{BASE}/projects", json=project(**fields)), 400, "BadRequestData")
        assert problem["detail"].startswith(start), problem
    too_big = api.post(f"{BASE}/projects", content=b'{"title": "' + b"x" * 1_000_001 + b'"}',
                       headers={"Content-Type": "application/json"})
    assert_problem(too_big, 413, "BadRequestData")
    assert_problem(api.post(f"{BASE}/projects", content=b"{", headers={"Content-Type": "application/json"}),
                   400, "InvalidRequest")
    assert_problem(api.post(f"{BASE}/projects", json=[1]), 400, "BadRequestData")
    assert_problem(api.get(f"{BASE}/projects", params={"domain": "eau"}), 400, "BadRequestData")
    assert_problem(api.get(f"{BASE}/projects", params={"limit": "1000"}), 400, "BadRequestData")
    assert_problem(api.get(f"{BASE}/projects/Not A Slug"), 400, "BadRequestData")
    assert_problem(api.get(f"{BASE}/projects/absent/history"), 404, "ResourceNotFound")
    assert_problem(api.patch(f"{BASE}/projects/absent", json={}), 404, "ResourceNotFound")
    assert_problem(api.get(f"{BASE}/projects.csv", params={"limit": "3"}), 400, "BadRequestData")
    # Nothing refused was stored.
    assert api.get(f"{BASE}/projects", params={"moderation": "draft"}).json()["total"] == 0


def test_exports_csv_and_json_with_the_same_filters(app: Starlette, anonymous: TestClient) -> None:
    moderator = bearer(app, "moderator")
    for fields in (project(moderation="published"),
                   project(title="=HYPERLINK(1)", territories=["commune:21231"], carrier="212102313",
                           domains=["public-lighting"], useCases=["led-retrofit"], moderation="published"),
                   project(title="Brouillon")):
        assert anonymous.post(f"{BASE}/projects", json=fields, headers=moderator).status_code == 201
    exported = anonymous.get(f"{BASE}/projects.json", params={"domain": "water"})
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/json"
    assert [p["title"] for p in exported.json()] == ["Télérelève des compteurs d'eau"]
    assert len(anonymous.get(f"{BASE}/projects.json").json()) == 2  # drafts are not exported to the public
    assert anonymous.get(f"{BASE}/projects.json", params={"region": "11"}).json() == []
    response = anonymous.get(f"{BASE}/projects.csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert [row["Titre"] for row in rows] == ["'=HYPERLINK(1)", "Télérelève des compteurs d'eau"]  # by id
    first = rows[1]
    assert (first["Domaines"], first["Cas d'usage"], first["SIREN du porteur"]) == (
        "Eau", "Télérelève des compteurs", "213502388")
    assert (first["Territoires"], first["Strate de population"], first["État d'avancement"]) == (
        "commune:35238", "200 000 habitants et plus", "Expérimentation")
    assert first["Modération"] == "Publié"


def test_every_filter_takes_several_codes_and_the_export_follows(app: Starlette, anonymous: TestClient) -> None:
    moderator = bearer(app, "moderator")
    for fields in (project(moderation="published", fundingSources=["france-2030-tid"]),
                   project(title="Éclairage", territories=["commune:21231"], carrier="212102313", moderation="published",
                           domains=["public-lighting"], useCases=["led-retrofit"], connectivity=["lorawan"])):
        assert anonymous.post(f"{BASE}/projects", json=fields, headers=moderator).status_code == 201

    def titles(path: str, **params: str) -> list[str]:
        response = anonymous.get(f"{BASE}/{path}", params=params)
        assert response.status_code == 200, response.text
        return sorted(p["title"] for p in (response.json() if path.endswith(".json") else response.json()["projects"]))

    assert titles("projects", domain="water,public-lighting") == ["Télérelève des compteurs d'eau", "Éclairage"]
    assert titles("projects.json", domain="water,public-lighting", connectivity="lorawan") == ["Éclairage"]
    assert titles("projects.json", funding="france-2030-tid") == ["Télérelève des compteurs d'eau"]
    repeated = anonymous.get(f"{BASE}/projects.json", params=[("region", "53"), ("region", "27")]).json()
    assert sorted(p["title"] for p in repeated) == ["Télérelève des compteurs d'eau", "Éclairage"]
    assert_problem(anonymous.get(f"{BASE}/projects", params={"funding": "loto"}), 400, "BadRequestData")
    assert_problem(anonymous.get(f"{BASE}/projects.csv", params={"label": ""}), 400, "BadRequestData")


def test_territories_for_forms(anonymous: TestClient) -> None:
    found = anonymous.get(f"{BASE}/territories", params={"q": "saint etienne", "kind": "commune", "limit": "3"})
    assert found.status_code == 200
    first = found.json()["territories"][0]
    assert (first["name"], first["id"], first["populationBand"]) == (
        "Saint-Étienne", "urn:ngsi-ld:Territory:commune:42218", "100000-199999")
    assert "Licence Ouverte" in found.json()["attribution"]
    rennes = anonymous.get(f"{BASE}/territories/epci/243500139").json()
    assert (rennes["name"], rennes["epciKind"]) == ("Rennes Métropole", "METRO")
    assert [(p["kind"], p["code"]) for p in rennes["parents"]] == [("departement", "35"), ("region", "53")]
    assert_problem(anonymous.get(f"{BASE}/territories/commune/35999"), 404, "ResourceNotFound")
    assert_problem(anonymous.get(f"{BASE}/territories/canton/1"), 400, "BadRequestData")
    assert_problem(anonymous.get(f"{BASE}/territories"), 400, "BadRequestData")
    assert_problem(anonymous.get(f"{BASE}/territories", params={"q": "a", "limit": "51"}), 400, "BadRequestData")


def test_vocabularies_and_context(anonymous: TestClient) -> None:
    vocabularies = anonymous.get(f"{BASE}/vocabularies").json()
    assert {"code": "water", "label": "Eau"} in vocabularies["domains"]["terms"]
    assert [t["code"] for t in vocabularies["status"]["terms"]][-1] == "abandoned"
    assert [t["code"] for t in vocabularies["populationBand"]["terms"]] == [
        "0-3499", "3500-9999", "10000-19999", "20000-49999", "50000-99999", "100000-199999", "200000+"]
    context = anonymous.get(f"{BASE}/context.jsonld")
    assert context.headers["content-type"] == "application/ld+json"
    terms, core = context.json()["@context"]
    assert terms["Project"] == "tr:Project" and terms["tr"] == "https://territoires.example/ns/v1#"
    assert core == CORE


def test_the_context_resolves_air_gapped_in_the_ngsi_ld_api(client: TestClient) -> None:
    """Its published URL is served from the package: the NGSI-LD API expands and compacts with it."""
    body = {"id": "urn:ngsi-ld:Project:essai", "type": "Project", "domains": {"type": "Property", "value": ["water"]}}
    assert client.post("/ngsi-ld/v1/entities", json=body, headers=link(CONTEXT)).status_code == 201
    plain = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Project:essai").json()
    assert plain["type"] == "https://territoires.example/ns/v1#Project"
    assert "https://territoires.example/ns/v1#domains" in plain
    compacted = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Project:essai", headers=link(CONTEXT)).json()
    assert compacted["type"] == "Project" and compacted["domains"]["value"] == ["water"]


def test_similar_projects(app: Starlette, anonymous: TestClient) -> None:
    moderator = bearer(app, "moderator")
    for slug, territory, use_case in (("rennes", "commune:35238", "remote-meter-reading"),
                                      ("brest", "commune:29019", "remote-meter-reading"),
                                      ("nantes", "commune:44109", "leak-detection"),
                                      ("dijon", "commune:21231", "dynamic-lighting")):
        body = project(id=slug, title=f"Eau à {slug}", territories=[territory], useCases=[use_case],
                       domains=["public-lighting" if slug == "dijon" else "water"], moderation="published")
        assert anonymous.post(f"{BASE}/projects", json=body, headers=moderator).status_code == 201
    response = anonymous.get(f"{BASE}/projects/rennes/similar")
    assert response.status_code == 200, response.text
    found = response.json()["projects"]
    assert [p["id"] for p in found] == ["urn:ngsi-ld:Project:brest", "urn:ngsi-ld:Project:nantes"]
    assert found[0]["reasons"][0] == "même cas d'usage" and found[1]["reasons"][0] == "même domaine"
    assert 180 < found[0]["distanceKm"] < 240
    assert len(anonymous.get(f"{BASE}/projects/rennes/similar", params={"limit": "1"}).json()["projects"]) == 1
    assert_problem(anonymous.get(f"{BASE}/projects/rennes/similar", params={"limit": "21"}), 400, "BadRequestData")
    assert_problem(anonymous.get(f"{BASE}/projects/rennes/similar", params={"near": "1"}), 400, "BadRequestData")
    assert_problem(anonymous.get(f"{BASE}/projects/nulle-part/similar"), 404, "ResourceNotFound")


def test_an_outcome_bound_to_a_kpi_of_a_tenant(app: Starlette, anonymous: TestClient) -> None:
    operator = bearer(app, "operator")
    assert anonymous.post("/admin/v1/tenants", json={"name": "rennes"}, headers=operator).status_code == 201
    kpi = {"id": "urn:ngsi-ld:KeyPerformanceIndicator:rennes-telereleve", "type": "KeyPerformanceIndicator",
           "kpiValue": {"type": "Property", "value": 35.0, "unitCode": "P1", "observedAt": "2026-01-31T00:00:00Z"}}
    created = anonymous.post("/ngsi-ld/v1/entities", json=kpi, headers={**operator, "NGSILD-Tenant": "rennes"})
    assert created.status_code == 201, created.text
    rennes = bearer(app, "contributor", "commune:35238")
    outcome = {"indicatorNum": 18, "kpi": {"tenant": "rennes", "entity": kpi["id"]}}
    # The contributor reads nothing of Rennes's tenant until it publishes its KPIs.
    refused = assert_problem(anonymous.post(f"{BASE}/projects", json=project(outcomes=[outcome]), headers=rennes),
                             400, "BadRequestData")
    assert refused["detail"].startswith("outcomes[0].kpi: this credential may not read")
    published = anonymous.put("/admin/v1/tenants/rennes/public-types", json={"types": ["KeyPerformanceIndicator"]},
                              headers=operator)
    assert published.status_code == 200, published.text
    created = anonymous.post(f"{BASE}/projects", json=project(outcomes=[outcome]), headers=rennes)
    assert created.status_code == 201, created.text
    shown = created.json()["outcomes"][0]
    assert shown["measured"] == {"value": 35.0, "unit": "P1", "observedAt": "2026-01-31T00:00:00Z",
                                 "entity": kpi["id"], "tenant": "rennes"}
    assert (shown["indicator"], shown["unit"]) == (indicator(18).name, indicator(18).unit)
    # The platform computes a new value: the record follows.
    value = {"type": "Property", "value": 52.5, "observedAt": "2026-06-30T00:00:00Z"}
    changed = anonymous.patch(f"/ngsi-ld/v1/entities/{kpi['id']}/attrs", json={"kpiValue": value},
                              headers={**operator, "NGSILD-Tenant": "rennes"})
    assert changed.status_code == 204, changed.text
    again = anonymous.get(f"{BASE}/projects/{created.json()['id']}", headers=rennes).json()["outcomes"][0]
    assert again["after"] == {"value": 52.5, "date": "2026-06-30"} and again["measured"]["value"] == 52.5
