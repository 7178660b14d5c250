"""What the PostgreSQL backend promises operators: concurrent API processes lose no update,
and a database crash in the middle of a batch costs a 503, never a partial batch or a
server that must be restarted."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path

import psycopg
import pytest

from tests import postgres
from tests.servers import Cluster, can_start_postgres, platform

ENTITY = "urn:ngsi-ld:Streetlight:shared"


def call(base: str, method: str, path: str, body: object = None) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
def test_two_api_processes_patching_one_entity_lose_no_update(tmp_path: Path):
    env = {"TERRITOIRES_DATABASE_URL": postgres.fresh_database()}
    with platform(tmp_path / "one", workers=1, env=env) as (one, _), \
            platform(tmp_path / "two", workers=1, env=env) as (two, _):
        names = [f"counter{i}" for i in range(40)]
        status, _, _ = call(one, "POST", "/ngsi-ld/v1/entities", {"id": ENTITY, "type": "Streetlight"})
        assert status == 201

        def patch(i: int) -> int:
            base = one if i % 2 else two  # half the writes through each process
            return call(base, "PATCH", f"/ngsi-ld/v1/entities/{ENTITY}",
                        {names[i]: {"type": "Property", "value": i}})[0]

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(patch, range(len(names)))) == {204}
        _, _, body = call(one, "GET", f"/ngsi-ld/v1/entities/{ENTITY}?options=keyValues")
        entity = json.loads(body)
        assert {name: entity.get(name) for name in names} == {name: i for i, name in enumerate(names)}


@pytest.mark.skipif(not can_start_postgres(), reason="PostgreSQL server binaries not installed")
def test_a_database_crash_mid_batch_is_a_503_then_service_resumes_without_partial_batch(tmp_path: Path):
    cluster = Cluster()
    try:
        env = {"TERRITOIRES_DATABASE_URL": cluster.url, "TERRITOIRES_DATABASE_UPGRADE": "1"}
        with platform(tmp_path / "var", workers=1, env=env) as (base, _):
            batch = [{"id": f"urn:ngsi-ld:Streetlight:{n}", "type": "Streetlight",
                      "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}}}
                     for n in range(2000)]
            # Hold the geometries table so the batch stops inside its transaction, entities
            # written and geometries not yet: then crash the database under it.
            blocker = psycopg.connect(cluster.url)
            blocker.execute("LOCK TABLE geometries IN ACCESS EXCLUSIVE MODE")
            answer: list[tuple[int, Message, bytes]] = []
            writer = threading.Thread(target=lambda: answer.append(
                call(base, "POST", "/ngsi-ld/v1/entityOperations/upsert", batch)))
            writer.start()
            _wait_for_a_blocked_writer(cluster.url)
            cluster.kill()
            writer.join(timeout=30)
            status, headers, body = answer[0]
            assert status == 503, body
            assert int(headers["Retry-After"]) > 0
            assert json.loads(body)["type"].endswith("InternalError")

            status, _, _ = call(base, "GET", "/ngsi-ld/v1/entities?type=Streetlight&limit=1")
            assert status == 503  # still down: answered, not hung
            cluster.start()
            status, headers, body = call(base, "GET", "/ngsi-ld/v1/entities?type=Streetlight&count=true&limit=1")
            assert status == 200, body  # the same server process, reconnected by itself
            assert headers["NGSILD-Results-Count"] == "0"  # nothing of the interrupted batch
            assert call(base, "POST", "/ngsi-ld/v1/entityOperations/upsert", batch)[0] == 201
            _, headers, _ = call(base, "GET", "/ngsi-ld/v1/entities?type=Streetlight&count=true&limit=1")
            assert headers["NGSILD-Results-Count"] == "2000"
    finally:
        cluster.remove()


def _wait_for_a_blocked_writer(url: str) -> None:
    deadline = time.monotonic() + 20
    with psycopg.connect(url, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO geometries%'"
            ).fetchone()[0]
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the batch never reached the locked table")
