"""French full-text search over entities: the change observer that keeps the store's text index
(``TenantSession.index_documents``) in step with entity writes, and the search service.

Which entity types are indexed, and how, is configuration (``IndexedType``): which attributes
are text (each to a field: ``title`` and ``summary`` weigh more than the others) and which are
facets (facet name -> attribute; a list value gives the entity several values of the facet).
The indexer writes through the change's own write session, so the index commits or rolls back
with the change: a search never finds a record that was not written, nor misses one that was.

The observatory's project records (issue 4) are indexed for search, and its maturity
diagnostics (``MATURITY``) for their facet counts. ``PROJECTS`` names
their attributes by the IRIs of ``observatoire/context/territoires-context.jsonld`` (its
``tr:`` terms) and of the core context (``title``, ``description``, ``status``). Keep the two in
step: a renamed term there is a renamed IRI here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from territoires.broker.changes import Change
from territoires.ngsild.model import Entity, Instance
from territoires.ngsild.query import TypeName
from territoires.store.port import (
    EntityQuery,
    Store,
    TenantSession,
    TextDocument,
    TextSearch,
    TextSearchResult,
)


@dataclass(frozen=True)
class Tally:
    """Counts the store keeps at each write (``TextDocument.tallied``), for counts over too
    many documents to make at each read: among the documents whose facets have the values of
    ``when``, how many have each value of each ``counted`` facet, in each group of values of
    the ``group`` facets (the first value of each; codes without ``|``). The tally is a facet
    of its own whose values read ``<group value>|…|<counted facet>=<value>``."""

    group: tuple[str, ...]
    counted: tuple[str, ...]
    when: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def prefix(group: Sequence[str]) -> str:
        """The start of the tally's values in one group (values of the ``group`` facets)."""
        return "".join(f"{value}|" for value in group)

    def values(self, facets: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
        """The tally's values for a document of these facets."""
        if any(value not in facets.get(facet, ()) for facet, value in self.when.items()):
            return ()
        prefix = self.prefix([next(iter(facets.get(facet, ())), "") for facet in self.group])
        return tuple(f"{prefix}{facet}={value}" for facet in self.counted for value in facets.get(facet, ()))


@dataclass(frozen=True)
class IndexedType:
    """How the entities of one type are indexed. ``text``: attribute IRI -> text field name;
    ``facets``: facet name -> attribute IRI; ``tallies``: facet name -> the Tally it keeps."""

    entity_type: str
    text: Mapping[str, str] = field(default_factory=dict)
    facets: Mapping[str, str] = field(default_factory=dict)
    tallies: Mapping[str, Tally] = field(default_factory=dict)

    def document(self, entity: Entity) -> TextDocument:
        """The text document of an entity of this type."""
        attrs = entity.get("attrs", {})
        fields: dict[str, list[str]] = {}
        for attr, name in self.text.items():
            fields.setdefault(name, []).extend(_texts(attrs.get(attr, [])))
        facets = {facet: tuple(dict.fromkeys(_facet_values(attrs.get(attr, []))))
                  for facet, attr in self.facets.items()}
        facets.update({name: tally.values(facets) for name, tally in self.tallies.items()})
        return TextDocument(entity["id"], self.entity_type,
                            {name: "\n".join(texts) for name, texts in fields.items() if texts},
                            {facet: values for facet, values in facets.items() if values}, frozenset(self.tallies))


_TR = "https://territoires.example/ns/v1#"  # the observatory's vocabulary (territoires-context.jsonld)
_DCT = "http://purl.org/dc/terms/"  # title and description, as the core context names them

# The observatory's project records: what a search reads and what its facets count.
PROJECTS = IndexedType(
    entity_type=_TR + "Project",
    text={_DCT + "title": "title", _TR + "summary": "summary", _DCT + "description": "description",
          _TR + "need": "need", _TR + "carrierName": "carrierName", _TR + "technology": "technology",
          _TR + "pooling": "pooling", _TR + "lessons": "lessons", _TR + "replicability": "replicability"},
    facets={
        "domains": _TR + "domains", "useCases": _TR + "useCases", "status": "https://uri.etsi.org/ngsi-ld/status",
        "carrierKind": _TR + "carrierKind", "populationBand": _TR + "populationBand", "typology": _TR + "typology",
        "region": _TR + "region", "departement": _TR + "departement", "fundingSources": _TR + "fundingSources",
        "connectivity": _TR + "connectivity", "standards": _TR + "standards", "openSource": _TR + "openSource",
        "procurement": _TR + "procurement", "labels": _TR + "labels", "moderation": _TR + "moderation",
        "territories": _TR + "territories",  # who sees a draft: the contributors of its territories
    },
)

# The maturity self-diagnostics (one per territory): no text, only facets. The peer
# distribution (how many published diagnostics of a kind and band are at each level of each
# axis, A1 to A10) is the ``peers`` tally: read, not counted, however many peers there are.
MATURITY_LEVELS = tuple(f"levelA{n}" for n in range(1, 11))
MATURITY = IndexedType(
    entity_type=_TR + "MaturityAssessment",
    facets={"territoryKind": _TR + "territoryKind", "epciKind": _TR + "epciKind",
            "populationBand": _TR + "populationBand", "published": _TR + "published",
            **{level: _TR + level for level in MATURITY_LEVELS}},
    tallies={"peers": Tally(group=("territoryKind", "epciKind", "populationBand"), counted=MATURITY_LEVELS,
                            when={"published": "true"})},
)


class TextIndexer:
    """A ChangeObserver (``broker.changes``) indexing the entities of the configured types."""

    def __init__(self, indexed: Sequence[IndexedType]) -> None:
        self.indexed = {item.entity_type: item for item in indexed}

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return False  # a document is made from the new state alone

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        latest: dict[str, TextDocument | None] = {}  # what each entity ends as: indexed, or not
        for change in changes:
            how = self.how(change.new) if change.new is not None else None
            if how is not None:
                latest[change.entity_id] = how.document(change.new)  # type: ignore[arg-type]
            elif change.old is not None and self.how(change.old) is not None or change.entity_id in latest:
                latest[change.entity_id] = None  # deleted, or no longer of an indexed type
        gone = [entity_id for entity_id, document in latest.items() if document is None]
        if gone:
            session.unindex(gone)
        documents = [document for document in latest.values() if document is not None]
        if documents:
            session.index_documents(documents)

    def how(self, entity: Entity) -> IndexedType | None:
        """How an entity is indexed: by its first indexed type; None if it has none."""
        return next((self.indexed[t] for t in entity.get("type", ()) if t in self.indexed), None)


class TextSearchService:
    """Searches the text index of a tenant; rebuilds it from the stored entities."""

    # Entities read per page when rebuilding.
    REINDEX_PAGE = 500

    def __init__(self, store: Store, indexer: TextIndexer) -> None:
        self.store = store
        self.indexer = indexer

    def search(self, tenant: str, search: TextSearch) -> TextSearchResult:
        """``search`` in ``tenant`` (see ``TextSearch``); ``BadRequestData`` for a bad text or page."""
        with self.store.session(tenant) as session:
            return session.text_search(search)

    def tally(self, tenant: str, indexed: IndexedType, name: str, group: Sequence[str]) -> dict[str, dict[str, int]]:
        """The counts of the tally ``name`` of ``indexed`` in one group (``Tally.group``'s
        values): counted facet -> value -> how many documents."""
        tally, prefix = indexed.tallies[name], Tally.prefix(group)
        counts: dict[str, dict[str, int]] = {facet: {} for facet in tally.counted}
        with self.store.session(tenant) as session:
            for key, n in session.text_tallies(indexed.entity_type, name, prefix).items():
                facet, _, value = key[len(prefix):].partition("=")
                counts.setdefault(facet, {})[value] = n
        return counts

    def reindex(self, tenant: str) -> int:
        """Index again every stored entity of the indexed types of ``tenant`` (entities written
        before their type was indexed, or by an older release); returns how many. One write:
        the tenant's writers wait meanwhile."""
        count = 0
        with self.store.session(tenant, write=True) as session:
            for how in self.indexer.indexed.values():
                for entities in _pages(session, how.entity_type, self.REINDEX_PAGE):
                    session.index_documents([how.document(entity) for entity in entities])
                    count += len(entities)
        return count


def _pages(session: TenantSession, entity_type: str, size: int) -> Iterator[list[Entity]]:
    after = None
    while True:
        page = session.query(EntityQuery(types=TypeName(entity_type), limit=size, after=after))
        if page.entities:
            yield page.entities
        if page.next_cursor is None:
            return
        after = page.next_cursor


def _texts(instances: Sequence[Instance]) -> Iterator[str]:
    """The texts of an attribute's instances: string values (or those of a list), and every
    language of a LanguageProperty."""
    for instance in instances:
        if "languageMap" in instance:
            yield from (text for text in instance["languageMap"].values() if isinstance(text, str))
        else:
            yield from (item for item in _items(instance.get("value")) if isinstance(item, str))


def _facet_values(instances: Sequence[Instance]) -> Iterator[str]:
    """The facet values of an attribute's instances: each scalar of a value, value list,
    vocab or relationship object (booleans as ``true``/``false``)."""
    for instance in instances:
        for member in ("value", "valueList", "vocab", "object", "objectList"):
            for item in _items(instance.get(member)):
                if isinstance(item, dict):  # an objectList item in its expanded form
                    item = item.get("object")
                if isinstance(item, bool):
                    yield "true" if item else "false"
                elif isinstance(item, (str, int, float)):
                    yield str(item)


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]
