"""Partner proposals for pooling (issue 4 item 7): for a territory and a use case it intends,
(a) the territories with the same intention, (b) the published projects already running that
use case and (c) the pooling structures already serving it, each with why it is proposed.

Closeness, best first: same EPCI, then same département, then neighbours within ``NEAR_KM``
by distance, then same région; (a) and (b) propose nothing farther, (c) ranks the rest of
France after them. The database selects the candidates (NGSI-LD ``q`` on the use case, status
and moderation, narrowed to the origin's EPCI, départements or régions, and a ``near`` geo-query),
each query returning at most ``CANDIDATES`` entities; the ranking runs in Python over that
bounded set. Distances are between the registry's approximate coordinates (about 20,000
communes have none: those are placed by EPCI, département and région only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from territoires.broker import Broker
from territoires.broker.contexts import OBSERVATORY_CONTEXT_URL
from territoires.ngsild.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.ngsild.geo import LOCATION, GeoQuery
from territoires.ngsild.model import Entity
from territoires.ngsild.query import parse_q, parse_type_expr
from territoires.observatoire import project_record as pr
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.intentions import epci_of, territory_named, use_case_named
from territoires.observatoire.projects import TENANT
from territoires.observatoire.registry import Territory, TerritoryRegistry, urn
from territoires.store.port import EntityQuery

NEAR_KM = 50                  # a neighbour is at most this far (between approximate centres)
CANDIDATES = 200              # entities one database query returns at most
MAX_LIMIT = 100               # proposals of each group at most
# Statuses of a project that runs the use case (not an idea, a study, nor abandoned).
RUNNING = ("pilot", "partial-deployment", "deployed", "in-progress")
# Carrier kinds that are pooling bodies.
POOLING_KINDS = ("syndicat", "opsn")
_EARTH_KM = 6371.0088
_RANKS = ("epci", "departement", "near", "region", "elsewhere")


@dataclass(frozen=True)
class Closeness:
    rank: int                       # index in _RANKS: 0 same EPCI … 4 elsewhere in France
    reason: str                     # French: « même EPCI : Dijon Métropole »
    distance_km: float | None       # None when either place has no coordinates

    @property
    def key(self) -> tuple[int, float]:
        return self.rank, self.distance_km if self.distance_km is not None else math.inf

    def as_json(self) -> dict[str, Any]:
        return {"closeness": _RANKS[self.rank], "distanceKm": self.distance_km}


@dataclass(frozen=True)
class TerritoryPartner:
    """(a) a territory that declared the same intention."""

    territory: Territory
    closeness: Closeness

    @property
    def reasons(self) -> list[str]:
        return ["a déclaré la même intention", *_described(self.closeness)]

    def as_json(self) -> dict[str, Any]:
        return {"territory": urn(self.territory), "name": self.territory.name, "kind": self.territory.kind,
                "code": self.territory.code, **self.closeness.as_json(), "reasons": self.reasons}


@dataclass(frozen=True)
class ProjectPartner:
    """(b) a published project already running the use case, by its nearest territory."""

    project: str                    # its id
    title: str
    carrier_name: str
    status: str
    territory: Territory
    closeness: Closeness

    @property
    def reasons(self) -> list[str]:
        status = vocab.STATUSES.terms.get(self.status, self.status).lower()
        return [f"porte déjà ce cas d'usage : {self.title} ({status})", *_described(self.closeness)]

    def as_json(self) -> dict[str, Any]:
        return {"project": self.project, "title": self.title, "carrierName": self.carrier_name,
                "status": self.status, "territory": urn(self.territory), "name": self.territory.name,
                **self.closeness.as_json(), "reasons": self.reasons}


@dataclass(frozen=True)
class PoolingStructure:
    """(c) a pooling body (or a carrier whose records declare pooling) serving the use case."""

    name: str
    carrier: str | None             # urn:ngsi-ld:Organisation:<SIREN> when its records give it
    carrier_kind: str
    projects: tuple[tuple[str, str], ...]   # (id, title) of its records with that use case
    territories: tuple[Territory, ...]      # the territories its records name
    authorities: int | None         # communes and EPCI its records name; None when they name none
    pooling: str | None             # what a record says of its pooling
    closeness: Closeness

    @property
    def reasons(self) -> list[str]:
        kind = vocab.CARRIER_KINDS.terms.get(self.carrier_kind, self.carrier_kind)
        reasons = [f"structure de mutualisation ({kind})" if self.carrier_kind in POOLING_KINDS
                   else "déclare une mutualisation"]
        reasons += [f"porte déjà ce cas d'usage : {title}" for _, title in self.projects]
        if self.authorities:
            reasons.append(f"sert {self.authorities} collectivité{'s' if self.authorities > 1 else ''} "
                           "selon ses fiches")
        return reasons + _described(self.closeness)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "carrier": self.carrier, "carrierKind": self.carrier_kind,
                "projects": [{"id": pid, "title": title} for pid, title in self.projects],
                "territories": [{"id": urn(t), "name": t.name} for t in self.territories],
                "authoritiesServed": self.authorities, "pooling": self.pooling,
                **self.closeness.as_json(), "reasons": self.reasons}


@dataclass
class Proposals:
    territory: Territory
    use_case: str
    same_intention: list[TerritoryPartner] = field(default_factory=list)
    running: list[ProjectPartner] = field(default_factory=list)
    pooling: list[PoolingStructure] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "territory": urn(self.territory), "territoryName": self.territory.name, "useCase": self.use_case,
            "useCaseLabel": vocab.USE_CASES.terms[self.use_case],
            "sameIntention": [p.as_json() for p in self.same_intention],
            "running": [p.as_json() for p in self.running],
            "poolingStructures": [p.as_json() for p in self.pooling],
            "bounds": {"nearKm": NEAR_KM, "candidatesPerQuery": CANDIDATES},
        }


def _described(closeness: Closeness) -> list[str]:
    reasons = [closeness.reason] if closeness.reason else []
    if closeness.distance_km is not None and closeness.rank != _RANKS.index("near"):
        reasons.append(f"à {_km(closeness.distance_km)} km")
    return reasons


def _km(distance: float) -> str:
    return str(round(distance)) if distance >= 1 else "moins de 1"


# ---- closeness ----------------------------------------------------------------------------------
def distance_km(a: Territory, b: Territory) -> float | None:
    """Great-circle distance between the approximate centres of two territories."""
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return None
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    half = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(
        math.radians(b.lon - a.lon) / 2) ** 2
    return round(2 * _EARTH_KM * math.asin(math.sqrt(half)), 1)


def departements_of(territory: Territory) -> tuple[str, ...]:
    if territory.kind == "departement":
        return (territory.code,)
    return () if territory.kind == "region" else territory.departements


def regions_of(territory: Territory) -> tuple[str, ...]:
    return (territory.code,) if territory.kind == "region" else territory.regions


def closeness(origin: Territory, other: Territory, registry: TerritoryRegistry) -> Closeness:
    """How close ``other`` is to ``origin``, with the French reason of the rank."""
    distance = distance_km(origin, other)
    epci = epci_of(origin)
    if epci is not None and epci == epci_of(other):
        return Closeness(0, f"même EPCI : {registry.get('epci', epci).name}", distance)
    shared = [code for code in departements_of(origin) if code in departements_of(other)]
    if shared:
        return Closeness(1, f"même département : {registry.get('departement', shared[0]).name}", distance)
    if distance is not None and distance <= NEAR_KM:
        return Closeness(2, f"voisin, à {_km(distance)} km", distance)
    shared = [code for code in regions_of(origin) if code in regions_of(other)]
    if shared:
        return Closeness(3, f"même région : {registry.get('region', shared[0]).name}", distance)
    return Closeness(4, "", distance)


def _closest(origin: Territory, others: Iterable[Territory], registry: TerritoryRegistry
             ) -> tuple[Territory, Closeness] | None:
    ranked = [(closeness(origin, other, registry), other) for other in others if other != origin]
    if not ranked:
        return None
    best, territory = min(ranked, key=lambda pair: (pair[0].key, pair[1].code))
    return territory, best


# ---- the service --------------------------------------------------------------------------------
class PartnerService:
    def __init__(self, broker: Broker, registry: TerritoryRegistry | None = None) -> None:
        self.broker = broker
        self.registry = registry or TerritoryRegistry.load()
        self.context = broker.contexts.compile(TENANT, OBSERVATORY_CONTEXT_URL)
        self._names = {self.context.expand(name): name for name in (*pr.ALL_ATTRIBUTES, "territory")}
        self._projects = parse_type_expr("Project", self.context.expand)
        self._intentions = parse_type_expr("Intention", self.context.expand)

    def propose(self, territory: str, use_case: str, *, limit: int = 20) -> Proposals:
        """Partners for ``territory`` (kind:code) and ``use_case`` (a code), at most ``limit`` of each group."""
        origin = territory_named(territory, self.registry)
        code = use_case_named(use_case)
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequestData(f"limit must be from 1 to {MAX_LIMIT}, not {limit}")
        return Proposals(origin, code, self._same_intention(origin, code)[:limit],
                         self._running(origin, code)[:limit], self._pooling(origin, code)[:limit])

    def _same_intention(self, origin: Territory, use_case: str) -> list[TerritoryPartner]:
        found: list[TerritoryPartner] = []
        for record in self._nearby(self._intentions, f'useCases=="{use_case}"', origin, by_epci=True):
            try:
                other = territory_named(record.get("territory"), self.registry)
            except (BadRequestData, ResourceNotFound):
                continue  # a territory the registry no longer has (merged communes)
            near = _closest(origin, [other], self.registry)
            if near is not None and near[1].rank < 4:
                found.append(TerritoryPartner(other, near[1]))
        return sorted(found, key=lambda p: (p.closeness.key, p.territory.name))

    def _running(self, origin: Territory, use_case: str) -> list[ProjectPartner]:
        found: list[ProjectPartner] = []
        for record in self._nearby(self._projects, self._running_q(use_case), origin):
            if record.get("carrierKind") in POOLING_KINDS:
                continue  # proposed among the pooling structures
            near = _closest(origin, self._territories(record), self.registry)
            if near is not None and near[1].rank < 4:
                found.append(ProjectPartner(record["id"], record.get("title", ""), record.get("carrierName", ""),
                                            record.get("status", ""), near[0], near[1]))
        return sorted(found, key=lambda p: (p.closeness.key, p.title))

    def _pooling(self, origin: Territory, use_case: str) -> list[PoolingStructure]:
        kinds = ",".join(f'"{kind}"' for kind in POOLING_KINDS)
        q = f"{self._running_q(use_case)};(carrierKind=={kinds}|pooling)"
        by_carrier: dict[str, list[dict[str, Any]]] = {}
        for record in self._query(self._projects, q):
            key = record.get("carrier") or record.get("carrierName", record["id"])
            by_carrier.setdefault(key, []).append(record)
        structures = [self._structure(origin, records) for records in by_carrier.values()]
        return sorted((s for s in structures if s is not None), key=lambda s: (s.closeness.key, s.name))

    def _structure(self, origin: Territory, records: list[dict[str, Any]]) -> PoolingStructure | None:
        territories = tuple(dict.fromkeys(t for record in records for t in self._territories(record)))
        near = _closest(origin, territories, self.registry)
        if near is None:
            return None  # the origin's own records
        first = records[0]
        authorities = sum(1 for t in territories if t.kind in ("commune", "epci")) or None
        pooling = next((r["pooling"] for r in records if r.get("pooling")), None)
        return PoolingStructure(first.get("carrierName", ""), first.get("carrier"), first.get("carrierKind", ""),
                                tuple((r["id"], r.get("title", "")) for r in records), territories, authorities,
                                pooling, near[1])

    @staticmethod
    def _running_q(use_case: str) -> str:
        statuses = ",".join(f'"{status}"' for status in RUNNING)
        return f'moderation=="published";useCases=="{use_case}";status=={statuses}'

    def _territories(self, record: dict[str, Any]) -> Iterator[Territory]:
        for item in record.get("territories", ()):
            try:
                yield territory_named(item, self.registry)
            except (BadRequestData, ResourceNotFound):
                continue

    # ---- bounded database queries ---------------------------------------------------------------
    def _nearby(self, types: Any, q: str, origin: Territory, *, by_epci: bool = False) -> list[dict[str, Any]]:
        """The entities ``q`` selects in the origin's EPCI (entities carrying ``epci``),
        départements and régions, and within NEAR_KM of it: each query bounded, merged by id."""
        narrowed = []
        epci = epci_of(origin)
        if by_epci and epci is not None:
            narrowed.append(f'epci=="{epci}"')
        for attribute, codes in (("departement", departements_of(origin)), ("region", regions_of(origin))):
            if codes:
                narrowed.append(f"{attribute}==" + ",".join(f'"{code}"' for code in codes))
        found: dict[str, dict[str, Any]] = {}
        for extra in narrowed:
            for record in self._query(types, f"{q};{extra}"):
                found.setdefault(record["id"], record)
        if origin.lat is not None and origin.lon is not None:
            near = GeoQuery("near", {"type": "Point", "coordinates": [origin.lon, origin.lat]},
                            max_distance=NEAR_KM * 1000, geoproperty=LOCATION)
            for record in self._query(types, q, near):
                found.setdefault(record["id"], record)
        return list(found.values())

    def _query(self, types: Any, q: str, geo: GeoQuery | None = None) -> list[dict[str, Any]]:
        query = EntityQuery(types=types, q=parse_q(q, self.context.expand), geo=geo, limit=CANDIDATES)
        try:
            page = self.broker.entities.query(TENANT, query)
        except NonexistentTenant:
            return []
        return [self._record(entity) for entity in page.entities]

    def _record(self, entity: Entity) -> dict[str, Any]:
        return pr.from_entity(entity, self._names)
