"""Intentions: the use cases a territory intends to run, declared so that partners find it.

One ``Intention`` entity per territory of the national tenant ``observatoire``
(``urn:ngsi-ld:Intention:<kind>:<code>``) holds the list of its use cases: a territory edits
its intentions as one list, and "who intends use case X near here" is one NGSI-LD query
(``useCases=="X"`` matches a list holding X) narrowed by the ``departement``, ``region`` and
``location`` the entity carries (derived from the registry as for project records), so that
closeness filters run in the database (see ``partners``). Intentions are public; the
contributors of the territory (national role scoped to it) and moderators write them, with
the project records' rights (``projects.Rights``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from territoires.auth.principal import Principal
from territoires.broker import Broker
from territoires.broker.contexts import OBSERVATORY_CONTEXT_URL
from territoires.ngsild.context import Context
from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.observatoire import project_record as pr
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.codes import valid_insee_commune, valid_siren
from territoires.observatoire.projects import TENANT, Rights
from territoires.observatoire.registry import KINDS, Territory, TerritoryRegistry, urn

INTENTION_PREFIX = "urn:ngsi-ld:Intention:"
# What an intention entity stores, by short name of the observatory's @context.
ATTRIBUTES = ("territory", "useCases", "departement", "region", "epci", "location", "lastEditor")
# Where people are told to look up the codes of use cases.
USE_CASES_HELP = "the codes of use cases are listed at GET /api/observatoire/v1/vocabularies (useCases)"


@dataclass(frozen=True)
class Intention:
    territory: Territory
    use_cases: tuple[str, ...]
    modified_at: str | None  # None: nothing declared yet

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"territory": urn(self.territory), "territoryName": self.territory.name,
                                 "useCases": list(self.use_cases)}
        if self.modified_at is not None:
            shown["modifiedAt"] = self.modified_at
        return shown


# ---- naming territories and use cases ------------------------------------------------------------
def territory_named(value: object, registry: TerritoryRegistry, where: str = "territory") -> Territory:
    """The territory of ``kind:code`` (or its URN): BadRequestData when malformed, ResourceNotFound
    naming the code when the registry has none (a path or query naming a territory)."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequestData(f"{where}: name a territory as kind:code, e.g. commune:21231 or epci:242100410")
    name = value.strip().removeprefix(pr.TERRITORY_PREFIX)
    kind, separator, code = name.partition(":")
    if not separator:
        raise BadRequestData(f"{where}: {value!r} is not kind:code (kinds: {', '.join(KINDS)}; "
                             "e.g. commune:21231)")
    try:
        return registry.get(kind, code)
    except BadRequestData as error:
        raise BadRequestData(f"{where}: {error.detail}") from None


def territory_choices(text: str, registry: TerritoryRegistry, limit: int = 10) -> list[Territory]:
    """The territories a person may mean by ``text``: kind:code, an INSEE commune code, an EPCI's
    SIREN, or the start of a name (the registry's search order). Empty when none."""
    text = text.strip()
    try:
        if ":" in text:
            return [territory_named(text, registry)]
        code = text.upper()
        if valid_insee_commune(code):
            return [registry.commune(code)]
        if valid_siren(text.replace(" ", "")):
            return [registry.by_siren(text)]
    except (BadRequestData, ResourceNotFound):
        return []
    return registry.search(text, limit=limit) if text else []


def use_case_named(value: object, where: str = "useCase") -> str:
    """A use case code of the vocabulary; BadRequestData saying where the codes are listed."""
    if not isinstance(value, str) or value not in vocab.USE_CASES.terms:
        raise BadRequestData(f"{where}: {value!r} is not a known use case; {USE_CASES_HELP}")
    return value


def intention_id(territory: Territory) -> str:
    return f"{INTENTION_PREFIX}{territory.kind}:{territory.code}"


def epci_of(territory: Territory) -> str | None:
    """The SIREN of the EPCI a territory is or belongs to."""
    return territory.code if territory.kind == "epci" else territory.epci


def ensure_tenant(broker: Broker) -> None:
    """Create the national tenant on first write (as the project service does)."""
    try:
        broker.tenants.create(TENANT)
    except AlreadyExists:
        pass


# ---- the service --------------------------------------------------------------------------------
class IntentionService:
    def __init__(self, broker: Broker, registry: TerritoryRegistry | None = None) -> None:
        self.broker = broker
        self.registry = registry or TerritoryRegistry.load()
        self.context: Context = broker.contexts.compile(TENANT, OBSERVATORY_CONTEXT_URL)
        self.names: Mapping[str, str] = {self.context.expand(name): name for name in ATTRIBUTES}

    def get(self, territory: str) -> Intention:
        """The intentions of a territory (an empty list when it declared none)."""
        place = territory_named(territory, self.registry)
        try:
            entity = self.broker.entities.retrieve(TENANT, intention_id(place))
        except (ResourceNotFound, NonexistentTenant):
            return Intention(place, (), None)
        stored = pr.from_entity(entity, self.names)
        return Intention(place, tuple(stored.get("useCases", ())), stored["modifiedAt"])

    def put(self, principal: Principal, territory: str, use_cases: Any) -> Intention:
        """Replace the territory's intentions by ``use_cases`` (a list of codes)."""
        place = territory_named(territory, self.registry)
        rights = Rights.of(principal)
        rights.require_edit([urn(place)])
        codes = _use_cases(use_cases)
        fields: dict[str, Any] = {"territory": urn(place), "useCases": list(codes),
                                  **_placement(place, self.registry), "lastEditor": rights.editor}
        body = _entity(intention_id(place), fields)
        ensure_tenant(self.broker)
        try:
            self.broker.entities.replace(TENANT, body["id"], body, self.context)
        except ResourceNotFound:
            self.broker.entities.create(TENANT, body, self.context)
        return self.get(territory)

    def delete(self, principal: Principal, territory: str) -> None:
        """Withdraw every intention of the territory; ResourceNotFound when it declared none."""
        place = territory_named(territory, self.registry)
        Rights.of(principal).require_edit([urn(place)])
        try:
            self.broker.entities.delete(TENANT, intention_id(place))
        except (ResourceNotFound, NonexistentTenant):
            raise ResourceNotFound(f"{place.kind} {place.code} ({place.name}) has declared no intention") from None


def _use_cases(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BadRequestData(f"useCases: a list of use case codes is expected, got {type(value).__name__}; "
                             f"{USE_CASES_HELP}")
    if not value:
        raise BadRequestData("useCases: give at least one use case; DELETE withdraws every intention")
    if len(value) > len(vocab.USE_CASES.terms):
        raise BadRequestData(f"useCases: {len(value)} items, at most {len(vocab.USE_CASES.terms)} are accepted")
    return tuple(dict.fromkeys(use_case_named(item, f"useCases[{i}]") for i, item in enumerate(value)))


def _placement(territory: Territory, registry: TerritoryRegistry) -> dict[str, Any]:
    """Where the territory lies, stored so that the database filters by it."""
    placed = {name: value for name, value in pr.derived([urn(territory)], registry).items() if name != "populationBand"}
    epci = epci_of(territory)
    return {**placed, "epci": epci} if epci else placed


def _entity(entity_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    body = pr.to_entity(entity_id, fields)
    body["type"] = "Intention"
    body["territory"] = {"type": "Relationship", "object": fields["territory"]}
    return body
