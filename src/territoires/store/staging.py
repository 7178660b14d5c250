"""What a write prepares before it takes its tenant's write lock.

A tenant's writes queue for one lock, and whatever a write computes while holding it, every
other writer of the tenant waits for, on every process. Yet the stored documents, the index
rows and the history rows of the entities a write stores depend on those entities alone. So
the service hands the entities to ``Store.stage`` first, outside the lock, and gives what it
returns to the write session (``TenantSession.use_staged``), which finds them ready.

A session uses what was staged for an object only if it writes that very object (identity,
not equality), and computes anything else as it always does: staging changes where the time
is spent, never what is written. A staged entity, and its instances, must not change after
staging. Staging never fails: what cannot be prepared (an entity that its write will refuse)
is left to the write, which answers it as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from territoires.ngsild.errors import NgsiLdError
from territoires.ngsild.model import Entity, Instance
from territoires.store.port import HistoryInstance
from territoires.store.temporal_common import RowValues, row_values

# A backend's own preparation of one entity (its documents and index rows, in its own form).
EntityParts = Callable[[Entity], Any]


class Staged:
    """Rows prepared for some entities: the history row of each of their instances, recorded at
    the instant it was stamped with (its ``modifiedAt``: that of the creation or replacement
    writing it), and the backend's own parts of each entity."""

    __slots__ = ("_entities", "_rows")

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Instance, str, RowValues]] = {}  # by id() of the instance
        self._entities: dict[int, tuple[Entity, Any]] = {}  # by id() of the entity

    @classmethod
    def of(cls, entities: Sequence[Entity], entity_parts: EntityParts | None = None) -> Staged:
        staged = cls()
        for entity in entities:
            try:
                staged._add(entity, entity_parts)
            except NgsiLdError:  # the write refuses it, and says why
                continue
        return staged

    @classmethod
    def combined(cls, parts: Iterable[object]) -> Staged:
        """One lookup over what several calls staged (the creations of one round); anything but
        a ``Staged`` (what a backend that stages nothing returns) is passed over."""
        staged = cls()
        for part in parts:
            if isinstance(part, Staged):
                staged._rows.update(part._rows)
                staged._entities.update(part._entities)
        return staged

    def _add(self, entity: Entity, entity_parts: EntityParts | None) -> None:
        rows = {}  # kept only once the whole entity is prepared
        for attr, instances in entity.get("attrs", {}).items():
            for instance in instances:
                at = instance.get("modifiedAt")
                if at is not None:
                    rows[id(instance)] = (instance, at, row_values(HistoryInstance(entity["id"], attr, instance, at)))
        parts = entity_parts(entity) if entity_parts is not None else None
        self._rows.update(rows)
        if parts is not None:
            self._entities[id(entity)] = (entity, parts)

    def history_rows(self, items: Sequence[HistoryInstance]) -> list[RowValues]:
        """The row recording each item: the one staged for it, else computed now."""
        if not self._rows:  # a write that staged nothing (a measure, an update)
            return [row_values(item) for item in items]
        return [self.row(item) or row_values(item) for item in items]

    def row(self, item: HistoryInstance) -> RowValues | None:
        """The staged row recording ``item``, if it is the one staged."""
        found = self._rows.get(id(item.instance))
        if (found is None or found[0] is not item.instance or found[1] != item.modified_at
                or item.deleted_at is not None):
            return None
        return found[2]

    def parts(self, entity: Entity) -> Any:
        """The backend's parts staged for this very entity, or None."""
        found = self._entities.get(id(entity))
        return found[1] if found is not None and found[0] is entity else None
