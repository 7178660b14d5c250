"""The change feed: what each write did to each entity, handed to observers inside the write.

Observers (the temporal recorder, the subscription matcher) run inside the write session that
made the change, before it commits: what they write (history instances, outbox rows) commits
or rolls back together with the change itself, so no change is recorded that did not happen
and no change happens without being recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from territoires.ngsild.model import Entity, Instance
from territoires.store.port import TenantSession


class Change(NamedTuple):  # a tuple: one per entity written
    """One entity changed by one operation. ``old`` is None for a creation, ``new`` None for a
    deletion; ``at`` is the operation's instant, the ``modifiedAt`` it stamped on what it changed.

    ``old`` is the whole stored entity, except after a replacing upsert when no observer asked
    for the previous state (``ChangeObserver.needs_previous``): then it holds only ``id`` and
    ``createdAt``."""

    old: Entity | None
    new: Entity | None
    at: str
    # Measures observed before the entity's current instances (``updates.merge_measures``), or the
    # Scope's evolution given to a temporal creation (``SCOPE`` instances), as (attribute,
    # instance): they join its history as given, without changing the entity.
    late: tuple[tuple[str, Instance], ...] = ()

    @property
    def entity_id(self) -> str:
        return (self.new or self.old or {})["id"]


class ChangeObserver(Protocol):
    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        """Whether ``observe`` needs the whole previous state of entities that are replaced
        whole (it costs one more read per batch)."""

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        """Record what ``changes`` imply, through ``session`` (inside the write, before commit)."""


class ChangeFeed:
    """The observers of every entity write, called in order."""

    def __init__(self, observers: Sequence[ChangeObserver] = ()) -> None:
        self.observers = list(observers)

    def add(self, observer: ChangeObserver) -> None:
        self.observers.append(observer)

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return any(observer.needs_previous(tenant, session) for observer in self.observers)

    def publish(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        if changes:
            for observer in self.observers:
                observer.observe(tenant, session, changes)
