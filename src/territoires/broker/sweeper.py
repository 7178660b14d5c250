"""A chore a ``territoires serve`` runs by itself at a steady pace: at start, then every so many
seconds, in a thread of its own (one per serve, whatever its number of workers). A failed round
(a database away) is logged and tried again at the next one; the thread never dies of it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("territoires.sweeper")


class Sweeper:
    def __init__(self, name: str, sweep: Callable[[], object], interval: float) -> None:
        self.name = name
        self.sweep = sweep
        self.interval = interval
        self.sweeps = 0  # rounds done, failed or not
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"territoires-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:
                log.exception("%s failed; trying again in %.0f s", self.name, self.interval)
            self.sweeps += 1
            self._stop.wait(self.interval)
