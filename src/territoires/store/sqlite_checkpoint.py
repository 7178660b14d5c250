"""WAL checkpoints off the writers' path.

In WAL mode with ``synchronous=NORMAL`` a commit only appends to the WAL; the fsyncs happen
when the WAL is copied back into the database file (a checkpoint). SQLite's automatic
checkpoint runs inside the committing writer, under the tenant's write lock, so every other
writer of the tenant waits for those fsyncs. Here a daemon thread of each process checkpoints
the tenants written recently, on connections of its own and in PASSIVE mode, which never
waits for readers or writers; writers' connections keep an automatic checkpoint only as a
backstop against an unbounded WAL (``BACKSTOP_PAGES``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("territoires.store")

# Writers checkpoint themselves only past this WAL size (pages of 4 KiB: about 100 MB).
BACKSTOP_PAGES = 25_000
# After a checkpoint lets the WAL start over, its file is cut back to this size.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


class Checkpointer:
    """Checkpoint recently written database files every ``interval`` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._dirty: set[Path] = set()
        self._connections: dict[Path, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def written(self, path: Path) -> None:
        """Note a commit to ``path``; it is checkpointed within ``interval``."""
        with self._lock:
            self._dirty.add(path)
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self._checkpoint_dirty()

    def _checkpoint_dirty(self) -> None:
        with self._lock:
            paths, self._dirty = self._dirty, set()
        for path in paths:
            try:
                self._checkpoint(path)
            except sqlite3.Error as error:  # busy or locked: try again at the next pass
                log.debug("checkpoint of %s postponed: %s", path, error)
                with self._lock:
                    self._dirty.add(path)

    def _checkpoint(self, path: Path) -> None:
        conn = self._connections.get(path)
        if not path.exists():  # a deleted tenant
            if conn is not None:
                conn.close()
                del self._connections[path]
            return
        if conn is None:
            conn = self._connections[path] = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        """Stop the thread after a last checkpoint of what was written."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self._checkpoint_dirty()
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()
