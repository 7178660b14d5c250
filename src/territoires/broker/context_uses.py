"""Uses of stored @contexts (``numberOfHits``, ``lastUsage``, clause 5.13), counted in memory
and written in batches.

A request naming a stored context compiles it from the process's cache of compiled contexts,
and writing each use as it happens would make every such request, reads included, a write of
its tenant. So each process counts the uses and writes them at most ``FLUSH_AFTER`` seconds
later, before it describes a stored context, and when it stops: the figures another process
shows lag by that second at most."""

from __future__ import annotations

import logging
import threading

from territoires import clock
from territoires.store.port import Store

log = logging.getLogger("territoires.contexts")

FLUSH_AFTER = 1.0  # seconds


class ContextUses:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], tuple[int, str]] = {}  # (tenant, context id) -> (uses, last use)
        self._timer: threading.Timer | None = None

    def used(self, tenant: str, context_id: str) -> None:
        when = clock.now()
        with self._lock:
            uses, _ = self._counts.get((tenant, context_id), (0, when))
            self._counts[(tenant, context_id)] = (uses + 1, when)
            if self._timer is None:
                self._timer = threading.Timer(FLUSH_AFTER, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def forget(self, tenant: str, context_id: str) -> None:
        """Drop the uses not yet written of a context deleted or reloaded: its new copy starts afresh."""
        with self._lock:
            self._counts.pop((tenant, context_id), None)

    def flush(self) -> None:
        """Write the uses counted so far, one write per tenant."""
        with self._lock:
            counts, self._counts = self._counts, {}
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        by_tenant: dict[str, list[tuple[str, int, str]]] = {}
        for (tenant, context_id), (uses, when) in counts.items():
            by_tenant.setdefault(tenant, []).append((context_id, uses, when))
        for tenant, touched in by_tenant.items():
            try:
                with self.store.session(tenant, write=True) as session:
                    for context_id, uses, when in touched:
                        session.touch_context(context_id, when, uses)
            except Exception as error:  # noqa: BLE001 - a tenant deleted meanwhile, a database away: figures, not data
                log.warning("usage des @context du locataire %r non enregistré : %s", tenant, error)
