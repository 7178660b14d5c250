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
from bench.scenarios import MANY_CLIENTS, Bench, Loaded, retrieve_requests
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
    """Two brokers started alike on the loaded store, one after the other (so that both start
    with cold caches): authentication off, then on with every request carrying a key."""
    loaded = bench.streetlights()
    token = operator_key(bench)
    plain = _retrieve_rate(bench, loaded, "0", retrieve_requests(bench))
    keyed = _retrieve_rate(bench, loaded, "1", retrieve_requests(bench, {"Authorization": f"Bearer {token}"}))
    return [Row(f"retrieve with an API key, {MANY_CLIENTS} clients (limit: authentication off)", keyed,
                "requests/s", plain, target_ratio=TARGET_RATIO)]


def _retrieve_rate(bench: Bench, loaded: Loaded, auth: str, requests: list[bytes]) -> float:
    run = bench.run
    server = start_broker(loaded.data_dir, run.workers, run.work_dir, run.broker_command,
                          env={**loaded.env, "TERRITOIRES_AUTH": auth, "TERRITOIRES_DATABASE_UPGRADE": "0"})
    try:
        label = "retrieve with an API key" if auth == "1" else "retrieve, authentication off"
        return bench.measure(label, server, ngsi.cycling(requests), MANY_CLIENTS, ngsi.FOUND).rate
    finally:
        server.stop()
