"""What authorisation costs: the core benchmark's single retrieves, each carrying an API key, on a
broker with authentication on, against the same retrieves on the same loaded store with
authentication off, measured in the same run (issue 6: at most 10 % fewer requests/s).

    rows = authorisation(bench)     # listed in bench/catalog.py
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench import ngsi
from bench.report import Row
from bench.scenarios import MANY_CLIENTS, Bench, retrieve_requests
from bench.server import start_broker

TARGET_RATIO = 0.9


def operator_key(bench: Bench) -> str:
    """A new operator API key for the loaded store, from the command a person would type."""
    loaded = bench.streetlights()
    done = subprocess.run(
        [sys.executable, "-m", "territoires.cli", "--data-dir", str(loaded.data_dir), "keys", "create",
         "--role", "operator", "--name", "bench"],
        env={**os.environ, **loaded.env}, capture_output=True, text=True, check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def authorisation(bench: Bench) -> list[Row]:
    loaded = bench.streetlights()
    run = bench.run
    open_result = bench.measure("retrieve, authentication off", loaded.server, ngsi.cycling(retrieve_requests(bench)),
                                MANY_CLIENTS, ngsi.FOUND)
    keyed = retrieve_requests(bench, {"Authorization": f"Bearer {operator_key(bench)}"})
    server = start_broker(loaded.data_dir, run.workers, run.work_dir, run.broker_command,
                          env={**loaded.env, "TERRITOIRES_AUTH": "1", "TERRITOIRES_DATABASE_UPGRADE": "0"})
    try:
        result = bench.measure("retrieve with an API key", server, ngsi.cycling(keyed), MANY_CLIENTS, ngsi.FOUND)
    finally:
        server.stop()
    return [Row(f"retrieve with an API key, {MANY_CLIENTS} clients (limit: authentication off)", result.rate,
                "requests/s", open_result.rate, target_ratio=TARGET_RATIO)]
