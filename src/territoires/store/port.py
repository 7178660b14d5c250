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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from territoires.ngsild.errors import ERROR_BASE, OperationNotSupported
from territoires.ngsild.geo import GeoQuery
from territoires.ngsild.model import Entity, Instance
from territoires.ngsild.query import OrderKey, QExpr, ScopeExpr, TypeExpr
from territoires.ngsild.subscription import EntitySelector, Subscription

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
    - ``selectors``: the entity matches at least one of these (the ``entities`` of a Query
      body): its types satisfy the selector's type expression, and its id is one of the
      selector's ids, or, when it names none, matches its id pattern (if any).
    - ``attrs``: the entity has at least one of these attributes (expanded names).
    - ``q``, ``scope_q``, ``geo``: the NGSI-LD query language, scope query and geo-query.
    - ``history``: the entity has a recorded instance in this range (``HistoryFilter``).
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
    entities lacking the attribute (or path, or scope) come last. A key sorting by distance
    (``OrderKey.by_distance``) measures from ``order_from`` to the nearest instance of its
    GeoProperty, as ``ngsild.geo.Ruler`` does (both backends); a backend that cannot sort
    under ``collation`` raises ``NotSupported``.
    Cursors: with ``order_by`` no ``next_cursor`` is given and ``after`` must be None (it is
    refused with ``BadRequestData``): page with ``offset``/``limit``.
    """

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: TypeExpr | None = None
    selectors: tuple[EntitySelector, ...] = ()
    attrs: tuple[str, ...] = ()
    q: QExpr | None = None
    scope_q: ScopeExpr | None = None
    geo: GeoQuery | None = None
    history: HistoryFilter | None = None
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


# ---- LoRaWAN devices and ingestion ----------------------------------------------------------


class Device(NamedTuple):  # a tuple: the bridge looks up one per uplink
    """A LoRaWAN device of the registry: its uplinks update one entity of one tenant."""

    dev_eui: str  # 16 upper-case hexadecimal digits, the registry's key across the platform
    tenant: str
    entity_id: str  # the entity its measures update (created at its first uplink if absent)
    entity_type: str  # expanded type IRI of that entity (a Smart Data Models type)
    decoder: str  # name of its payload decoder (territoires.ingest.decoders.DECODERS)
    name: str = ""  # a label for people
    created_at: str = ""
    modified_at: str = ""


@dataclass(frozen=True)
class QuarantinedUplink:
    """An uplink the bridge could not store, kept with why. ``kind``: ``malformed`` (not an
    uplink of a known format), ``unknown-device`` (DevEUI not registered), ``undecodable``
    (its decoder refused the payload), ``rejected`` (the store refused the update) or ``quota``
    (its tenant's quota of uplinks per minute was reached)."""

    received_at: str  # when the bridge received it
    topic: str
    kind: str
    reason: str
    body: bytes  # the MQTT message as received
    dev_eui: str | None = None
    tenant: str | None = None
    seq: int = 0  # assigned by the store: increasing in the order they were quarantined


@dataclass(frozen=True)
class QuarantineQuery:
    """Which quarantined uplinks to list, newest first; every filter given must hold."""

    dev_eui: str | None = None
    tenant: str | None = None
    kind: str | None = None
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True)
class IngestionCounters:
    """What one ingestion bridge (named by its MQTT client id) did since it started."""

    bridge: str
    started_at: str
    updated_at: str
    received: int = 0  # MQTT messages received
    stored: int = 0  # uplinks applied to entities
    duplicates: int = 0  # uplinks skipped as already applied
    quarantined: int = 0


class Frame(NamedTuple):  # a tuple: one per uplink
    """One uplink frame of a device, as deduplication sees it."""

    dev_eui: str
    f_cnt: int
    at: str  # the network server's uplink time, ISO 8601 UTC


# Frames of one device with the same counter are duplicates when their uplink times are at most
# this far apart. A redelivered MQTT message or a frame heard by several gateways carries the
# same counter and (nearly) the same time; a device that rejoined counts from 0 again, later.
FRAME_WINDOW_SECONDS = 60


# ---- temporal ----------------------------------------------------------------------------
# The temporal evolution of attributes (clauses 4.5.7, 4.5.19, 5.6.11 – 5.6.19, 5.7.3, 5.7.4).

TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
AGGREGATION_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")


class HistoryInstance(NamedTuple):  # a tuple: a write or a temporal read builds thousands
    """One recorded instance of an attribute: the attribute as it was at one moment.

    - ``instance``: the attribute instance in internal form (``ngsild.model``), with its
      ``datasetId``, ``observedAt``, ``unitCode``, sub-attributes, ``createdAt`` and
      ``modifiedAt``; no ``instanceId`` inside (it is ``instance_id``).
    - ``modified_at``: when it was recorded (normally ``instance["modifiedAt"]``).
    - ``deleted_at``: set when this instance records the attribute's deletion (its value is
      then the NGSI-LD Null ``"urn:ngsi-ld:null"``).
    - ``instance_id``: a URI unique in the tenant, assigned by the store: leave it None when
      appending; every instance read back carries it.
    """

    entity_id: str
    attr: str  # expanded attribute name
    instance: Instance
    modified_at: str
    deleted_at: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True)
class TimeRange:
    """Which instances of a series are selected, by one of their times (clause 4.11).

    ``timeproperty`` is one of ``TIME_PROPERTIES``. An instance's ``observedAt`` time is its
    ``observedAt`` member, or its ``modifiedAt`` when it has none (so such instances keep their
    place in the series); ``deletedAt`` selects deletion instances only.
    ``timerel`` None selects every instance; ``"before"``: time < ``time_at``; ``"after"``:
    time >= ``time_at``; ``"between"``: ``time_at`` <= time < ``end_time_at``. Times are ISO
    8601 instants (UTC, ``Z``); the caller has checked them."""

    timeproperty: str = "observedAt"
    timerel: str | None = None
    time_at: str | None = None
    end_time_at: str | None = None


@dataclass(frozen=True)
class HistoryFilter:
    """Entities whose history holds at least one instance of ``attrs`` (of any attribute when
    empty) selected by ``time``: clause 5.7.4.4 leaves out of a temporal query the entities
    with no data in its interval."""

    attrs: tuple[str, ...]
    time: TimeRange


@dataclass(frozen=True)
class Aggregation:
    """The aggregated temporal representation (clause 4.5.19): each series is cut into
    consecutive periods of ``period`` (an ISO 8601 duration such as PT15M, PT1H, P1D, P1W,
    P1M, P1Y, or a combination; None, PT0S or P0D: one period covering the whole range) and
    each period with at least one instance gives one ``Bucket`` with ``methods`` applied
    (each of ``AGGREGATION_METHODS``; the caller has checked them and the duration)."""

    methods: tuple[str, ...]
    period: str | None = None


@dataclass(frozen=True)
class TemporalQuery:
    """A temporal query (clauses 5.7.3, 5.7.4).

    - ``entities``: which entities, as for ``TenantSession.query`` (filters on the entities'
      current state; entities are paged by its ``offset``/``limit``/``after``/``count``).
      Entities deleted while their history was kept (``keep_deleted_entities``) are selected
      too when ``entities.ids`` names them and its type expression and history filter, if
      any, hold; other filters never select them (they have no current state).
    - ``attrs``: whose history (expanded names); empty: every attribute.
    - ``datasets``: the series of these datasetIds only (``"@none"``: the default instance);
      None: every series.
    - ``time``: which instances of each series.
    - ``last_n``: per series (attribute + datasetId), only the last N instances of the range.
    - ``instance_limit``: most instances per series (temporal pagination, clause 6.3.10).
    - ``aggregation``: buckets instead of instances (``instance_limit``/``last_n`` ignored).
    """

    entities: EntityQuery
    attrs: tuple[str, ...] = ()
    time: TimeRange = TimeRange()
    last_n: int | None = None
    instance_limit: int = 1000
    aggregation: Aggregation | None = None
    datasets: frozenset[str] | None = None


@dataclass(frozen=True)
class Bucket:
    """One aggregation period ``[start, end)`` and the value of each method over the
    instances it holds (``None`` where the method does not apply to them)."""

    start: str
    end: str
    values: dict[str, Any]


@dataclass
class Series:
    """The history of one attribute instance (attribute + datasetId): ``instances`` ascending
    by the query's time property (insertion order breaking ties), or ``buckets`` ascending
    under an aggregation."""

    attr: str
    dataset_id: str | None
    instances: list[HistoryInstance] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)


@dataclass
class TemporalEntity:
    """A selected entity and the series of its history that have something in the range
    (sorted by attribute, then datasetId, the default instance first)."""

    id: str
    types: list[str]
    scope: list[str] | None
    created_at: str
    modified_at: str
    series: list[Series] = field(default_factory=list)


@dataclass
class TemporalPage:
    """``range``: set when ``instance_limit`` cut at least one series: the interval
    ``(start, end)`` (times of the query's property) that every returned series covers
    completely; the caller asks for the rest from there (clause 6.3.10)."""

    entities: list[TemporalEntity]
    count: int | None = None
    next_cursor: str | None = None
    range: tuple[str, str] | None = None


# ---- notification outbox ------------------------------------------------------------------
# What the subscription matcher leaves, inside the write that made a change, for the delivery
# worker (clauses 5.8.6, 5.11). Times the worker schedules by are epoch seconds (floats).

NOTIFICATION_ID_PREFIX = "urn:ngsi-ld:Notification:"


@dataclass(frozen=True)
class PendingNotification:
    """One notification to deliver, as the matcher decided it.

    - ``id``: ``urn:ngsi-ld:Notification:<uuid>``, the same at every attempt: delivery is at
      least once, and a receiver recognises a notification it was given twice by its id.
    - ``subscription_id``: whose notification. The worker reads the subscription when it
      sends (endpoint, format, @context); a subscription gone by then drops it.
    - ``endpoint``: scheme and authority of the endpoint when enqueued (``http://host:port``):
      the worker spreads its work by endpoint with it.
    - ``trigger``: the triggerReason (``attributeUpdated``…); empty for periodic notifications.
    - ``data``: the notified entities as JSON documents of ``ngsild.notification`` (internal
      form with the marks of what changed); the store keeps them as given.
    - ``created_at``: when it was enqueued (ISO 8601, UTC).
    """

    id: str
    subscription_id: str
    endpoint: str
    trigger: str
    data: list[dict[str, Any]]
    created_at: str


@dataclass(frozen=True)
class OutboxEntry:
    """A notification in a tenant's outbox, as a claim or the list of dead letters gives it.
    ``seq`` orders the outbox (per subscription, delivery follows it); ``attempts`` counts the
    attempts already made; ``state`` is ``pending`` or ``dead`` (given up, kept for people);
    ``given_up_at``: when a dead letter was given up (ISO 8601; for one given up before this was
    recorded, when its last attempt was due), None for a pending one. ``tenant`` is empty in
    what a session lists: its caller knows the tenant."""

    tenant: str
    seq: int
    notification: PendingNotification
    attempts: int = 0
    last_error: str | None = None
    state: str = "pending"
    given_up_at: str | None = None


# What became of one attempt (DeliveryOutcome.result).
SENT, FAILED, DROPPED = "sent", "failed", "dropped"


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one claimed notification (``tenant`` and ``seq`` name it).

    - ``sent``: the endpoint took it; it leaves the outbox.
    - ``failed``: the attempt failed (``error`` says why); it is due again at ``retry_at``
      (epoch seconds), or with ``retry_at`` None it becomes a dead letter.
    - ``dropped``: its subscription is gone; it leaves the outbox and counts for nothing.
    ``at`` is when the attempt was made (ISO 8601): the subscription's lastNotification,
    lastSuccess or lastFailure."""

    tenant: str
    seq: int
    subscription_id: str
    result: str
    at: str
    error: str | None = None
    retry_at: float | None = None


# ---- audit trail ------------------------------------------------------------------------------
# Who wrote what in a tenant (docs/operations.md, "Journal d'audit"). Personal data is kept to
# what identifies the author: no address, no user agent, no request body.


class AuditRecord(NamedTuple):
    """One write as the audit trail keeps it. A named tuple rather than a dataclass: a batch of
    measures builds tens of thousands, and tuples of plain values cost the garbage collector
    nothing (measured: seven times cheaper to build in a batch).

    - ``at``: when (an instant as ``clock.now()`` writes it, so instants compare as texts).
    - ``operation``: what: ``create``/``delete`` of an entity, ``append``/``update``/
      ``deleteAttribute`` of some of its attributes, ``replace`` of a whole entity whose previous
      state was not read, or the name of a write outside entities (``createSubscription``…).
    - ``target``: the entity id, or the id or path of the other resource written.
    - ``attributes``: the expanded names of the attributes the operation wrote, sorted (``@type``
      and the core ``scope`` for those); empty for a record about a whole entity or another
      resource. Expanded names are IRIs: they never hold a space.
    - ``kind``, ``subject``, ``credential_id``, ``name``: who, as ``broker.actor.Actor`` says.
    - ``detail``: a short free text for writes outside entities; empty otherwise.
    - ``seq``: the store's number for it, increasing in recording order; None before it is stored.
    """

    at: str
    operation: str
    target: str
    kind: str
    subject: str
    credential_id: str | None = None
    name: str = ""
    attributes: tuple[str, ...] = ()
    detail: str = ""
    seq: int | None = None


@dataclass(frozen=True)
class AuditQuery:
    """Which audit records to list. Every filter given must hold (AND); each compares exactly.

    - ``subject``, ``credential_id``, ``target``, ``operation``: equal to this.
    - ``attribute``: one of the record's ``attributes``.
    - ``since``: ``at`` >= this instant; ``until``: ``at`` < this instant (``clock.now()`` form).
    - ``before_seq``: ``seq`` below this (walking the whole trail newest first, batch by batch).
    - ``offset``/``limit``: the page, newest first (``seq`` descending); ``limit`` 0: none.
    - ``count``: also say how many records match, ignoring offset, limit and ``before_seq``.
    """

    subject: str | None = None
    credential_id: str | None = None
    target: str | None = None
    attribute: str | None = None
    operation: str | None = None
    since: str | None = None
    until: str | None = None
    before_seq: int | None = None
    offset: int = 0
    limit: int = 100
    count: bool = True


# ---- French full-text search and facets ------------------------------------------------------
# A tenant's text index: documents derived from entities (``broker.text_index`` writes them in
# the entity's own write), searched with French stemming, accents and case folded, and counted
# by facets. Facet names and values are compared exactly (they are codes, not text).


@dataclass(frozen=True)
class TextDocument:
    """What the text index holds for one entity.

    - ``text_fields``: field name -> French text. Weighted: a word of ``title`` counts more than
      one of ``summary``, which counts more than one of any other field.
    - ``facets``: facet name -> its values for this entity (several for a list attribute;
      empty strings are not values).
    - ``tallied``: the facets whose value counts over all the documents of the type are kept
      up to date at each write (``TenantSession.text_tallies``), for counts too wide to make
      at each read.
    """

    entity_id: str
    entity_type: str  # expanded type IRI
    text_fields: dict[str, str] = field(default_factory=dict)
    facets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tallied: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TextSearch:
    """A search among the indexed documents of one entity type.

    - ``text``: words all required (AND), "quoted phrases" whose words follow each other;
      stemmed (Snowball French), accents and case folded, French stop words ignored. Operators
      of the databases' own query languages have no meaning: they are punctuation. None: every
      document of the type. A text with no word to search, or longer than 500 characters, is
      refused (``BadRequestData``).
    - ``prefix``: type-ahead: the text's last word, when the text ends in it, also matches the
      words it begins ("éclai" finds "éclairage").
    - ``filters``: facet -> accepted values: a document must have, for every facet named, at
      least one of its values (AND across facets, OR within one). At most 20 facets, each
      accepting 1 to 100 values.
    - ``facets``: the facets whose value counts to return (at most 20).
    - ``offset``/``limit``: the page (``limit`` 0 to 1000; 0 for counts only).
    """

    entity_type: str
    text: str | None = None
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    facets: tuple[str, ...] = ()
    offset: int = 0
    limit: int = 20
    prefix: bool = False


@dataclass
class TextSearchResult:
    """``ids``: the page of matching entity ids, most relevant first (ties, and every document
    when ``text`` is None, by id); ``total``: how many documents match in all; ``facets``: for
    each facet asked, value -> how many matching documents have it (values without a match
    absent). Counts are over the documents that match the text and every filter."""

    ids: list[str]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


# ---- access: API keys, members, public types (platform-wide) -------------------------------
# Who may call the platform: the enforcement point (``territoires.auth``) reads them. Roles are
# the values of ``territoires.auth.principal.Role``, kept here as text. Times are as
# ``clock.now()`` writes them (fixed width), so that they compare as texts.


@dataclass(frozen=True)
class ApiKey:
    """An API key of a machine or a device. Its token ``trk_<id>_<secret>`` is shown once, at
    creation; the store keeps only ``secret_hash`` (SHA-256 of the secret, hexadecimal).

    - ``id``: 12 lowercase base32 characters, unique on the platform.
    - ``tenant``: the tenant its role applies to (``""``: the default tenant); None for an
      operator or a national role.
    - ``scope``: national roles: what the grant is limited to (a territory's INSEE code).
    - ``expires_at``: None for never; ``revoked_at``: set once revoked (the record stays);
      ``last_used_at``: the latest use recorded (recorded at most about once a minute).
    - ``created_by``: who issued it, as text (``kind:subject`` of the issuer, or ``cli:user``).
    """

    id: str
    secret_hash: str
    tenant: str | None
    role: str
    scope: str = ""
    name: str = ""
    created_at: str = ""
    expires_at: str | None = None
    revoked_at: str | None = None
    last_used_at: str | None = None
    created_by: str = ""


@dataclass(frozen=True)
class Member:
    """A role given to a person who signs in through OpenID Connect (ProConnect, Keycloak).

    - ``issuer``: the OIDC issuer URL; ``""`` matches any issuer the platform trusts (a person
      known by e-mail only).
    - ``subject``: the ``sub`` claim; ``""`` while only the e-mail is known.
    - ``email``: lower-cased; ``""`` when unknown. One of ``subject`` and ``email`` is set;
      a member with a subject is found by its subject only (see ``Store.members_for``).
    - ``tenant``, ``scope``: as for ``ApiKey``.
    """

    id: str
    issuer: str
    subject: str
    email: str
    role: str
    tenant: str | None
    scope: str = ""
    created_at: str = ""
    created_by: str = ""


# ---- quotas per tenant (platform-wide) -------------------------------------------------------
# What an operator allows each tenant, and what every process counts against it
# (``territoires.auth.quotas``; docs/operations.md, "Quotas").

# What ``Store.add_usage`` counts, per one-minute window: API requests, LoRaWAN uplinks.
QUOTA_KINDS = ("requests", "uplinks")


@dataclass(frozen=True)
class QuotaLimits:
    """A tenant's own quotas: None where the platform's default (settings) applies; 0: unlimited."""

    entities: int | None = None
    requests_per_minute: int | None = None
    uplinks_per_minute: int | None = None


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

    def use_staged(self, staged: Sequence[object]) -> None:
        """Let this session's writes use what ``Store.stage`` prepared, outside the write lock,
        for entities it will write (``store/staging.py``). An optimization only: whatever the
        session writes is the same with or without it. A backend may ignore it."""

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> set[str]:
        """Delete these entities; returns the ids that existed."""

    @abstractmethod
    def delete_matching(self, query: EntityQuery) -> int:
        """Delete every entity ``query`` selects (pagination ignored); returns how many."""

    @abstractmethod
    def expired(self, until: str, limit: int) -> list[str]:
        """Ids of at most ``limit`` transient entities (clause 4.22) due at ``until`` (an ISO 8601
        instant): the entity's own ``expiresAt``, or that of one of its attribute instances, is
        at or before it. Read from an index, not by scanning the tenant's entities."""

    @abstractmethod
    def query(self, query: EntityQuery) -> QueryPage:
        """Entities selected by ``query`` in creation order (or its ``order_by``), with count
        and next cursor."""

    @abstractmethod
    def entity_count(self) -> int:
        """How many entities the tenant stores. Cheap (a count over an index, no document
        read): the quota of entities asks for it every few seconds."""

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
    def touch_context(self, context_id: str, when: str, uses: int = 1) -> None:
        """Record ``uses`` uses of a stored context, the last ``when`` (hits and last usage)."""

    # ---- LoRaWAN frames seen (deduplication of uplinks) ------------------------------------
    @abstractmethod
    def record_frames(self, frames: Sequence[Frame]) -> list[bool]:
        """Record these frames and say, for each, whether it is new. A frame is not new when a
        frame of the same device with the same counter and an uplink time at most
        ``FRAME_WINDOW_SECONDS`` away was recorded before, by an earlier session or earlier in
        ``frames``. Recorded in the session: a write that rolls back forgets them too, so a
        redelivered uplink is applied exactly once, crash or not."""

    @abstractmethod
    def forget_frames(self, before: str) -> int:
        """Forget the frames recorded before this instant; returns how many. By when they were
        recorded, not by their uplink time: a backlog of old uplinks is remembered as long as
        fresh ones, so their redelivery is still known."""

    # ---- temporal evolution (clauses 5.6.11 – 5.6.19, 5.7.3, 5.7.4) -------------------------
    @abstractmethod
    def append_history(self, instances: Sequence[HistoryInstance]) -> None:
        """Record attribute instances (their ``instance_id`` is ignored: the store assigns
        one). Batched: one call may carry tens of thousands of instances. A write."""

    @abstractmethod
    def temporal_query(self, query: TemporalQuery) -> TemporalPage:
        """The temporal evolution of the selected entities (see ``TemporalQuery``), in the
        order of ``query`` on entities, every selected entity present even without history.

        Instances: for each series, those of ``query.time`` ascending by its time property.
        With ``last_n``, the last N of them (still ascending). When a series has more than
        ``instance_limit``, it is cut (after the first ones; with ``last_n`` before the last
        ones), every series is trimmed to the interval all of them cover and
        ``TemporalPage.range`` names that interval; a series that has instances in
        ``query.time`` but none in that interval is there with no instance.

        Aggregation runs in the database. Buckets start at ``time_at`` for ``after`` and
        ``between``, else at the first selected instance of the page (so the buckets of
        every series and entity line up); the k-th bucket is ``[start + k·period, start +
        (k+1)·period)``, calendar parts (years, months) added on the calendar with the day
        clamped to the month's end. Only buckets holding at least one instance are given.
        Methods: ``totalCount`` (instances) and ``distinctCount`` (distinct values) apply to
        every value; ``sum``, ``avg``, ``stddev`` (population), ``sumsq`` to numbers and
        booleans (true 1, false 0); ``min``/``max`` to numbers and booleans (booleans
        answered as booleans when the bucket holds only booleans), else to strings (Unicode
        code point order). A method with no value it applies to gives ``None``. Deletion
        instances (NGSI-LD Null) are counted by ``totalCount`` only."""

    @abstractmethod
    def delete_history(
        self, entity_id: str, attr: str | None = None, dataset_id: str | None = None, all_datasets: bool = False
    ) -> int:
        """Delete recorded instances; returns how many. ``attr`` None: the entity's whole
        history (and its ``keep_deleted_entities`` record); else that attribute's default
        instance series, or its ``dataset_id`` series, or with ``all_datasets`` every series
        of the attribute. A write."""

    @abstractmethod
    def replace_instance(self, entity_id: str, attr: str, instance_id: str, instance: Instance) -> bool:
        """Replace one recorded instance's content (its times taken from ``instance``; it
        keeps its id, series and deletion mark); False if the entity's attribute has no such
        instance. A write."""

    @abstractmethod
    def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> bool:
        """Delete one recorded instance; False if the entity's attribute has no such instance.
        A write."""

    @abstractmethod
    def keep_deleted_entities(self, entities: Sequence[Entity], deleted_at: str) -> None:
        """Remember the identity (id, types, scope, createdAt; modifiedAt set to
        ``deleted_at``) of entities deleted while their history is kept, so that temporal
        queries naming them still answer (see ``TemporalQuery``). Recreating an entity of
        that id makes its current state the answer again. A write."""

    @abstractmethod
    def kept_entity_ids(self, after: str | None, limit: int) -> list[str]:
        """The ids of the entities whose identity ``keep_deleted_entities`` remembers (an id
        recreated since included), in the database's order of text, those after ``after``
        only; at most ``limit``. Lets a backup find them all without knowing them."""


    # ---- subscriptions and their notification outbox (clauses 5.8, 5.11) ------------------
    # Subscriptions are kept whole, in the internal form of ``territoires.ngsild.subscription``.
    @abstractmethod
    def put_subscription(self, subscription: Subscription) -> None:
        """Store a new subscription; raises ``AlreadyExists`` if its id is taken. A write."""

    @abstractmethod
    def get_subscription(self, subscription_id: str) -> Subscription | None:
        """The stored subscription, or None."""

    @abstractmethod
    def query_subscriptions(self, offset: int = 0, limit: int = 20) -> tuple[list[Subscription], int]:
        """A page of the subscriptions in creation order, and how many there are in all."""

    @abstractmethod
    def replace_subscription(self, subscription: Subscription) -> None:
        """Store ``subscription`` in place of the stored one with its id, keeping its creation
        order; ``ResourceNotFound`` if none is stored. A write."""

    @abstractmethod
    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription; True if it existed. A write."""

    @abstractmethod
    def active_subscriptions(self, now: str) -> list[Subscription]:
        """The subscriptions that may notify at ``now`` (a ``clock.now()`` instant): isActive,
        and no expiresAt or one after ``now``; in creation order."""

    @abstractmethod
    def subscriptions_version(self) -> str:
        """A token that changes with every write of the tenant's subscriptions (put, replace,
        delete) and only then: a process may cache what it derived from them (see
        ``active_subscriptions``) for as long as the token stays the same. Tokens are never
        reused, so a tenant deleted and created again does not find an old token."""

    # Notification outbox and delivery status. The matcher writes through the write session of
    # the change (a notification exists if and only if its change does); the worker claims and
    # settles through the Store methods below.
    @abstractmethod
    def enqueue_notifications(
        self, notifications: Sequence[PendingNotification], *, now: float, throttled: Sequence[str] = ()
    ) -> None:
        """Add notifications to the outbox, due at once, after everything already there (``seq``
        increasing in this order). ``throttled``: subscriptions whose latest enqueue instant
        becomes ``now`` (see ``last_enqueued``). A write."""

    @abstractmethod
    def last_enqueued(self, subscription_ids: Sequence[str]) -> dict[str, float]:
        """The instant (epoch seconds) each of these subscriptions last had a notification
        enqueued as ``throttled``; absent: never."""

    @abstractmethod
    def start_period(self, subscription_id: str, now: float, interval: float) -> bool:
        """For a periodic subscription (timeInterval): whether a period starts at ``now``,
        that is none started yet or the last one at least ``interval`` seconds before; if so
        ``now`` becomes the start of its current period, so that of several processes one
        only notifies each period. A write."""

    @abstractmethod
    def delivery_status(self, subscription_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The delivery status of these subscriptions (NotificationParams, clause 5.2.14), as
        the members ``timesSent`` (attempts), ``timesFailed``, ``lastNotification`` (last
        attempt), ``lastSuccess``, ``lastFailure`` and ``status`` (``ok`` or ``failed``: how
        the last attempt went); a member without a value yet is absent, a subscription never
        notified is absent."""

    @abstractmethod
    def dead_notifications(
        self, subscription_id: str | None = None, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[OutboxEntry], int]:
        """Dead letters (notifications given up after their last attempt), of one subscription
        or all, oldest first: a page and how many in all."""

    # Dead letters are chosen by subscription (None: every subscription) and by ``seq`` (None:
    # every one; both given: those of the subscription among ``seqs``); in a tenant's session,
    # only that tenant's, whatever ``seqs`` names.
    @abstractmethod
    def revive_notifications(self, subscription_id: str | None = None, seqs: Sequence[int] | None = None) -> int:
        """Put these dead letters back in their subscriptions' queues, as if never tried
        (attempts 0, no error), with their notification id and their ``seq``; returns how many.
        Keeping its ``seq``, a revived letter goes before the notifications of its subscription
        enqueued after it, even one already due (which waits again); only one claimed at that
        moment (in flight) goes first, and the revived letter is next. The oldest is due at once.
        One notification in flight per subscription, in ``seq`` order, holds as for any claim.
        Announced to the delivery worker (``on_enqueued``) once committed, as an enqueue is.
        A write."""

    @abstractmethod
    def drop_dead_notifications(self, subscription_id: str | None = None, seqs: Sequence[int] | None = None) -> int:
        """Delete these dead letters for good; returns how many. A write."""

    @abstractmethod
    def forget_notifications(self, subscription_id: str) -> int:
        """Drop everything of a deleted subscription: its outbox (pending and dead) and its
        delivery status; returns how many notifications were dropped. A write."""

    # ---- audit trail ---------------------------------------------------------------------------
    @abstractmethod
    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        """Record these audit records in this order (their ``seq`` is ignored: the store numbers
        them, above every number it gave before). Written in the session, so that a change and
        its record commit or roll back together. A write."""

    @abstractmethod
    def query_audit(self, query: AuditQuery) -> tuple[list[AuditRecord], int | None]:
        """The records ``query`` selects, newest first (``seq`` descending): a page, and how
        many match in all (None unless ``query.count``)."""

    @abstractmethod
    def forget_audit(self, before: str) -> int:
        """Delete the records whose ``at`` is before this instant (retention); returns how
        many. A write."""

    # ---- French full-text search and facets (see ``TextSearch``) ---------------------------
    @abstractmethod
    def index_documents(self, documents: Sequence[TextDocument]) -> None:
        """Index these documents, each replacing whatever was indexed for its entity id (its
        text and all its facet values, its tallies moved from the old values to the new).
        Written in the session: an entity write and its index commit or roll back together.
        A write."""

    @abstractmethod
    def unindex(self, entity_ids: Sequence[str]) -> None:
        """Remove the documents of these entities (absent ones are ignored), taking their
        tallied values out of the tallies. A write."""

    @abstractmethod
    def text_tallies(self, entity_type: str, facet: str, prefix: str = "") -> dict[str, int]:
        """How many indexed documents of ``entity_type`` have each value of the tallied
        ``facet`` that starts with ``prefix`` (values no document has any more are left out):
        read from the kept counts, without reading the documents."""

    @abstractmethod
    def text_search(self, search: TextSearch) -> TextSearchResult:
        """The documents of ``search.entity_type`` that ``search`` selects: a page ranked by
        relevance, how many match, facet counts; all computed in the database. A bad text or
        page is refused with ``BadRequestData``."""


class Store(ABC):
    """A storage backend: tenants and sessions on them."""

    # Calls wait on a database server (rather than keep the processor busy): adapters run
    # them in worker threads, so that one process serves other requests meanwhile.
    waits_on_server: bool = False
    # Writes queue on a lock that other processes hold (one writer at a time per tenant):
    # adapters run writing calls in worker threads, so that the wait does not stall the event
    # loop, which meanwhile serves reads and sends notifications.
    writes_wait_on_lock: bool = False

    @abstractmethod
    def session(self, tenant: str, *, write: bool = False) -> AbstractContextManager[TenantSession]:
        """A unit of work on ``tenant``. Raises ``NonexistentTenant`` for an unknown tenant.

        A write session's work is committed when the block ends without an exception, and
        undone whole when it raises. A backend may commit several concurrent write sessions
        together: each still ends only once its work is committed, undoes only its own work
        when it raises, and raises ``Unavailable`` when the shared commit fails."""

    def stage(self, entities: Sequence[Entity]) -> object:
        """Prepare, outside any session, what writing ``entities`` as they are (a creation or a
        replacement, stamped by their ``modifiedAt``) will need, for ``TenantSession.use_staged``.
        Pure computation, no I/O; never raises. None: this backend prepares nothing."""
        return None

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
    # Called (from any thread) once a session that enqueued notifications has committed: the
    # delivery worker of this process sets it, to claim at once rather than at its next poll.
    on_enqueued: Callable[[], None] | None = None

    @abstractmethod
    def claim_notifications(
        self, owner: str, now: float, *, limit: int, lease: float, busy_endpoints: Collection[str] = (),
        sweep: bool = False, settle: Sequence[DeliveryOutcome] = (),
    ) -> list[OutboxEntry]:
        """Claim for ``owner`` up to ``limit`` notifications due at ``now`` (epoch seconds),
        across tenants, each for ``lease`` seconds, by due time then ``seq``.

        - Per subscription, only its oldest pending notification, and only when no other of
          its notifications is claimed under a living lease: delivery keeps each
          subscription's order, one notification at a time.
        - Due: its retry time has come. A claim whose lease ran out (its worker died) is due
          again, so every notification is delivered at least once; several processes claim
          side by side, never the same notification under living leases.
        - Notifications enqueued for one of ``busy_endpoints`` are left for later.
        - ``sweep``: also look in tenants not known to have work (notifications left behind
          by a process that crashed); slower: the worker sweeps at start, then now and then.
        - ``settle``: outcomes recorded first, as ``settle_notifications`` records them, in the
          same transaction as the claim of their tenant (a round of the worker is one write
          per tenant)."""

    @abstractmethod
    def settle_notifications(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """Record what became of claimed notifications (see ``DeliveryOutcome``) and update the
        delivery status of their subscriptions. Outcomes of a tenant deleted meanwhile are
        ignored."""


    # ---- LoRaWAN devices and ingestion (platform-wide: a DevEUI names its tenant) ----------
    @abstractmethod
    def put_device(self, device: Device) -> None:
        """Register a device. ``AlreadyExists`` if its DevEUI is registered."""

    @abstractmethod
    def replace_device(self, device: Device) -> bool:
        """Replace the registered device of that DevEUI (``created_at`` is kept); False if none."""

    @abstractmethod
    def get_devices(self, dev_euis: Sequence[str]) -> dict[str, Device]:
        """The registered devices among these DevEUIs, by DevEUI (unknown ones are absent)."""

    @abstractmethod
    def list_devices(self, *, tenant: str | None = None, offset: int = 0, limit: int = 20) -> tuple[list[Device], int]:
        """Registered devices by DevEUI, optionally of one tenant: a page and how many in all."""

    @abstractmethod
    def delete_device(self, dev_eui: str) -> bool:
        """Unregister a device; True if it was registered. Deleting a tenant unregisters its devices."""

    @abstractmethod
    def quarantine(self, uplinks: Sequence[QuarantinedUplink]) -> None:
        """Keep these uplinks (their ``seq`` is ignored: the store numbers them)."""

    @abstractmethod
    def list_quarantine(self, query: QuarantineQuery) -> tuple[list[QuarantinedUplink], int]:
        """Quarantined uplinks selected by ``query``, newest first: a page and how many in all."""

    @abstractmethod
    def put_ingestion_counters(self, counters: IngestionCounters) -> None:
        """Save the counters of one bridge, replacing those it saved before."""

    @abstractmethod
    def ingestion_counters(self) -> list[IngestionCounters]:
        """The counters every bridge saved, by bridge name."""

    # ---- access: API keys, members, public types (platform-wide) ---------------------------
    # Each call commits alone. Deleting a tenant forgets its keys, members and public types.
    @abstractmethod
    def put_key(self, key: ApiKey) -> None:
        """Store a new API key. ``AlreadyExists`` if its id is taken; ``NonexistentTenant`` if
        its tenant (not None) does not exist."""

    @abstractmethod
    def get_key(self, key_id: str) -> ApiKey | None:
        """The key of that id (revoked or expired ones too), or None."""

    @abstractmethod
    def list_keys(self, tenant: str | None = None, *, offset: int = 0, limit: int = 20) -> tuple[list[ApiKey], int]:
        """Keys of one tenant (None: every key, the operator and national ones too), oldest
        first (then by id): a page and how many in all."""

    @abstractmethod
    def revoke_key(self, key_id: str, when: str) -> bool:
        """Mark a key revoked at ``when`` (a key revoked before keeps its first revocation time);
        False if there is no such key."""

    @abstractmethod
    def touch_keys(self, uses: Mapping[str, str]) -> None:
        """Record the last use of keys (id -> instant), many at once; a stored last use later
        than the given one is kept, unknown ids are ignored."""

    @abstractmethod
    def put_member(self, member: Member) -> None:
        """Store a new member. ``AlreadyExists`` if its id is taken or the same role is already
        given to the same person (issuer, subject, e-mail) on the same tenant and scope;
        ``NonexistentTenant`` if its tenant (not None) does not exist."""

    @abstractmethod
    def get_member(self, member_id: str) -> Member | None:
        """The member of that id, or None."""

    @abstractmethod
    def delete_member(self, member_id: str) -> bool:
        """Delete a member; True if it existed."""

    @abstractmethod
    def list_members(self, tenant: str | None = None, *, offset: int = 0,
                     limit: int = 20) -> tuple[list[Member], int]:
        """Members of one tenant (None: every member, operator and national roles too), oldest
        first (then by id): a page and how many in all."""

    @abstractmethod
    def members_for(self, issuer: str, subject: str, email: str) -> list[Member]:
        """The roles of a person signing in, oldest first: members with this ``issuer`` and
        (non-empty) ``subject``, and, when ``email`` (lower-cased) is not empty, members
        without a subject with this e-mail whose issuer is this one or empty. (A member
        naming a subject is that subject's alone, whatever e-mail it asserts later.)"""

    @abstractmethod
    def set_public_types(self, tenant: str, types: Collection[str]) -> None:
        """Replace the set of entity types (expanded IRIs) anonymous visitors may read in
        ``tenant``. ``NonexistentTenant`` if the tenant does not exist."""

    @abstractmethod
    def public_types(self, tenant: str) -> frozenset[str]:
        """The entity types anonymous visitors may read in ``tenant`` (empty for an unknown
        tenant)."""

    # ---- quotas per tenant (platform-wide) ----------------------------------------------
    # Each call commits alone. Deleting a tenant forgets its quotas and usage.
    @abstractmethod
    def get_quotas(self, tenant: str) -> QuotaLimits:
        """The tenant's own quotas (every member None when it has none). ``NonexistentTenant``
        if the tenant does not exist."""

    @abstractmethod
    def put_quotas(self, tenant: str, limits: QuotaLimits) -> None:
        """Replace the tenant's own quotas (every member None: it keeps none).
        ``NonexistentTenant`` if the tenant does not exist."""

    @abstractmethod
    def add_usage(self, tenant: str, kind: str, minute: int, n: int) -> int:
        """Add ``n`` to the tenant's counter of ``kind`` (one of ``QUOTA_KINDS``) for the
        one-minute window ``minute`` (whole minutes since the epoch) and return the window's
        total: what every process added, atomically. ``n`` 0 only reads. A tenant that does not
        exist counts nothing (0). Windows more than one minute before ``minute`` are forgotten
        for that tenant and kind (the one before stays for processes whose clock lags)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Slices of at most ``size`` items, for backends that bound statement sizes."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
