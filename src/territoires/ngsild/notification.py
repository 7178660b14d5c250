"""Notifications as pure code (ETSI GS CIM 009 v1.8, clauses 5.3.1 Notification, 5.11 and
the notification parameters of 5.2.14): what a change did to an entity, the entity a
notification carries, and how that entity and the notification are written.

A *notified entity* is the internal form of ``ngsild.model`` plus marks of what the change did,
kept as JSON in the outbox and rendered when the notification is sent:
- ``"deletedAt"`` on the entity: the entity was deleted at that instant;
- on an instance, ``"deletedAt"``: this instance was deleted (its content is then the NGSI-LD
  Null), and ``"previous"``: the content it had before the change (``showChanges``).

Written forms (what the ETSI conformance suite expects, where the clause leaves a choice):
- an attribute deleted by the change appears with the NGSI-LD Null as content
  (``{"@none": "urn:ngsi-ld:null"}`` for a LanguageProperty), ``deletedAt`` with ``sysAttrs``;
- an attribute whose instances are all deleted at once (``deleteAll``) appears as one deleted
  attribute, without datasetId;
- previous content appears as ``previousValue``, ``previousObject``, ``previousLanguageMap``,
  ``previousVocab``, ``previousJson``, ``previousValueList`` or ``previousObjectList``, never in
  keyValues (which has no place for it); an attribute created by the change has none;
- a deleted entity is its id, type and ``deletedAt`` (``createdAt``/``modifiedAt`` with
  ``sysAttrs``), with the deleted attributes asked for (watched ones for attributeDeleted, all
  of them with showChanges).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .context import Context
from .model import MAIN_MEMBER, NGSI_LD_NULL, Entity, Instance
from .render import render_entity

__all__ = ["AttributeChanges", "attribute_changes", "notification", "notified_entity", "render_notified"]

# Marks of a notified entity (see the module docstring).
DELETED_AT = "deletedAt"
PREVIOUS = "previous"
_MARKS = (DELETED_AT, PREVIOUS)
_PREVIOUS_MEMBER = {main: "previous" + main[0].upper() + main[1:] for main in MAIN_MEMBER.values()}
# What a deleted instance shows in keyValues, by attribute type (as render.py simplifies them).
_WRAPPED = {"LanguageProperty": "languageMap", "VocabProperty": "vocab", "JsonProperty": "json"}


@dataclass(frozen=True)
class AttributeChanges:
    """What one change did to the attributes of an entity (expanded names).

    ``created``: attributes it did not have; ``updated``: attributes it had and whose instances
    changed in any way (a new value, or the same value written again: its modifiedAt moved);
    ``removed``: the instances it lost, by attribute (all of them for an attribute deleted
    whole). An update whose previous state is unknown counts every attribute as updated."""

    created: frozenset[str]
    updated: frozenset[str]
    removed: dict[str, list[Instance]]

    @property
    def deleted(self) -> frozenset[str]:
        return frozenset(self.removed)


def attribute_changes(old: Entity | None, new: Entity | None) -> AttributeChanges:
    """Compare an entity before and after a change (None: it did not exist / no longer does)."""
    if new is None:
        return AttributeChanges(frozenset(), frozenset(), dict((old or {}).get("attrs", {})))
    if old is None:
        return AttributeChanges(frozenset(new["attrs"]), frozenset(), {})
    if "attrs" not in old:  # a replacement whose previous state was not read
        return AttributeChanges(frozenset(), frozenset(new["attrs"]), {})
    before, after = old["attrs"], new["attrs"]
    created = frozenset(name for name in after if name not in before)
    updated = frozenset(name for name, instances in after.items()
                        if name in before and before[name] is not instances and before[name] != instances)
    removed: dict[str, list[Instance]] = {}
    for name, instances in before.items():
        kept = {i.get("datasetId") for i in after.get(name, ())}
        gone = [i for i in instances if i.get("datasetId") not in kept]
        if gone:
            removed[name] = gone
    return AttributeChanges(created, updated, removed)


def notified_entity(
    old: Entity | None, new: Entity | None, changes: AttributeChanges, *, at: str, previous: bool,
    deleted_shown: Collection[str] | None = None,
) -> dict[str, Any]:
    """The entity a notification carries for one change, marked with what the change did.

    After a creation or an update: the entity as it now is, plus each removed instance as a
    deleted one; with ``previous``, updated and removed instances carry their previous content.
    After a deletion: its identity and ``deletedAt``, plus as deleted instances the attributes
    named in ``deleted_shown`` (None: all of them)."""
    if new is None:
        assert old is not None
        entity: dict[str, Any] = {k: old[k] for k in ("id", "type", "scope", "createdAt", "modifiedAt") if k in old}
        entity[DELETED_AT] = at
        names = old["attrs"] if deleted_shown is None else [n for n in old["attrs"] if n in deleted_shown]
        entity["attrs"] = {name: [_deleted(i, at, previous) for i in old["attrs"][name]] for name in names}
        return entity
    attrs = dict(new["attrs"])
    if previous and old is not None and "attrs" in old:
        for name in changes.updated:
            before = {i.get("datasetId"): i for i in old["attrs"][name]}
            attrs[name] = [_with_previous(i, before.get(i.get("datasetId"))) for i in attrs[name]]
    for name, gone in changes.removed.items():
        if name not in attrs and len(gone) > 1:
            # Every instance deleted at once (deleteAll): the attribute is shown deleted as a whole.
            whole = next((i for i in gone if "datasetId" not in i), gone[0])
            gone = [{k: v for k, v in whole.items() if k != "datasetId"}]
        attrs[name] = [*attrs.get(name, ()), *(_deleted(i, at, previous) for i in gone)]
    return {**new, "attrs": attrs}


def _content(instance: Instance) -> Any:
    return instance[MAIN_MEMBER[instance["type"]]]


def _with_previous(instance: Instance, before: Instance | None) -> Instance:
    if before is None or before["type"] != instance["type"]:
        return instance
    return {**instance, PREVIOUS: _content(before)}


def _deleted(instance: Instance, at: str, previous: bool) -> Instance:
    kind = instance["type"]
    null: Any = {"@none": NGSI_LD_NULL} if kind == "LanguageProperty" else NGSI_LD_NULL
    marked = {"type": kind, MAIN_MEMBER[kind]: null, DELETED_AT: at}
    for member in ("datasetId", "createdAt", "modifiedAt"):
        if member in instance:
            marked[member] = instance[member]
    if previous:
        marked[PREVIOUS] = _content(instance)
    return marked


# ---- rendering ---------------------------------------------------------------------------------


def render_notified(
    entity: dict[str, Any],
    ctx: Context,
    *,
    form: str = "normalized",
    sys_attrs: bool = False,
    attrs: frozenset[str] | None = None,
    pick: frozenset[str] | None = None,
    omit: frozenset[str] | None = None,
    lang: str | None = None,
    dataset_id: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A notified entity written as ``render.render_entity`` writes entities (same options),
    with its marks shown as the module docstring says."""
    plain_attrs = {name: [_plain(i) for i in instances] for name, instances in entity["attrs"].items()}
    plain = {k: v for k, v in entity.items() if k not in (DELETED_AT, "attrs")}
    plain["attrs"] = plain_attrs
    options = {"sys_attrs": sys_attrs, "lang": lang}
    out = render_entity(plain, ctx, form=form, attrs=attrs, pick=pick, omit=omit, dataset_id=dataset_id, **options)
    if DELETED_AT in entity and (pick is None or "deletedAt" in pick) and (omit is None or "deletedAt" not in omit):
        out["deletedAt"] = entity[DELETED_AT]
    for name, instances in entity["attrs"].items():
        key = ctx.compact(name)
        if key not in out or not any(mark in i for i in instances for mark in _MARKS):
            continue
        if dataset_id is not None:
            instances = [i for i in instances if i.get("datasetId", "@none") in dataset_id]
        items = [_marked(name, i, ctx, form, options) for i in instances]
        if form == "keyValues":
            single = len(instances) == 1 and "datasetId" not in instances[0]
            out[key] = items[0] if single else {"dataset": {i.get("datasetId", "@none"): item
                                                            for i, item in zip(instances, items, strict=True)}}
        else:
            out[key] = items[0] if len(items) == 1 else items
    return out


def _plain(instance: Instance) -> Instance:
    if DELETED_AT in instance or PREVIOUS in instance:
        return {k: v for k, v in instance.items() if k not in _MARKS}
    return instance


def _marked(name: str, instance: Instance, ctx: Context, form: str, options: dict[str, Any]) -> Any:
    """One instance of an attribute that has marks, in ``form`` (concise instances with marks
    are written as normalized ones, which concise readers accept)."""
    kind = instance["type"]
    main = MAIN_MEMBER[kind]
    if DELETED_AT in instance:
        if form == "keyValues":
            return {_WRAPPED[kind]: instance[main]} if kind in _WRAPPED else instance[main]
        out: dict[str, Any] = {"type": kind, main: instance[main]}
        if "datasetId" in instance:
            out["datasetId"] = instance["datasetId"]
        if options["sys_attrs"]:
            out.update({k: instance[k] for k in ("createdAt", "modifiedAt", DELETED_AT) if k in instance})
    elif form == "keyValues":  # placed under its datasetId by the caller
        out = _alone(name, {k: v for k, v in _plain(instance).items() if k != "datasetId"}, ctx, form, options)
    else:
        out = _alone(name, _plain(instance), ctx, "normalized", options)
    if PREVIOUS in instance and form != "keyValues":
        before = _alone(name, {"type": kind, main: instance[PREVIOUS]}, ctx, "normalized", {**options, "lang": None})
        out[_PREVIOUS_MEMBER[main]] = before[main]
    return out


def _alone(name: str, instance: Instance, ctx: Context, form: str, options: dict[str, Any]) -> Any:
    """One instance rendered by itself (as the only instance of its attribute)."""
    rendered = render_entity({"id": "", "type": [], "attrs": {name: [instance]}}, ctx, form=form, **options)
    return rendered[ctx.compact(name)]


def notification(
    notification_id: str, subscription_id: str, notified_at: str, data: Any, trigger: str
) -> dict[str, Any]:
    """The Notification data type (clause 5.3.1): ``data`` the written entities (or a GeoJSON
    FeatureCollection), ``trigger`` the triggerReason (empty: none, as for periodic ones)."""
    body: dict[str, Any] = {"id": notification_id, "type": "Notification", "subscriptionId": subscription_id,
                            "notifiedAt": notified_at, "data": data}
    if trigger:
        body["triggerReason"] = trigger
    return body
