"""Instructions per uplink of the ingestion path, counted by Valgrind's callgrind.

On a shared machine the same code runs a third faster or slower from one hour to the next;
the number of instructions it executes does not change. This counts those of
``Bridge.handle`` (parse, look up, decode, merge, index, record, audit, commit) for the
simulated streetlight uplinks of ``bench.ingest``, in this process, on a new SQLite store:
two runs under callgrind that build the same uplinks and differ only by ``COUNT`` handled ones;
the difference divided by ``COUNT`` is the cost of one uplink, set-up and imports cancelling out.
A change that saves instructions here saves time on every machine; one that saves system calls
or disk pages (a smaller commit) shows in ``make bench`` only.

    .venv/bin/python -m bench.instructions           (needs Valgrind: apt-get install valgrind)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

WARM = 1000  # uplinks handled first in both runs: each device's entity is created by its first
COUNT = 5000  # uplinks handled by the second run only
BATCH = 2500  # uplinks per Bridge.handle, as a consumer takes them from a busy MQTT session


def handle(extra: int) -> None:
    """Handle ``WARM + extra`` of ``WARM + COUNT`` uplinks built, in batches."""
    from bench.ingest import _register_devices, _uplinks
    from territoires.broker import open_broker
    from territoires.config import Settings
    from territoires.ingest.bridge import Bridge
    from territoires.ingest.mqtt_wire import Message
    from territoires.runtime import settle_heap

    with tempfile.TemporaryDirectory() as work:
        settings = Settings(data_dir=Path(work))
        _register_devices(settings, 1)  # bench.ingest's 1,000 devices, in the default tenant
        broker = open_broker(settings)
        messages = [Message(topic, body, n % 65535 + 1, 1, 0) for n, (topic, body) in enumerate(_uplinks(WARM + COUNT))]
        settle_heap()  # as `territoires ingest` does once started
        bridge = Bridge(broker)
        for start in range(0, WARM + extra, BATCH):
            bridge.handle(messages[start:min(start + BATCH, WARM + extra)])
        broker.close()


def _instructions(extra: int) -> int:
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                          "-m", "bench.instructions", "--handle", str(extra)],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return int(re.search(r"Collected : (\d+)", run.stderr)[1])


def main() -> None:
    if sys.argv[1:2] == ["--handle"]:
        handle(int(sys.argv[2]))
        return
    with ThreadPoolExecutor(2) as pool:
        base, more = pool.map(_instructions, (0, COUNT))
    print(f"{(more - base) / COUNT:,.0f} instructions per uplink (streetlight, 5 measures, SQLite, "
          f"batches of {BATCH:,}; callgrind)")


if __name__ == "__main__":
    main()
