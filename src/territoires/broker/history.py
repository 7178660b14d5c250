"""The temporal evolution recorder: every attribute change becomes a history instance,
written through the change's own write session so that it commits with the change.

What an operation touched is what it stamped: an attribute instance of the new entity whose
``modifiedAt`` is the operation's instant; measures that arrived late (``Change.late``) are
recorded as they are, stamped with that instant. An attribute instance present before and absent
after is recorded as deleted (value NGSI-LD Null, ``deletedAt`` the operation's instant); this
needs the whole previous entity, which every operation gives except a replacing upsert (the
recorder does not ask for it: ``needs_previous`` is False, to spare batch upserts a read), so
an attribute that a replacing upsert drops gets no deletion instance.

The Scope is recorded the same way, as the instances of a Property named ``SCOPE`` (clause
4.5.6): each change of it, observed at the change's instant (a copy of ``modifiedAt``), and its
removal as a deletion instance; unless the change brings the Scope's evolution itself (a
temporal creation given it, in ``Change.late``).

Deleting an entity deletes its history, unless the broker is configured to keep it
(``keep_deleted_history``): then its identity is kept too, and temporal queries naming its id
still answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from territoires.broker.changes import Change
from territoires.ngsild.entity import SCOPE
from territoires.ngsild.model import MAIN_MEMBER, NGSI_LD_NULL, Entity, Instance
from territoires.store.port import HistoryInstance, TenantSession


class HistoryRecorder:
    """A ChangeObserver (``broker.changes``) writing the history of every change."""

    def __init__(self, keep_deleted: bool = False) -> None:
        self.keep_deleted = keep_deleted

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return False

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        recorded: list[HistoryInstance] = []
        gone: list[Entity] = []
        for change in changes:
            if change.new is None:
                if change.old is not None:
                    gone.append(change.old)
                continue
            recorded.extend(touched(change.new, change.at))
            if not any(attr == SCOPE for attr, _ in change.late):  # else the Scope's evolution is given
                recorded.extend(scope_change(change.old, change.new, change.at))
            recorded.extend(HistoryInstance(change.new["id"], attr, {**instance, "createdAt": change.at,
                                                                     "modifiedAt": change.at}, change.at)
                            for attr, instance in change.late)
            if change.old is not None and "attrs" in change.old:
                recorded.extend(dropped(change.old, change.new, change.at))
        if gone:
            if self.keep_deleted:
                session.keep_deleted_entities(gone, changes[0].at)
            else:
                for entity in gone:
                    session.delete_history(entity["id"])
        session.append_history(recorded)


def touched(entity: Entity, at: str) -> list[HistoryInstance]:
    """The attribute instances an operation at ``at`` wrote (those it stamped)."""
    return [
        HistoryInstance(entity["id"], attr, instance, at)
        for attr, instances in entity.get("attrs", {}).items()
        for instance in instances
        if instance.get("modifiedAt") == at
    ]


def dropped(old: Entity, new: Entity, at: str) -> list[HistoryInstance]:
    """Deletion instances of the attribute instances of ``old`` that ``new`` no longer has."""
    after = new.get("attrs", {})
    gone: list[HistoryInstance] = []
    for attr, instances in old["attrs"].items():
        now = after.get(attr, ())
        if now is instances:  # untouched by the operation
            continue
        if len(now) == 1 and len(instances) == 1 and now[0].get("datasetId") == instances[0].get("datasetId"):
            continue  # the usual case (a measure, a merge): the attribute's one instance is still there
        kept = {i.get("datasetId") for i in now}
        gone.extend(HistoryInstance(old["id"], attr, deletion(instance, at), at, deleted_at=at)
                    for instance in instances if instance.get("datasetId") not in kept)
    return gone


def scope_change(old: Entity | None, new: Entity, at: str) -> list[HistoryInstance]:
    """The instance recording the change of the entity's Scope at ``at``, if it changed (its
    removal is known only when ``old`` is the whole previous entity)."""
    before, after = (old or {}).get("scope"), new.get("scope")
    if after == before:
        return []
    if after:
        value = after[0] if len(after) == 1 else list(after)  # an array for several Scopes only (clause 4.18)
        instance = {"type": "Property", "value": value, "observedAt": at, "createdAt": at, "modifiedAt": at}
        return [HistoryInstance(new["id"], SCOPE, instance, at)]
    if old is None or "attrs" not in old:
        return []
    return [HistoryInstance(new["id"], SCOPE, deletion({"type": "Property"}, at), at, deleted_at=at)]


def deletion(instance: Instance, at: str) -> Instance:
    """What records an attribute instance's deletion: its type and datasetId, NGSI-LD Null."""
    kind = instance.get("type", "Property")
    record: Instance = {"type": kind, MAIN_MEMBER.get(kind, "value"): NGSI_LD_NULL}
    if "datasetId" in instance:
        record["datasetId"] = instance["datasetId"]
    record["createdAt"] = instance.get("createdAt", at)
    record["modifiedAt"] = at
    return record
