"""Dead letters end to end, on each backend: a receiver on loopback that fails until the
notification is given up, the administration API listing it, the receiver fixed, the revival
delivering it with the same notification id; dropping; refusals of bad input and of roles that
may not; the ``territoires notifications dead-letters`` command."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.cli import main
from territoires.config import Settings
from tests import postgres
from tests.receivers import HttpReceiver, http_receiver
from tests.test_notifications import create, fast, lamp, subscribe, wait_for_status

DEAD = "/admin/v1/tenants/{}/dead-letters"
ATTEMPTS = 2


@pytest.fixture(params=postgres.BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return replace(fast(Settings(data_dir=tmp_path / "var", database_url=url)), notification_max_attempts=ATTEMPTS)


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    """A client holding the admin key of tenant rennes (created by an operator)."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        _, operator = app.state.keys.create(None, "operator", "tests")
        created = test_client.post("/admin/v1/tenants", json={"name": "rennes"},
                                   headers={"Authorization": f"Bearer {operator}"})
        assert created.status_code == 201, created.text
        _, admin = app.state.keys.create("rennes", "admin", "rennes admin")
        test_client.headers.update({"Authorization": f"Bearer {admin}", "NGSILD-Tenant": "rennes"})
        yield test_client


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver(500) as running:
        yield running


def dead_letters(client: TestClient, count: int, tenant: str = "rennes", **params: Any) -> list[dict[str, Any]]:
    """The tenant's dead letters once there are ``count`` of them."""
    deadline = time.monotonic() + 20
    while True:
        response = client.get(DEAD.format(tenant), params=params)
        assert response.status_code == 200, response.text
        if int(response.headers["Total-Count"]) == count:
            return response.json()
        assert time.monotonic() < deadline, f"{response.headers['Total-Count']} dead letters, not {count}"
        time.sleep(0.05)


def test_a_dead_letter_is_listed_then_revived_with_its_id_once_the_receiver_is_back(client, receiver) -> None:
    sub = subscribe(client, receiver.url)
    create(client, lamp(1))
    tried = receiver.wait_for(ATTEMPTS)
    [dead] = dead_letters(client, 1)
    assert dead["id"] == tried[0].body["id"] == tried[1].body["id"]
    assert (dead["subscriptionId"], dead["attempts"], dead["entityIds"]) == (sub, ATTEMPTS, ["urn:ngsi-ld:Streetlight:1"])
    assert "500" in dead["lastError"] and dead["givenUpAt"] >= dead["createdAt"]
    assert dead["triggerReason"] == "attributeCreated" and dead["dataSize"] > 0
    assert dead["endpoint"] == receiver.url.rsplit("/", 1)[0]
    failed = wait_for_status(client, sub, lambda n: n.get("timesFailed") == ATTEMPTS)
    assert "lastSuccess" not in failed

    receiver.status = 204
    revived = client.post(f"{DEAD.format('rennes')}/revive", json={"subscription": sub})
    assert revived.status_code == 200 and revived.json() == {"revived": 1}
    [delivered] = receiver.wait_for(1, accepted=True)
    assert delivered.body["id"] == dead["id"] and delivered.body["subscriptionId"] == sub
    assert delivered.body["data"][0]["id"] == "urn:ngsi-ld:Streetlight:1"
    status = wait_for_status(client, sub, lambda n: n.get("status") == "ok")
    assert status["timesSent"] == ATTEMPTS + 1 and status["lastSuccess"] >= failed["lastFailure"]
    assert dead_letters(client, 0) == []
    again = client.post(f"{DEAD.format('rennes')}/revive", json={})
    assert again.json() == {"revived": 0}


def test_dead_letters_are_paged_chosen_by_seq_and_dropped(client, receiver) -> None:
    first = subscribe(client, receiver.url)
    second = subscribe(client, receiver.url)
    create(client, lamp(1))
    everything = dead_letters(client, 2)
    assert [d["seq"] for d in everything] == sorted(d["seq"] for d in everything)
    [mine] = dead_letters(client, 1, subscription=second)
    assert mine["subscriptionId"] == second
    [page] = client.get(DEAD.format("rennes"), params={"offset": 1, "limit": 1, "count": "true"}).json()
    assert page == everything[1]
    dropped = client.post(f"{DEAD.format('rennes')}/drop", json={"seqs": [mine["seq"]]})
    assert dropped.status_code == 200 and dropped.json() == {"dropped": 1}
    [left] = dead_letters(client, 1)
    assert left["subscriptionId"] == first
    assert client.post(f"{DEAD.format('rennes')}/drop", json={}).json() == {"dropped": 1}
    assert dead_letters(client, 0) == []
    audit = client.get("/admin/v1/tenants/rennes/audit", params={"operation": "dropDeadLetters"}).json()
    assert len(audit) == 2


@pytest.mark.parametrize(("method", "suffix", "params", "body", "status"), [
    ("GET", "", {"subscription": "not a uri"}, None, 400),
    ("GET", "", {"limit": "100000"}, None, 403),
    ("GET", "", {"offset": "-1"}, None, 400),
    ("POST", "/revive", {}, {"seqs": "1"}, 400),
    ("POST", "/revive", {}, {"seqs": [1, "2"]}, 400),
    ("POST", "/revive", {}, {"seqs": [True]}, 400),
    ("POST", "/revive", {}, {"seqs": [0]}, 400),
    ("POST", "/revive", {}, {"seqs": [2**63]}, 400),
    ("POST", "/drop", {}, {"seqs": list(range(1, 1002))}, 400),
    ("POST", "/drop", {}, {"subscription": 3}, 400),
    ("POST", "/drop", {}, {"subscription": "urn:ngsi-ld:Subscription:1", "seq": [1]}, 400),
    ("POST", "/drop", {}, [1, 2], 400),
])
def test_bad_input_is_a_problem_the_caller_can_act_on(client, method, suffix, params, body, status) -> None:
    response = client.request(method, DEAD.format("rennes") + suffix, params=params, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json") and response.json()["detail"]


def test_an_unknown_tenant_is_not_found_and_a_bad_tenant_name_refused(app, client) -> None:
    _, operator = app.state.keys.create(None, "operator", "tests")
    headers = {"Authorization": f"Bearer {operator}"}
    for method, suffix in (("GET", ""), ("POST", "/revive"), ("POST", "/drop")):
        missing = client.request(method, DEAD.format("lorient") + suffix, headers=headers,
                                 json={} if method == "POST" else None)
        assert missing.status_code == 404, missing.text
        assert missing.headers["content-type"].startswith("application/problem+json")
    assert client.get(DEAD.format("Lor ient"), headers=headers).status_code == 400
    assert client.get(DEAD.format("_default"), headers=headers).json() == []


def test_a_tenant_admin_and_an_operator_may_an_editor_may_not(app, client) -> None:
    _, operator = app.state.keys.create(None, "operator", "tests")
    _, editor = app.state.keys.create("rennes", "editor", "rennes editor")
    assert client.get(DEAD.format("rennes")).status_code == 200
    assert client.get(DEAD.format("rennes"), headers={"Authorization": f"Bearer {operator}"}).status_code == 200
    for method, suffix in (("GET", ""), ("POST", "/revive"), ("POST", "/drop")):
        refused = client.request(method, DEAD.format("rennes") + suffix, json={} if method == "POST" else None,
                                 headers={"Authorization": f"Bearer {editor}"})
        assert refused.status_code == 403, refused.text


def test_the_routes_are_described_in_openapi(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    base = "/admin/v1/tenants/{name}/dead-letters"
    assert set(paths[base]) == {"get"} and set(paths[f"{base}/revive"]) == set(paths[f"{base}/drop"]) == {"post"}
    assert paths[f"{base}/revive"]["post"]["summary"].startswith("Send dead letters again")


def test_the_command_lists_revives_and_drops(settings: Settings, receiver, monkeypatch, capsys) -> None:
    if settings.database_url:
        monkeypatch.setenv("TERRITOIRES_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("TERRITOIRES_DATABASE_URL", raising=False)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        _, operator = app.state.keys.create(None, "operator", "tests")
        client.headers["Authorization"] = f"Bearer {operator}"
        sub = subscribe(client, receiver.url)
        create(client, lamp(1))
        create(client, lamp(2))
        dead_letters(client, 2, tenant="_default")  # the server keeps running: the command works beside it

        def run(*args: str) -> tuple[int, str, str]:
            code = main(["--data-dir", str(settings.data_dir), "notifications", "dead-letters", *args])
            out, err = capsys.readouterr()
            return code, out, err

        code, out, _ = run("list")
        rows = [line.split("\t") for line in out.splitlines()]
        assert code == 0 and [row[2] for row in rows] == [sub, sub] and rows[0][3] == f"{ATTEMPTS} essais"
        assert [row[6] for row in rows] == ["urn:ngsi-ld:Streetlight:1", "urn:ngsi-ld:Streetlight:2"]
        code, out, err = run("list", "--limit", "1")
        assert len(out.splitlines()) == 1 and "1 de plus" in err
        assert run("list", "--subscription", "urn:ngsi-ld:Subscription:other")[1] == ""
        code, _, err = run("revive", "--seq", "0")
        assert code == 1 and err.startswith("erreur : seqs must be")
        code, out, _ = run("drop", "--seq", rows[1][0])
        assert code == 0 and out.startswith("1 notification(s) abandonnée(s) supprimée(s)")
        receiver.status = 204
        code, out, _ = run("revive", "--subscription", sub)
        assert code == 0 and out.startswith("1 notification(s) remise(s) en file d'envoi")
        [delivered] = receiver.wait_for(1, accepted=True)  # by the server's worker, at its next sweep or poll
        assert delivered.body["data"][0]["id"] == "urn:ngsi-ld:Streetlight:1"
        assert run("list")[1] == ""
        code, _, err = run("list", "--tenant", "lorient")
        assert code == 1 and "lorient" in err
