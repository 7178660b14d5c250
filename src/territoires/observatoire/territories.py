"""The observatory's ``Territory`` and ``Organisation`` entities, materialised from the registry.

Project records point at ``urn:ngsi-ld:Territory:<kind>:<code>`` (``territories``) and
``urn:ngsi-ld:Organisation:<SIREN>`` (``carrier``); this module makes those entities exist in the
national tenant, so that an NGSI-LD client can follow the relationships:
- a Territory: ``name``, ``territoryKind``, ``inseeCode`` (not for an EPCI, which has none),
  ``siren``, ``population`` (sub-property ``referenceYear``: the millésime it is in force for),
  ``populationBand``, ``epciKind``, ``location`` (Point, approximate) when known, and ``partOf``
  (ListRelationship: its EPCI, départements and régions, nearest first);
- an Organisation: ``name``, ``siren``, ``organisationKind`` (a carrier kind code).
The territories a record serves are written with the territories they belong to, so that every
``partOf`` resolves. Writing is idempotent: the entities already stored as they would be written
are left alone (no new history), the others are upserted in batches, through the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from territoires import clock
from territoires.broker import Broker
from territoires.ngsild.context import Context
from territoires.ngsild.entity import parse_entity
from territoires.ngsild.errors import InternalError
from territoires.ngsild.model import Entity
from territoires.observatoire.registry import Territory, TerritoryRegistry, urn
from territoires.store.port import EntityQuery

ORGANISATION_PREFIX = "urn:ngsi-ld:Organisation:"
# Entities read and written per batch (and per line of progress of a full load).
BATCH = 1000


@dataclass(frozen=True)
class Organisation:
    """A record's carrier, as the record names it."""

    siren: str
    name: str
    kind: str | None = None  # a vocabularies.CARRIER_KINDS code


def territory_body(territory: Territory, registry: TerritoryRegistry) -> dict[str, Any]:
    """The normalized NGSI-LD body of a territory (short names of the observatory's @context)."""
    body: dict[str, Any] = {"id": urn(territory), "type": "Territory",
                            "name": _property(territory.name), "territoryKind": _property(territory.kind)}
    if territory.kind != "epci":  # an EPCI is known by its SIREN, its "code" in the registry
        body["inseeCode"] = _property(territory.code)
    if territory.siren:
        body["siren"] = _property(territory.siren)
    if territory.population is not None:
        body["population"] = _property(territory.population)
        if territory.population_year is not None:
            body["population"]["referenceYear"] = _property(territory.population_year)
    if territory.band:
        body["populationBand"] = _property(territory.band)
    if territory.epci_kind:
        body["epciKind"] = _property(territory.epci_kind)
    if territory.lat is not None and territory.lon is not None:
        body["location"] = {"type": "GeoProperty", "value": {"type": "Point",
                                                              "coordinates": [territory.lon, territory.lat]}}
    parents = registry.ancestors(territory)
    if parents:
        body["partOf"] = {"type": "ListRelationship", "objectList": [urn(parent) for parent in parents]}
    return body


def organisation_body(organisation: Organisation) -> dict[str, Any]:
    body: dict[str, Any] = {"id": ORGANISATION_PREFIX + organisation.siren, "type": "Organisation",
                            "name": _property(organisation.name), "siren": _property(organisation.siren)}
    if organisation.kind:
        body["organisationKind"] = _property(organisation.kind)
    return body


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


class TerritoryEntities:
    """Writes Territory and Organisation entities in ``tenant`` under ``context``."""

    def __init__(self, broker: Broker, registry: TerritoryRegistry, tenant: str, context: Context, *,
                 batch: int = BATCH) -> None:
        self.broker = broker
        self.registry = registry
        self.tenant = tenant
        self.context = context
        self.batch = batch

    def ensure(self, territories: Iterable[Territory], organisations: Iterable[Organisation] = ()) -> int:
        """Make these territories (and those they belong to) and organisations exist as the
        registry and the records describe them; returns how many entities were written."""
        wanted: dict[str, dict[str, Any]] = {}
        for territory in territories:
            for one in (territory, *self.registry.ancestors(territory)):
                if urn(one) not in wanted:
                    wanted[urn(one)] = territory_body(one, self.registry)
        for organisation in organisations:
            body = organisation_body(organisation)
            wanted[body["id"]] = body
        bodies = list(wanted.values())
        return sum(self._write(bodies[start:start + self.batch]) for start in range(0, len(bodies), self.batch))

    def load_all(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Every territory of the registry, in batches (``batch``); ``progress(done, total)``
        after each batch. Returns how many entities were written (0 when all were up to date)."""
        total = sum(self.registry.totals().values())
        written = done = 0
        for batch in _batches(iter(self.registry), self.batch):
            written += self._write([territory_body(territory, self.registry) for territory in batch])
            done += len(batch)
            if progress is not None:
                progress(done, total)
        return written

    def _write(self, bodies: list[dict[str, Any]]) -> int:
        """Upsert the bodies whose entity is missing or differs; returns how many."""
        if not bodies:
            return 0
        now = clock.now()
        page = self.broker.entities.query(self.tenant, EntityQuery(ids=tuple(b["id"] for b in bodies),
                                                                   limit=len(bodies)))
        stored = {entity["id"]: _content(entity) for entity in page.entities}
        changed = [body for body in bodies
                   if stored.get(body["id"]) != _content(parse_entity(body, self.context, now=now))]
        if not changed:
            return 0
        result = self.broker.entities.batch_upsert(self.tenant, changed, [self.context] * len(changed),
                                                   mode="replace")
        if result.errors:  # our own bodies: a refusal is a bug here, not bad input
            entity_id, error = result.errors[0]
            raise InternalError(f"the observatory could not write {entity_id}: {error.detail}")
        return len(changed)


def _content(entity: Entity) -> Any:
    """What an entity says, without the instants the broker stamps on it."""
    return {"type": sorted(entity["type"]), "attrs": _unstamped(entity.get("attrs", {}))}


def _unstamped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unstamped(v) for k, v in value.items() if k not in ("createdAt", "modifiedAt")}
    if isinstance(value, list):
        return [_unstamped(item) for item in value]
    return value


def _batches(items: Iterator[Territory], size: int) -> Iterator[list[Territory]]:
    batch: list[Territory] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
