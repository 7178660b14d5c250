"""The cooperation API (/api/observatoire/v1: intentions, partners, working groups) over HTTP,
on each backend: open reads, writes by role, pagination, and ProblemDetails for bad input."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from territoires.observatoire.projects import ProjectService
from territoires.observatoire.seed import load_seed
from tests.api.conftest import assert_problem, bearer

BASE = "/api/observatoire/v1"


def test_intentions_and_partners(app: Starlette, anonymous: TestClient) -> None:
    load_seed(ProjectService(app.state.broker))
    dijon, chenove = bearer(app, "contributor", "commune:21231"), bearer(app, "contributor", "commune:21166")
    assert anonymous.get(f"{BASE}/intentions/commune/21231").json()["useCases"] == []
    response = anonymous.put(f"{BASE}/intentions/commune/21166", json={"useCases": ["iot-network"]}, headers=chenove)
    assert response.status_code == 200 and response.json()["territoryName"] == "Chenôve"
    assert anonymous.put(f"{BASE}/intentions/commune/21166", json={"useCases": ["iot-network"]}).status_code == 401
    assert anonymous.put(f"{BASE}/intentions/commune/21166", json={"useCases": ["iot-network"]},
                         headers=dijon).status_code == 403
    problem = assert_problem(anonymous.put(f"{BASE}/intentions/commune/21231", json={"useCases": ["x"]},
                                           headers=dijon), 400, "BadRequestData")
    assert "GET /api/observatoire/v1/vocabularies" in problem["detail"]
    assert_problem(anonymous.put(f"{BASE}/intentions/commune/21231", json=["iot-network"], headers=dijon),
                   400, "BadRequestData")

    response = anonymous.get(f"{BASE}/partners", params={"territory": "commune:21231", "useCase": "iot-network"})
    assert response.status_code == 200, response.text
    proposals = response.json()
    assert [(p["name"], p["reasons"][1]) for p in proposals["sameIntention"]] == [
        ("Chenôve", "même EPCI : Dijon Métropole")]
    assert {p["name"] for p in proposals["poolingStructures"]} >= {"Vendée Numérique"}
    problem = assert_problem(anonymous.get(f"{BASE}/partners", params={"territory": "commune:21999",
                                                                      "useCase": "iot-network"}),
                             404, "ResourceNotFound")
    assert "21999" in problem["detail"]
    problem = assert_problem(anonymous.get(f"{BASE}/partners", params={"territory": "commune:21231",
                                                                      "useCase": "lora"}), 400, "BadRequestData")
    assert "'lora' is not a known use case" in problem["detail"] and "vocabularies" in problem["detail"]
    assert_problem(anonymous.get(f"{BASE}/partners", params={"territory": "commune:21231"}), 400, "BadRequestData")
    assert_problem(anonymous.get(f"{BASE}/partners", params={"territory": "commune:21231", "useCase": "iot-network",
                                                             "colour": "x"}), 400, "BadRequestData")

    assert anonymous.delete(f"{BASE}/intentions/commune/21166", headers=chenove).status_code == 204
    assert_problem(anonymous.delete(f"{BASE}/intentions/commune/21166", headers=chenove), 404, "ResourceNotFound")
    assert_problem(anonymous.get(f"{BASE}/intentions/canton/2101"), 400, "BadRequestData")


def test_working_groups_over_http(app: Starlette, anonymous: TestClient) -> None:
    dijon, rennes = bearer(app, "contributor", "commune:21231"), bearer(app, "contributor", "commune:35238")
    assert anonymous.post(f"{BASE}/working-groups", json={"title": "Fuites"}).status_code == 401
    created = anonymous.post(f"{BASE}/working-groups", json={"title": "Fuites d'eau", "useCases": ["leak-detection"]},
                             headers=dijon)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert url == f"{BASE}/working-groups/fuites-d-eau"
    meeting = anonymous.post(f"{url}/meetings", json={"date": "2026-03-12", "title": "Lancement",
                                                      "place": "Dijon"}, headers=dijon)
    assert meeting.status_code == 201 and meeting.json()["meetings"][0]["id"] == "1"
    assert_problem(anonymous.post(f"{url}/meetings", json={"date": "demain", "title": "x"}, headers=dijon),
                   400, "BadRequestData")
    assert_problem(anonymous.post(f"{url}/links", json={"title": "x", "url": "ftp://a"}, headers=dijon),
                   400, "BadRequestData")
    assert anonymous.post(f"{url}/links", json={"title": "CCTP", "url": "https://example.fr/cctp"},
                          headers=dijon).status_code == 201
    assert anonymous.post(f"{url}/meetings", json={"date": "2026-03-12", "title": "x"},
                          headers=rennes).status_code == 403
    for role in ([], {}, 1):
        assert_problem(anonymous.post(f"{url}/members", json={"member": "commune:35238", "role": role},
                                      headers=rennes), 400, "BadRequestData")
    joined = anonymous.post(f"{url}/members", json={"member": "commune:35238"}, headers=rennes)
    assert joined.status_code == 201 and [m["role"] for m in joined.json()["members"]] == ["animateur", "membre"]
    assert_problem(anonymous.post(f"{url}/members", json={"member": "commune:35238"}, headers=rennes),
                   409, "AlreadyExists")
    group = anonymous.get(url).json()
    assert (group["title"], len(group["links"]), group["createdBy"]) == (
        "Fuites d'eau", 1, {"role": "contributor", "scope": "commune:21231"})
    assert anonymous.patch(url, json={"title": "Fuites"}, headers=dijon).json()["title"] == "Fuites"
    assert anonymous.delete(f"{url}/members/commune:35238", headers=rennes).status_code == 200
    assert anonymous.delete(f"{url}/links/1", headers=dijon).json()["links"] == []
    assert anonymous.delete(f"{url}/meetings/1", headers=dijon).json()["meetings"] == []
    assert_problem(anonymous.get(f"{BASE}/working-groups/inconnu"), 404, "ResourceNotFound")
    assert_problem(anonymous.get(f"{BASE}/working-groups/Not_A_Slug"), 400, "BadRequestData")

    for n in range(3):
        anonymous.post(f"{BASE}/working-groups", json={"title": f"Groupe {n}"}, headers=rennes)
    page = anonymous.get(f"{BASE}/working-groups", params={"offset": 1, "limit": 2})
    assert page.headers["Total-Count"] == "4" and [g["title"] for g in page.json()] == ["Groupe 0", "Groupe 1"]
    listed = anonymous.get(f"{BASE}/working-groups", params={"useCase": "leak-detection"})
    assert [g["title"] for g in listed.json()] == ["Fuites"]
    assert_problem(anonymous.get(f"{BASE}/working-groups", params={"sort": "x"}), 400, "BadRequestData")
    assert anonymous.delete(url, headers=rennes).status_code == 403
    assert anonymous.delete(url, headers=dijon).status_code == 204
