"""Workers starting together on a new data folder, as ``territoires serve`` starts them: every
one opens the registry and the default tenant's file that none of them has made yet."""

from __future__ import annotations

import threading
from pathlib import Path

from territoires.store.port import DEFAULT_TENANT
from territoires.store.sqlite import SqliteStore

WORKERS = 12
STARTS = 150  # each race is lost rarely: enough new folders that one would be


def _lamp(n: int) -> dict:
    return {"id": f"urn:ngsi-ld:Streetlight:{n}", "type": ["https://smartdatamodels.org/dataModel.Streetlight"],
            "createdAt": "2026-11-30T10:00:00Z", "modifiedAt": "2026-11-30T10:00:00Z", "attrs": {}}


def _start_together(folder: Path) -> list[BaseException]:
    barrier, failures = threading.Barrier(WORKERS), []

    def worker(n: int) -> None:
        barrier.wait()
        try:
            store = SqliteStore(folder)
            with store.session(DEFAULT_TENANT, write=True) as session:
                session.insert([_lamp(n)])
            store.close()
        except BaseException as error:  # noqa: BLE001 - every failure is the finding
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_workers_opening_a_new_data_folder_together_all_succeed(tmp_path: Path) -> None:
    for start in range(STARTS):
        folder = tmp_path / str(start)
        assert _start_together(folder) == []
        store = SqliteStore(folder)
        with store.session(DEFAULT_TENANT) as session:
            assert session.entity_count() == WORKERS
        store.close()
