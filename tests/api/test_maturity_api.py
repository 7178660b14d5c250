"""The maturity diagnostic's JSON API (/api/observatoire/v1/…/diagnostic) over HTTP, on each
backend: the questionnaire, submission by role, privacy until published, history, peers,
recommendations, and ProblemDetails on bad input."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from territoires.observatoire import maturity
from tests.api.conftest import assert_problem, bearer

BASE = "/api/observatoire/v1"
RENNES = f"{BASE}/territories/commune/35238/diagnostic"
NANTES = f"{BASE}/territories/commune/44109/diagnostic"


def answers(**levels: int) -> dict[str, dict[str, str]]:
    return {"answers": maturity.answers_meeting(levels)}


def test_questionnaire_is_open(anonymous: TestClient) -> None:
    response = anonymous.get(f"{BASE}/diagnostic/questionnaire")
    assert response.status_code == 200
    shown = response.json()
    assert len(shown["axes"]) == 10 and shown["axes"][0]["name"]["fr"] == "Stratégie et gouvernance"
    assert shown["levels"][4]["name"] == {"fr": "Exemplarité", "en": "Exemplarity"}


def test_diagnostic_lifecycle_by_role(app: Starlette, anonymous: TestClient) -> None:
    rennes = bearer(app, "contributor", "commune:35238")
    nantes = bearer(app, "contributor", "commune:44109")
    # Writing needs a credential, then the territory's.
    response = anonymous.put(RENNES, json=answers())
    assert response.status_code == 401 and response.json()["type"] == "urn:territoires:errors:Unauthenticated"
    response = anonymous.put(RENNES, json=answers(), headers=nantes)
    assert response.status_code == 403 and response.json()["type"] == "urn:territoires:errors:Forbidden"
    submitted = anonymous.put(RENNES, json=answers(A1=3, A5=2), headers=rennes)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["levels"]["A1"] == 3 and submitted.json()["published"] is False
    # Private: a stranger is told there is no published diagnostic, as for a territory without one.
    for path in ("", "/history", "/recommendations"):
        problem = assert_problem(anonymous.get(RENNES + path, headers=nantes), 404, "ResourceNotFound")
        assert problem["detail"] == "commune 35238 (Rennes) has no published diagnostic"
    assert anonymous.get(RENNES, headers=rennes).json()["levels"]["A5"] == 2
    assert anonymous.get(f"{RENNES}/peers").json()["axes"][0]["own"] is None
    # Published: everyone reads it, and it counts among its peers.
    assert anonymous.post(f"{RENNES}/publish", headers=nantes).status_code == 403
    published = anonymous.post(f"{RENNES}/publish", headers=rennes)
    assert published.status_code == 200 and published.json()["published"] is True
    assert anonymous.get(RENNES).json()["levels"]["A1"] == 3
    assert anonymous.put(NANTES, json=answers(A5=4), headers=nantes).status_code == 200
    assert anonymous.post(f"{NANTES}/publish", headers=nantes).status_code == 200
    peers = anonymous.get(f"{RENNES}/peers").json()
    assert peers["total"] == 2 and peers["populationBand"] == "200000+"
    assert peers["axes"][4] == {"axis": "A5", "counts": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0},
                                "median": 3, "own": 2}
    # Progress shows in the history; recommendations start with the axis furthest behind peers.
    assert anonymous.put(RENNES, json=answers(A1=4, A5=2), headers=rennes).status_code == 200
    history = anonymous.get(f"{RENNES}/history").json()
    assert [e["event"] for e in history] == ["submitted", "published", "submitted"]
    assert [e["levels"]["A1"] for e in history if e["event"] == "submitted"] == [3, 4]
    found = anonymous.get(f"{RENNES}/recommendations").json()
    assert found["recommendations"][0]["axis"] == "A5"
    assert found["recommendations"][0]["criteria"][0]["text"]["fr"].startswith("Un réseau")
    # Withdrawn, it is private again; a moderator still reads it.
    assert anonymous.post(f"{RENNES}/unpublish", headers=rennes).json()["published"] is False
    assert_problem(anonymous.get(RENNES), 404, "ResourceNotFound")
    assert anonymous.get(RENNES, headers=bearer(app, "moderator")).status_code == 200


def test_bad_input_is_a_problem_details(client: TestClient) -> None:
    problem = assert_problem(client.get(f"{BASE}/territories/commune/35999/diagnostic"), 404, "ResourceNotFound")
    assert "no commune has code 35999" in problem["detail"]
    problem = assert_problem(client.put(f"{BASE}/territories/commune/3523/diagnostic", json=answers()),
                             400, "BadRequestData")
    assert "'3523' is not an INSEE commune code" in problem["detail"]
    bad = answers()
    bad["answers"]["A4-Q1"] = "lots"
    problem = assert_problem(client.put(RENNES, json=bad), 400, "BadRequestData")
    assert problem["detail"].startswith("answers.A4-Q1: 'lots' is not one of its options (none, few, many)")
    del bad["answers"]["A4-Q1"]
    problem = assert_problem(client.put(RENNES, json=bad), 400, "BadRequestData")
    assert problem["detail"].startswith("answers: question(s) A4-Q1 unanswered")
    problem = assert_problem(client.put(RENNES, json={"A1-Q1": "yes"}), 400, "BadRequestData")
    assert problem["detail"].startswith('the body is {"answers"')
    assert_problem(client.put(RENNES, content=b"{", headers={"Content-Type": "application/json"}),
                   400, "InvalidRequest")
    problem = assert_problem(client.post(f"{RENNES}/publish"), 404, "ResourceNotFound")
    assert problem["detail"] == "commune 35238 (Rennes) has no diagnostic yet: submit one first"
