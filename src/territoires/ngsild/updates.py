"""The NGSI-LD update operations as pure functions on internal entities (clauses 5.5.8, 5.5.12, 5.6).

Each takes the stored entity and what :mod:`entity` parsed from the request, and returns a new
entity for the broker to persist; the given entity is never changed (unchanged instances are
shared between the two).  Instances are matched by (attribute name, datasetId).  The
``modifiedAt`` of the entity and of every written instance becomes ``now``; an instance that
replaces or merges into an existing one keeps that one's ``createdAt``.

Fragments are partial entities from :func:`entity.parse_fragment`: ``{"attrs": {...}}`` plus
optional ``"type"`` (types to add) and ``"scope"`` (a list, or ``NGSI_LD_NULL`` to remove it).

UpdateResult (clause 5.2.18): ``{"updated": [names], "notUpdated": [{"attributeName": name,
"reason": text}]}`` with expanded names, as they are answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .entity import SCOPE, is_null
from .errors import BadRequestData, ResourceNotFound
from .geo import validate_geometry
from .model import MAIN_MEMBER, NGSI_LD_NULL, Entity, Instance

__all__ = [
    "UpdateResult",
    "append_attributes",
    "delete_attribute",
    "merge_entity",
    "merge_measures",
    "partial_update_attribute",
    "replace_attribute",
    "replace_entity",
    "update_attributes",
]

UpdateResult = dict[str, list[Any]]

_MAIN_KEYS = frozenset(MAIN_MEMBER.values())
_SCOPE_NAMES = frozenset({"scope", SCOPE})


# ---- whole-fragment operations -------------------------------------------------------------


def append_attributes(
    entity: Entity, fragment: Entity, *, no_overwrite: bool, now: str
) -> tuple[Entity, UpdateResult]:
    """Append Attributes (clause 5.6.3): every instance of the fragment is added, or replaces
    the one with its datasetId; with ``no_overwrite`` existing instances are kept and reported
    in notUpdated.  Types are added; scope is replaced, or with ``no_overwrite`` extended."""
    new = _copy(entity)
    result = _result()
    for name, instances in fragment["attrs"].items():
        current = _instances(new, name)
        for instance in instances:
            index = _find(current, instance.get("datasetId"))
            if index < 0:
                current.append(_cleaned(instance, now, now))
            elif no_overwrite:
                _not_updated(result, name, instance, "the attribute exists and noOverwrite was asked")
                continue
            else:
                current[index] = _cleaned(instance, current[index].get("createdAt", now), now)
            _updated(result, name)
        _store(new, name, current)
    changed = _add_types(new, fragment)
    if "scope" in fragment:
        _set_scope(new, fragment["scope"], extend=no_overwrite)
        _updated(result, SCOPE)
    return _touched(new, now, changed or bool(result["updated"])), result


def update_attributes(entity: Entity, fragment: Entity, *, now: str) -> tuple[Entity, UpdateResult]:
    """Update Attributes (clauses 5.6.2 and 5.5.8): an instance with the datasetId of one in the
    fragment is replaced as a whole (NGSI-LD Null deletes it); one that does not exist is
    appended.  Types are added; scope is replaced when the entity has one, else notUpdated."""
    new = _copy(entity)
    result = _result()
    for name, instances in fragment["attrs"].items():
        current = _instances(new, name)
        for instance in instances:
            index = _find(current, instance.get("datasetId"))
            if is_null(instance):
                if index < 0:
                    _not_updated(result, name, instance, "there is no such attribute instance to delete")
                    continue
                del current[index]
            elif index < 0:
                current.append(_cleaned(instance, now, now))
            else:
                current[index] = _cleaned(instance, current[index].get("createdAt", now), now)
            _updated(result, name)
        _store(new, name, current)
    changed = _add_types(new, fragment)
    if "scope" in fragment:
        if new.get("scope"):
            _set_scope(new, fragment["scope"], extend=False)
            _updated(result, SCOPE)
        else:
            result["notUpdated"].append({"attributeName": SCOPE, "reason": "the entity has no scope to update"})
    return _touched(new, now, changed or bool(result["updated"])), result


def merge_entity(
    entity: Entity, fragment: Entity, *, now: str, no_overwrite: bool = False, observed_at: str | None = None
) -> tuple[Entity, UpdateResult]:
    """Merge Entity (clauses 5.6.17 and 5.5.12): attributes are merged member by member and
    sub-attributes likewise; a JSON object value is merged with the one stored (RFC 7396); an
    NGSI-LD Null deletes the instance, member or sub-attribute it stands for.  Missing instances
    are added.  ``no_overwrite`` keeps existing instances untouched.  ``observed_at`` (the
    request's common observedAt) updates the observedAt of merged instances that had one."""
    new = _copy(entity)
    result = _result()
    for name, instances in fragment["attrs"].items():
        current = _instances(new, name)
        for instance in instances:
            index = _find(current, instance.get("datasetId"))
            null = is_null(instance)
            if index < 0:
                if null:
                    _not_updated(result, name, instance, "there is no such attribute instance to delete")
                    continue
                current.append(_cleaned(instance, now, now, merge=True))
            elif no_overwrite:
                _not_updated(result, name, instance, "the attribute exists and noOverwrite was asked")
                continue
            elif null:
                del current[index]
            else:
                merged = _merged(current[index], instance, now)
                if observed_at is not None and "observedAt" in current[index] and "observedAt" not in instance:
                    merged["observedAt"] = observed_at
                current[index] = merged
            _updated(result, name)
        _store(new, name, current)
    changed = _add_types(new, fragment)
    if "scope" in fragment:
        _set_scope(new, fragment["scope"], extend=no_overwrite)
        _updated(result, SCOPE)
    if "expiresAt" in fragment and not no_overwrite:
        changed = _set_expiry(new, fragment["expiresAt"]) or changed
    return _touched(new, now, changed or bool(result["updated"])), result


def merge_measures(entity: Entity, fragment: Entity, *, now: str) -> tuple[Entity, list[tuple[str, Instance]]]:
    """``merge_entity`` of a fragment of measures, except the instances observed before the
    entity's current instance of the same attribute and datasetId — a measure arriving late,
    redelivered or taken out of order — which belong to the history only, so that the current
    value never goes back in time. Returns the entity merged (``entity`` itself when every
    measure is late) and the late (attribute, instance) pairs, in the fragment's order.

    The usual measure, one instance updating the attribute's one instance, is merged here
    directly: the bridge applies thousands a second. Anything else goes to ``merge_entity``."""
    attrs = entity["attrs"]
    merged = dict(attrs)
    updated = False
    others: dict[str, list[Instance]] = {}
    late: list[tuple[str, Instance]] = []
    for name, instances in fragment["attrs"].items():
        current = attrs.get(name, ())
        for instance in instances:
            index = _find(current, instance.get("datasetId"))
            if index >= 0 and _observed_before(instance, current[index]):
                late.append((name, instance))
            elif len(instances) == 1 and len(current) == 1 and index == 0 and not is_null(instance):
                merged[name] = [_merged(current[0], instance, now)]
                updated = True
            else:
                others.setdefault(name, []).append(instance)
    if not updated and not others:  # nothing but late measures
        return entity, late
    result = {**entity, "attrs": merged}
    if updated:
        result["modifiedAt"] = now
    if others or "scope" in fragment or any(t not in entity["type"] for t in fragment.get("type", ())):
        result = merge_entity(result, {**fragment, "attrs": others}, now=now)[0]
    return result, late


def expire(entity: Entity, *, now: str) -> Entity | None:
    """Clause 4.22: None when the entity's own ``expiresAt`` has come at ``now``; else the
    entity without its attribute instances whose ``expiresAt`` has come (modified at ``now``),
    or ``entity`` itself when none has."""
    moment = datetime.fromisoformat(now)

    def due(holder: dict[str, Any]) -> bool:
        return "expiresAt" in holder and datetime.fromisoformat(holder["expiresAt"]) <= moment

    if due(entity):
        return None
    if not any(due(i) for instances in entity["attrs"].values() for i in instances):
        return entity
    kept = {name: [i for i in instances if not due(i)] for name, instances in entity["attrs"].items()}
    return _touched({**entity, "attrs": {name: instances for name, instances in kept.items() if instances}}, now, True)


def _observed_before(instance: Instance, current: Instance) -> bool:
    mine, theirs = instance.get("observedAt"), current.get("observedAt")
    if not isinstance(mine, str) or not isinstance(theirs, str):
        return False
    if mine.endswith("Z") and len(mine) == len(theirs) and theirs.endswith("Z"):
        return mine < theirs  # one spelling: text order is time order
    try:
        return datetime.fromisoformat(mine) < datetime.fromisoformat(theirs)
    except ValueError:  # a stored value not in ISO 8601: nothing to compare with
        return False


def replace_entity(old: Entity, new: Entity, *, now: str) -> Entity:
    """Replace Entity (clause 5.6.18): ``new`` (a parsed entity) wholly replaces ``old``; only the
    entity's ``createdAt`` survives (attributes are new attributes)."""
    if new.get("id", old["id"]) != old["id"]:
        raise BadRequestData(f"The entity given has id {new['id']}, not the id of the entity replaced, {old['id']}")
    return {**new, "id": old["id"], "createdAt": old["createdAt"], "modifiedAt": now}


# ---- one-attribute operations --------------------------------------------------------------


def partial_update_attribute(entity: Entity, name: str, fragment: list[Instance], *, now: str) -> Entity:
    """Partial Attribute Update (clauses 5.6.4 and 5.5.8): the members given replace those of the
    instance with the same datasetId, a sub-attribute as a whole; an NGSI-LD Null deletes the
    member, the sub-attribute or, as the content, the instance.  The type cannot change.
    ``fragment`` comes from ``parse_attribute(..., partial=True, allow_null=True)``."""
    _not_scope(name, "partially updated")
    new = _copy(entity)
    current = _existing(new, name)
    for patch in fragment:
        dataset = patch.get("datasetId")
        index = _find(current, dataset)
        if index < 0:
            raise ResourceNotFound(f"The entity {entity['id']} has no instance of {name}{_dataset(dataset)}")
        if is_null(patch):
            del current[index]
            continue
        old = current[index]
        kind = old["type"]
        if patch.get("type", kind) != kind:
            raise BadRequestData(
                f"{name}: the attribute is a {kind}; a partial update cannot make it a {patch['type']}"
            )
        main = MAIN_MEMBER[kind]
        for member in _MAIN_KEYS.intersection(patch):
            if member != main:
                raise BadRequestData(f"{name}: a {kind} has '{main}', not '{member}'")
        patched = dict(old)
        for member, value in patch.items():
            if member == "attrs":
                patched["attrs"] = _patched_subs(old.get("attrs"), value, now, merge=False)
            elif member == "value" and kind == "GeoProperty":
                patched["value"] = validate_geometry(value, f"{name}.value")
            elif value == NGSI_LD_NULL:
                patched.pop(member, None)
            elif member not in ("createdAt", "modifiedAt"):
                patched[member] = value
        if not patched.get("attrs"):
            patched.pop("attrs", None)
        patched["modifiedAt"] = now
        current[index] = patched
    _store(new, name, current)
    return _touched(new, now, True)


def replace_attribute(entity: Entity, name: str, instances: list[Instance], *, now: str) -> Entity:
    """Replace Attribute (clause 5.6.19): each instance given replaces the existing one with its
    datasetId, which must exist (ResourceNotFound); createdAt is kept."""
    _not_scope(name, "replaced")
    new = _copy(entity)
    current = _existing(new, name)
    for instance in instances:
        dataset = instance.get("datasetId")
        index = _find(current, dataset)
        if index < 0:
            raise ResourceNotFound(f"The entity {entity['id']} has no instance of {name}{_dataset(dataset)}")
        current[index] = _cleaned(instance, current[index].get("createdAt", now), now)
    _store(new, name, current)
    return _touched(new, now, True)


def delete_attribute(
    entity: Entity, name: str, *, dataset_id: str | None = None, delete_all: bool = False, now: str
) -> Entity:
    """Delete Attribute (clause 5.6.5): the default instance, the one of ``dataset_id``, or with
    ``delete_all`` every instance; ``scope`` removes the scope.  ResourceNotFound when nothing
    matches."""
    new = _copy(entity)
    if name in _SCOPE_NAMES:
        if not new.pop("scope", None):
            raise ResourceNotFound(f"The entity {entity['id']} has no scope")
        return _touched(new, now, True)
    current = _existing(new, name)
    if delete_all:
        current = []
    else:
        if dataset_id == "@none":  # the default instance, named as in clause 4.5.5
            dataset_id = None
        index = _find(current, dataset_id)
        if index < 0:
            raise ResourceNotFound(f"The entity {entity['id']} has no instance of {name}{_dataset(dataset_id)}")
        del current[index]
    _store(new, name, current)
    return _touched(new, now, True)


# ---- instances -----------------------------------------------------------------------------


def _cleaned(instance: Instance, created: str, now: str, merge: bool = False) -> Instance:
    """A fragment instance as it is stored: deletion markers (of members, sub-attributes and,
    from a merge fragment, inside object values) dropped, timestamps set."""
    out = {member: value for member, value in instance.items() if value != NGSI_LD_NULL}
    subs = instance.get("attrs")
    if subs:
        kept = {iri: _cleaned(sub, now, now, merge) for iri, sub in subs.items() if not is_null(sub)}
        if kept:
            out["attrs"] = kept
        else:
            del out["attrs"]
    if merge:
        for member in ("value", "json", "languageMap"):
            if type(out.get(member)) is dict and out["type"] != "GeoProperty":
                out[member] = _merge_patch(None, out[member])
    out["createdAt"] = created
    out["modifiedAt"] = now
    return out


# Members that _merged does not simply replace: sub-attributes, and times it sets itself.
_MERGED_APART = frozenset({"attrs", "createdAt", "modifiedAt"})


def _merged(old: Instance, instance: Instance, now: str) -> Instance:
    """Clause 5.5.12 on one instance: members merged, sub-attributes merged, JSON object values
    merge-patched.  A different type replaces the instance."""
    if instance.get("type", old["type"]) != old["type"]:
        return _cleaned(instance, old.get("createdAt", now), now, merge=True)
    kind = old["type"]
    merged = dict(old)
    for member, value in instance.items():
        if type(value) is not dict and member not in _MERGED_APART and value != NGSI_LD_NULL:
            merged[member] = value  # the usual case (a measure): the member is replaced
        elif member == "attrs":
            merged["attrs"] = _patched_subs(old.get("attrs"), value, now, merge=True)
        elif member in ("createdAt", "modifiedAt"):
            continue
        elif value == NGSI_LD_NULL:
            merged.pop(member, None)
        elif (member == "value" and kind == "Property") or member in ("json", "languageMap"):
            merged[member] = _merge_patch(old.get(member), value)
        else:
            merged[member] = value
    if not merged.get("attrs"):
        merged.pop("attrs", None)
    merged["modifiedAt"] = now
    return merged


def _patched_subs(
    old: dict[str, Instance] | None, patch: dict[str, Instance], now: str, merge: bool
) -> dict[str, Instance]:
    subs = dict(old) if old else {}
    for iri, sub in patch.items():
        if is_null(sub):
            subs.pop(iri, None)
        elif iri not in subs:
            subs[iri] = _cleaned(sub, now, now, merge)
        elif merge:
            subs[iri] = _merged(subs[iri], sub, now)
        else:
            subs[iri] = _cleaned(sub, subs[iri].get("createdAt", now), now)
    return subs


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch, with NGSI-LD Null as null; never changes its inputs."""
    if type(patch) is not dict:
        return patch
    out = dict(target) if type(target) is dict else {}
    for key, value in patch.items():
        if value is None or value == NGSI_LD_NULL:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


# ---- entity bookkeeping --------------------------------------------------------------------


def _copy(entity: Entity) -> Entity:
    # Shallow: attribute lists are copied when written (_instances), instances replaced whole.
    return {**entity, "attrs": dict(entity["attrs"])}


def _instances(entity: Entity, name: str) -> list[Instance]:
    return list(entity["attrs"].get(name, ()))


def _existing(entity: Entity, name: str) -> list[Instance]:
    instances = entity["attrs"].get(name)
    if not instances:
        raise ResourceNotFound(f"The entity {entity['id']} has no attribute {name}")
    return list(instances)


def _store(entity: Entity, name: str, instances: list[Instance]) -> None:
    if instances:
        entity["attrs"][name] = instances
    else:
        entity["attrs"].pop(name, None)


def _find(instances: list[Instance], dataset: str | None) -> int:
    for index, instance in enumerate(instances):
        if instance.get("datasetId") == dataset:
            return index
    return -1


def _add_types(entity: Entity, fragment: Entity) -> bool:
    added = [t for t in fragment.get("type", ()) if t not in entity["type"]]
    if added:
        entity["type"] = entity["type"] + added
    return bool(added)


def _set_expiry(entity: Entity, expires_at: str) -> bool:
    """Set the entity's expiresAt, or remove it (NGSI-LD Null); whether it changed."""
    before = entity.get("expiresAt")
    if expires_at == NGSI_LD_NULL:
        entity.pop("expiresAt", None)
    else:
        entity["expiresAt"] = expires_at
    return entity.get("expiresAt") != before


def _set_scope(entity: Entity, scope: list[str] | str, extend: bool) -> None:
    if scope == NGSI_LD_NULL:
        entity.pop("scope", None)
    elif extend and entity.get("scope"):
        entity["scope"] = entity["scope"] + [s for s in scope if s not in entity["scope"]]
    else:
        entity["scope"] = list(scope)


def _touched(new: Entity, now: str, changed: bool) -> Entity:
    if changed:
        new["modifiedAt"] = now
    return new


def _not_scope(name: str, what: str) -> None:
    if name in _SCOPE_NAMES:
        raise BadRequestData(f"scope cannot be {what} as an attribute (clauses 5.6.4, 5.6.19)")


def _dataset(dataset: str | None) -> str:
    return f" with datasetId {dataset}" if dataset is not None else " without datasetId (the default instance)"


# ---- UpdateResult --------------------------------------------------------------------------


def _result() -> UpdateResult:
    return {"updated": [], "notUpdated": []}


def _updated(result: UpdateResult, name: str) -> None:
    if name not in result["updated"]:
        result["updated"].append(name)


def _not_updated(result: UpdateResult, name: str, instance: Instance, reason: str) -> None:
    dataset = instance.get("datasetId")
    if dataset is not None:
        reason = f"{reason} (datasetId {dataset})"
    result["notUpdated"].append({"attributeName": name, "reason": reason})


def keep_attributes(entity: Entity, keep: frozenset[str] | None, drop: frozenset[str] | None, *, now: str) -> Entity:
    """The entity with only the attributes in ``keep``, or without those in ``drop`` (Purge, clause 5.6.21)."""
    names = [n for n in entity["attrs"] if (keep is not None and n not in keep) or (drop is not None and n in drop)]
    if not names:
        return entity
    new = _copy(entity)
    for name in names:
        del new["attrs"][name]
    return _touched(new, now, True)
