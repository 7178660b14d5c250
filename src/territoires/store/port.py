"""THE storage contract. Every backend implements exactly this; nothing above store/ writes SQL.

Entities are stored and returned in the internal form of ``territoires.ngsild.model``: the
broker computes NGSI-LD semantics (merge, append, replace…) as pure code and hands whole
entities to the store, which persists them and answers queries by pushing every filter
(type expression, ``q``, ``scopeQ``, ``geoQ``, pagination, counting) into the database.

Tenants: every tenant-scoped call names its tenant. A backend keeps tenants apart so that
no call on tenant A can read or change anything of tenant B. ``DEFAULT_TENANT`` always exists.

A backend that cannot do something raises ``NotSupported`` (answered as OperationNotSupported).
The contract suite ``tests/contract/`` runs unchanged on every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from territoires.ngsild.errors import ERROR_BASE, OperationNotSupported
from territoires.ngsild.geo import GeoQuery
from territoires.ngsild.model import Entity
from territoires.ngsild.query import OrderKey, QExpr, ScopeExpr, TypeExpr

DEFAULT_TENANT = ""


class NotSupported(OperationNotSupported):
    """This backend cannot do what was asked."""

    @property
    def type_uri(self) -> str:  # answered as the NGSI-LD error it is a case of
        return ERROR_BASE + "OperationNotSupported"


class Unavailable(Exception):
    """The database cannot be reached now; the caller may retry later (HTTP 503 + Retry-After)."""


@dataclass(frozen=True)
class EntityQuery:
    """Which entities a query selects, in expanded form. Every filter given must hold (AND).

    - ``ids``: the entity id is one of these.
    - ``id_pattern``: the entity id matches this regular expression (searched, not anchored).
    - ``types``: the entity's types satisfy this type expression.
    - ``attrs``: the entity has at least one of these attributes (expanded names).
    - ``q``, ``scope_q``, ``geo``: the NGSI-LD query language, scope query and geo-query.
    - ``after``: an opaque cursor from ``QueryPage.next_cursor``; pages from a cursor are
      stable under concurrent inserts (new entities come after the cursor, none is repeated).
    - ``offset``/``limit``: classic pagination; ``limit`` 0 returns no entity (for counting).
    - ``count``: also return how many entities match, ignoring offset/limit/after.
    - ``order_by``: the entity ordering of clause 4.23; empty for creation order.
    - ``order_from``: the reference geometry (GeoJSON) of ``order_by`` keys sorting by distance.
    - ``collation``: an ICU collation (RFC 6067 tag) for the strings ``order_by`` compares;
      None for Unicode code point order.

    Order: by creation order (a stable, total order), whatever the filters. With ``order_by``,
    by its keys in turn, each ascending or descending, then by creation order for what they
    leave tied, so the order stays total and offset pagination stable. A key compares:
    - ``id``; ``type`` (an entity with several types by its smallest type IRI); ``scope`` (by
      its smallest scope); ``createdAt`` or ``modifiedAt`` of the entity;
    - an attribute path: the value it reaches in the attribute's first stored instance (its
      content, or with ``member`` that member, then ``keys`` into the value). Values of mixed
      JSON types follow clause 4.23.2: numbers, strings, objects, arrays, booleans, then typed
      literals (``{"@type": "Time"|"Date"|"DateTime", "@value": …}``) Time, Date, DateTime;
      each kind by value, strings by Unicode code point; dateTimes as instants.
    Whatever the direction, entities whose value is JSON null come after all others, and
    entities lacking the attribute (or path, or scope) come last. A backend that cannot sort by
    distance (``OrderKey.by_distance``) or by ``collation`` raises ``NotSupported``.
    Cursors: with ``order_by`` no ``next_cursor`` is given and ``after`` must be None (it is
    refused with ``BadRequestData``): page with ``offset``/``limit``.
    """

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: TypeExpr | None = None
    attrs: tuple[str, ...] = ()
    q: QExpr | None = None
    scope_q: ScopeExpr | None = None
    geo: GeoQuery | None = None
    offset: int = 0
    limit: int = 20
    after: str | None = None
    count: bool = False
    order_by: tuple[OrderKey, ...] = ()
    order_from: dict[str, Any] | None = None
    collation: str | None = None


@dataclass
class QueryPage:
    entities: list[Entity]
    count: int | None = None
    next_cursor: str | None = None


@dataclass(frozen=True)
class TypeInfo:
    """One entity type present in a tenant: how many entities, which attributes (with their kinds)."""

    type: str
    entity_count: int
    attributes: dict[str, frozenset[str]] = field(default_factory=dict)  # attr IRI -> attribute types


@dataclass(frozen=True)
class StoredContext:
    """A JSON-LD @context held by the broker (``/jsonldContexts``, clause 5.13)."""

    id: str  # the URL it is known by (served or cached)
    kind: str  # "Hosted" | "Cached" | "ImplicitlyCreated"
    body: dict[str, Any]  # the whole document, {"@context": …}
    created_at: str
    last_usage: str | None = None
    number_of_hits: int = 0


class TenantSession(ABC):
    """A unit of work on one tenant. Writes become visible together when the session commits
    (leaving its ``with`` block without an exception); an exception rolls all of them back.
    A write session holds the tenant's write lock: read-modify-write inside it is atomic."""

    # ---- entities -------------------------------------------------------------------
    @abstractmethod
    def get(self, ids: Sequence[str]) -> dict[str, Entity]:
        """The stored entities among ``ids``, by id (missing ids are absent)."""

    @abstractmethod
    def created_at(self, ids: Sequence[str]) -> dict[str, str]:
        """The creation instant of the stored entities among ``ids``, by id (cheaper than ``get``)."""

    @abstractmethod
    def insert(self, entities: Sequence[Entity]) -> None:
        """Store new entities. Raises ``AlreadyExists`` naming the first id already stored;
        then nothing of the call is written."""

    @abstractmethod
    def replace(self, entities: Sequence[Entity]) -> None:
        """Store entities whole, creating those that do not exist and replacing those that do
        (an upsert of complete documents). Creation order of an existing entity is kept."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> set[str]:
        """Delete these entities; returns the ids that existed."""

    @abstractmethod
    def delete_matching(self, query: EntityQuery) -> int:
        """Delete every entity ``query`` selects (pagination ignored); returns how many."""

    @abstractmethod
    def query(self, query: EntityQuery) -> QueryPage:
        """Entities selected by ``query`` in creation order (or its ``order_by``), with count
        and next cursor."""

    # ---- discovery (clause 5.7) -------------------------------------------------------
    @abstractmethod
    def types(self) -> list[TypeInfo]:
        """Every entity type present, with entity counts and attributes, sorted by type IRI."""

    # ---- JSON-LD contexts (clause 5.13) -----------------------------------------------
    @abstractmethod
    def put_context(self, context: StoredContext) -> None:
        """Store a context; raises ``AlreadyExists`` if its id is taken."""

    @abstractmethod
    def get_context(self, context_id: str) -> StoredContext | None:
        """The stored context, or None."""

    @abstractmethod
    def list_contexts(self, kind: str | None = None) -> list[StoredContext]:
        """Stored contexts, oldest first, optionally of one kind."""

    @abstractmethod
    def delete_context(self, context_id: str) -> bool:
        """Delete a stored context; True if it existed."""

    @abstractmethod
    def touch_context(self, context_id: str, when: str) -> None:
        """Record one use of a stored context (hits and last usage)."""

    # ---- temporal evolution (clauses 5.6.11 – 5.6.19, 5.7.3, 5.7.4) -------------------------

    # ---- subscriptions and their notification outbox (clauses 5.8, 5.11) ------------------


class Store(ABC):
    """A storage backend: tenants and sessions on them."""

    # Calls wait on a database server (rather than keep the processor busy): adapters run
    # them in worker threads, so that one process serves other requests meanwhile.
    waits_on_server: bool = False

    @abstractmethod
    def session(self, tenant: str, *, write: bool = False) -> AbstractContextManager[TenantSession]:
        """A unit of work on ``tenant``. Raises ``NonexistentTenant`` for an unknown tenant."""

    @abstractmethod
    def create_tenant(self, tenant: str) -> None:
        """Create an empty tenant, usable at once by every process. ``AlreadyExists`` if present."""

    @abstractmethod
    def delete_tenant(self, tenant: str) -> None:
        """Delete a tenant and everything in it. ``ResourceNotFound`` if absent; the default
        tenant cannot be deleted (``BadRequestData``)."""

    @abstractmethod
    def tenants(self) -> list[str]:
        """Names of the tenants, the default tenant (``""``) excluded, sorted."""

    # ---- notification delivery, across tenants --------------------------------------------

    # ---- LoRaWAN devices and ingestion (platform-wide: a DevEUI names its tenant) ----------

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Slices of at most ``size`` items, for backends that bound statement sizes."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
