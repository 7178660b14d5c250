"""Key look-ups of a write on PostgreSQL probe their index, so that a write costs the same with
a thousand rows stored as with millions.

Row-level security lets only leakproof expressions into an index condition: a key compared
with ``j->>0`` of a JSON parameter is matched against every row of the tenant. For each write
statement that looks a batch of keys up in a tenant's table, the planner is told to avoid
every other way (sequential, bitmap, hash and merge plans), so that a plan without the keys in
its index condition means the index cannot take them."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import psycopg
import pytest

from territoires.store.port import Device, Frame, HistoryInstance
from territoires.store.postgres import UPDATE_FEW, PostgresStore
from territoires.store.postgres_devices import DEVICES_OF, STORED_FRAMES
from territoires.store.postgres_temporal import SERIES
from tests import postgres
from tests.contract.conftest import NOW, streetlight

pytestmark = pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
POWER = "https://uri.etsi.org/ngsi-ld/default-context/powerState"
STREETLIGHT = "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"
STORED = 2_000


@pytest.fixture(scope="module")
def store() -> Iterator[PostgresStore]:
    postgres.fresh_database()
    opened = PostgresStore(postgres.URL)
    with opened.session("", write=True) as session:
        lights = [streetlight(n) for n in range(STORED)]
        session.replace(lights)
        instance = {"type": "Property", "value": "on", "createdAt": NOW, "modifiedAt": NOW}
        session.append_history([HistoryInstance(light["id"], POWER, instance, NOW) for light in lights])
        session.record_frames([Frame(f"70B3D57E{n:08X}", 1, NOW) for n in range(STORED)])
    for n in range(STORED):
        opened.put_device(Device(f"70B3D57E{n:08X}", "", f"urn:ngsi-ld:Streetlight:{n:04d}", STREETLIGHT, "streetlight"))
    with psycopg.connect(postgres.URL, autocommit=True) as conn:
        conn.execute("ANALYZE entities, history_series, frames, devices")
    yield opened
    opened.close()


def plan(statement: str, payload: object) -> str:
    """The plan of ``statement`` for the JSON ``payload``, run as the application on the default
    tenant, with index probes as the planner's only way in."""
    with psycopg.connect(postgres.URL) as conn:
        conn.execute("SELECT set_config('territoires.tenant', '', false)")
        for method in ("seqscan", "bitmapscan", "hashjoin", "mergejoin"):
            conn.execute(f"SET enable_{method} = off")
        rows = conn.execute(f"EXPLAIN {statement}", (orjson.dumps(payload).decode(),)).fetchall()
        conn.rollback()
    return "\n".join(row[0] for row in rows)


def test_the_series_of_a_write_are_probed_one_key_at_a_time(store: PostgresStore) -> None:
    keys = [["urn:ngsi-ld:Streetlight:0001", POWER, ""], ["urn:ngsi-ld:Streetlight:9999", POWER, ""]]
    shown = plan(SERIES, keys)
    assert "(entity = w.entity) AND (attr = w.attr) AND (dataset = w.dataset)" in shown, shown


def test_replaced_entities_are_found_by_their_row_number(store: PostgresStore) -> None:
    shown = plan(UPDATE_FEW, [[1, 1, {}], [2, 1, {}]])
    assert "Index Cond" in shown and "(rid = j.rid)" in shown, shown


def test_a_batch_of_uplinks_probes_the_frames_by_primary_key(store: PostgresStore) -> None:
    shown = plan(STORED_FRAMES, [["70B3D57E00000001", 1], ["70B3D57E00000001", 2]])
    assert "(dev_eui = b.dev_eui) AND (f_cnt = b.f_cnt)" in shown, shown
    with store.session("", write=True) as session:
        assert session.record_frames([Frame("70B3D57E00000001", 1, NOW), Frame("70B3D57E00000001", 2, NOW)]) \
            == [False, True]


def test_a_batch_of_uplinks_finds_its_devices_by_a_join(store: PostgresStore) -> None:
    # With "= ANY" of them, PostgreSQL may read a small registry whole and compare each device
    # with each DevEUI in turn.
    euis = [f"70B3D57E{n:08X}" for n in range(0, STORED, 2)]
    with psycopg.connect(postgres.URL) as conn:
        shown = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {DEVICES_OF}", (orjson.dumps(euis).decode(),)))
        found = conn.execute(DEVICES_OF, (orjson.dumps([*euis[:3], "0000000000000000"]).decode(),)).fetchall()
    assert "ANY" not in shown, shown
    assert sorted(row[0] for row in found) == euis[:3]
