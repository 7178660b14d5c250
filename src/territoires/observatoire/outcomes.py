"""Outcomes measured by the platform: a project's result bound to a ``KeyPerformanceIndicator``
entity (Smart Data Models) that a territory's tenant computes (issue 4, item 5).

A binding is ``outcome["kpi"] = {"tenant": …, "entity": "urn:ngsi-ld:KeyPerformanceIndicator:…"}``
(its shape is checked by ``project_record``). Here:
- :meth:`KpiBindings.check`: the tenant exists, the entity exists and is a KeyPerformanceIndicator,
  and whoever binds it may read it there (a grant on the tenant, or the tenant publishes the
  type); otherwise BadRequestData naming ``outcomes[i].kpi``;
- :meth:`KpiBindings.measure`: the records shown get, on each bound outcome, ``measured``: the
  entity's current ``kpiValue`` (value, unit, observedAt), which becomes the outcome's ``after``
  (the declared one, if any, is kept as ``declaredAfter``). Reads are batched: one query per
  tenant for every outcome of every record shown. A KPI gone since is ``measured: null`` with
  ``measuredReason`` (French, people read it), never an error.

Once bound, the measure is shown to whoever reads the record: binding it is publishing it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from territoires.auth.principal import Action, Principal
from territoires.broker import Broker
from territoires.ngsild.errors import BadRequestData, NonexistentTenant
from territoires.ngsild.model import Entity, Instance
from territoires.store.port import EntityQuery

# The type and its value attribute, expanded: under the Smart Data Models context, or under the
# core context alone (the default vocabulary), as a tenant may have written them.
_SDM = "https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
KPI_TYPES = frozenset({_SDM + "KeyPerformanceIndicator", _DEFAULT + "KeyPerformanceIndicator"})
KPI_VALUE_ATTRS = (_SDM + "kpiValue", _DEFAULT + "kpiValue")


def bindings(outcomes: Iterable[Any]) -> Iterator[tuple[int, str, str]]:
    """``(index, tenant, entity)`` of each bound outcome of a record."""
    for index, outcome in enumerate(outcomes):
        kpi = outcome.get("kpi") if isinstance(outcome, dict) else None
        if isinstance(kpi, dict):
            yield index, kpi["tenant"], kpi["entity"]


class KpiBindings:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def check(self, principal: Principal, outcomes: list[dict[str, Any]], *,
              known: frozenset[tuple[str, str]] = frozenset()) -> None:
        """Refuse a binding ``principal`` may not make; bindings in ``known`` (the record's
        before a change) are kept as they are, even if their KPI is gone since."""
        by_tenant: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for index, tenant, entity in bindings(outcomes):
            if (tenant, entity) not in known:
                by_tenant[tenant].append((index, entity))
        for tenant, bound in by_tenant.items():
            where = f"outcomes[{bound[0][0]}].kpi"
            try:
                found = self._entities(tenant, {entity for _, entity in bound})
            except NonexistentTenant:
                raise BadRequestData(f"{where}: no tenant {tenant!r} on this platform") from None
            public = None
            for index, entity in bound:
                where = f"outcomes[{index}].kpi"
                stored = found.get(entity)
                if stored is None:
                    raise BadRequestData(f"{where}: no entity {entity} in tenant {tenant!r}")
                types = set(stored["type"])
                if not types & KPI_TYPES:
                    raise BadRequestData(f"{where}: {entity} is not a KeyPerformanceIndicator")
                if principal.may(Action.READ, tenant):
                    continue
                public = self.broker.tenants.public_types(tenant) if public is None else public
                if not types & public & KPI_TYPES:
                    raise BadRequestData(
                        f"{where}: this credential may not read {entity} in tenant {tenant!r} (no grant there, "
                        "and the tenant does not publish KeyPerformanceIndicator): only what one may read is bound")

    def measure(self, records: list[dict[str, Any]]) -> None:
        """Set ``measured`` (and the measured ``after``) on the bound outcomes of ``records``."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for record in records:
            for _, tenant, entity in bindings(record.get("outcomes") or ()):
                wanted[tenant].add(entity)
        found: dict[str, dict[str, Entity] | None] = {}
        for tenant, ids in wanted.items():
            try:
                found[tenant] = self._entities(tenant, ids)
            except NonexistentTenant:
                found[tenant] = None
        for record in records:
            outcomes = record.get("outcomes") or []
            for index, tenant, entity in bindings(outcomes):
                outcomes[index] = _measured(outcomes[index], tenant, entity, found[tenant])

    def _entities(self, tenant: str, ids: set[str]) -> dict[str, Entity]:
        page = self.broker.entities.query(tenant, EntityQuery(ids=tuple(sorted(ids)), limit=len(ids)))
        return {entity["id"]: entity for entity in page.entities}


SHOWN_ONLY = ("measured", "measuredReason", "declaredAfter")  # what ``measure`` adds to a record shown


def declared(outcome: Any) -> Any:
    """An outcome as stored, from the outcome as a record shows it (a client reads a record,
    changes it and sends it back): the measure taken away, the declared ``after`` back."""
    if not isinstance(outcome, dict) or not any(key in outcome for key in SHOWN_ONLY):
        return outcome
    stored = {key: value for key, value in outcome.items() if key not in SHOWN_ONLY}
    stored.pop("after", None)
    if "declaredAfter" in outcome:
        stored["after"] = outcome["declaredAfter"]
    return stored


def _measured(outcome: dict[str, Any], tenant: str, entity_id: str,
              entities: dict[str, Entity] | None) -> dict[str, Any]:
    shown = dict(outcome)
    entity = None if entities is None else entities.get(entity_id)
    instance = _kpi_value(entity) if entity is not None else None
    value = instance.get("value") if instance is not None else None
    if entities is None:
        reason = f"le locataire {tenant} n'existe plus"
    elif entity is None or not set(entity["type"]) & KPI_TYPES:
        reason = f"l'indicateur {entity_id} n'existe plus dans le locataire {tenant}"
    elif instance is None:
        reason = f"l'indicateur {entity_id} n'a pas encore de valeur (kpiValue)"
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        reason = f"la valeur de l'indicateur {entity_id} n'est pas un nombre"
    else:
        # A value without observedAt was observed when it was written.
        observed = instance.get("observedAt") or instance.get("modifiedAt")
        unit = instance.get("unitCode") or outcome.get("unit")
        shown["measured"] = {"value": value, "unit": unit, "observedAt": observed, "entity": entity_id,
                             "tenant": tenant}
        if "after" in outcome:
            shown["declaredAfter"] = outcome["after"]
        shown["after"] = {"value": value, "date": observed[:10]} if observed else {"value": value}
        return shown
    shown["measured"] = None
    shown["measuredReason"] = reason
    return shown


def _kpi_value(entity: Entity) -> Instance | None:
    """The entity's kpiValue: its default instance (no datasetId), else its first one."""
    for attr in KPI_VALUE_ATTRS:
        instances = entity.get("attrs", {}).get(attr)
        if instances:
            return next((i for i in instances if "datasetId" not in i), instances[0])
    return None
