"""The project records of the observatory: create, change, read, list, moderate, and their history.

Records are ``Project`` entities of the national tenant ``observatoire`` (created on first
write) under the observatory's @context, written and read through the broker's entity and
temporal services (DESIGN rule 5). Who may do what (issue 4):
- everyone, even anonymous, reads published records;
- a contributor (national role, grant scope ``kind:code`` of the territory it speaks for)
  drafts records serving its territory, edits them, submits them; its edit of a published record
  sends it back to moderation (``submitted``); it sees the drafts of its territory;
- a moderator (or a platform operator) reads and edits every record, publishes or sends back.
Every write replaces the entity whole and stamps ``lastEditor``; the broker's history keeps
each version, from which :meth:`ProjectService.history` tells who changed what, when.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from territoires import clock
from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.principal import Principal, Role
from territoires.broker import Broker
from territoires.broker.contexts import OBSERVATORY_CONTEXT_URL
from territoires.broker.text_index import PROJECTS
from territoires.ngsild.context import Context
from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.ngsild.model import NGSI_LD_NULL
from territoires.ngsild.query import parse_order_by, parse_q, parse_type_expr
from territoires.ngsild.temporal import TemporalParams
from territoires.observatoire import project_record as pr
from territoires.observatoire import similar as likeness
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.outcomes import KpiBindings, bindings, declared
from territoires.observatoire.project_filters import FILTERS, ProjectFilters
from territoires.observatoire.registry import Territory, TerritoryRegistry
from territoires.observatoire.territories import Organisation, TerritoryEntities
from territoires.store.port import EntityQuery, TextSearch, TextSearchResult

TENANT = "observatoire"
CONTEXT_URL = OBSERVATORY_CONTEXT_URL
MAX_PAGE = 100
EXPORT_PAGE = 500
MAX_SIMILAR = 20


@dataclass
class ProjectPage:
    projects: list[dict[str, Any]]
    total: int
    offset: int
    limit: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # filter -> code -> records


@dataclass(frozen=True)
class Rights:
    """What a principal may do with records."""

    authenticated: bool
    moderator: bool
    territories: frozenset[str]     # URNs of the territories it contributes for
    editor: dict[str, str]          # what ``lastEditor`` records of it

    @classmethod
    def of(cls, principal: Principal) -> Rights:
        roles = {grant.role for grant in principal.grants}
        moderator = bool(roles & {Role.OPERATOR, Role.MODERATOR})
        scopes = frozenset(
            scope if scope.startswith(pr.TERRITORY_PREFIX) else pr.TERRITORY_PREFIX + scope
            for grant in principal.grants if grant.role is Role.CONTRIBUTOR and (scope := grant.scope))
        role = "operator" if Role.OPERATOR in roles else "moderator" if moderator else "contributor"
        editor = {"role": role, "name": principal.name or principal.subject}
        if role == "contributor" and scopes:
            editor["scope"] = ", ".join(sorted(s[len(pr.TERRITORY_PREFIX):] for s in scopes))
        return cls(principal.authenticated, moderator, scopes, editor)

    def contributes_to(self, territories: list[str]) -> bool:
        return self.moderator or bool(self.territories & set(territories))

    def require_edit(self, territories: list[str]) -> None:
        if not self.authenticated:
            raise Unauthenticated("writing to the observatory needs a credential: 'Authorization: Bearer <key>'")
        if not self.contributes_to(territories):
            raise Forbidden("only a moderator or a contributor of one of the record's territories may write it "
                            f"(this credential contributes for: {', '.join(sorted(self.territories)) or 'none'})")

    def require_moderator(self) -> None:
        if not self.authenticated:
            raise Unauthenticated("moderation needs a credential: 'Authorization: Bearer <key>'")
        if not self.moderator:
            raise Forbidden("only a moderator of the observatory publishes or sends back a record")


class ProjectService:
    def __init__(self, broker: Broker, registry: TerritoryRegistry | None = None) -> None:
        self.broker = broker
        self.registry = registry or TerritoryRegistry.load()
        self._tenant_ready = False
        self.context: Context = broker.contexts.compile(TENANT, CONTEXT_URL)
        self._names = {self.context.expand(name): name for name in pr.ALL_ATTRIBUTES}
        self._type = parse_type_expr("Project", self.context.expand)
        self.kpis = KpiBindings(broker)
        self.territory_entities = TerritoryEntities(broker, self.registry, TENANT, self.context)

    # ---- writing ----------------------------------------------------------------------------
    def create(self, principal: Principal, record: Any) -> dict[str, Any]:
        """Check and store a new record; its id is ``record["id"]`` (a slug) or made from its title."""
        rights = Rights.of(principal)
        if not isinstance(record, dict):
            raise BadRequestData("a project record is a JSON object of fields")
        checked = pr.check_record(record, self.registry, today=_today())
        rights.require_edit(checked["territories"])
        moderation = self._moderation_asked(rights, record.get("moderation"), default="draft")
        self.kpis.check(principal, checked.get("outcomes", []))
        self.ensure_tenant()
        self.materialise([checked])
        entity_id = pr.project_id(record["id"]) if "id" in record else self._fresh_id(checked["title"])
        body = pr.to_entity(entity_id, self._stored_fields(checked, moderation, rights))
        self.broker.entities.create(TENANT, body, self.context)
        return self.get(principal, entity_id)

    def update(self, principal: Principal, project: str, patch: Any) -> dict[str, Any]:
        """Apply ``patch`` (fields to set; null removes one) and check the whole record again."""
        rights = Rights.of(principal)
        current = self._record(project)
        rights.require_edit(current["territories"])
        if not isinstance(patch, dict):
            raise BadRequestData("a change of a project record is a JSON object of the fields to change")
        merged = {name: value for name, value in current.items() if name in pr.FIELDS}
        merged.update(patch)
        if isinstance(merged.get("outcomes"), list):  # as read (the record's current outcomes, or the patch's)
            merged["outcomes"] = [declared(outcome) for outcome in merged["outcomes"]]
        checked = pr.check_record(merged, self.registry, today=_today())
        rights.require_edit(checked["territories"])  # a contributor cannot hand the record to others
        default = current["moderation"]
        if not rights.moderator and default == "published":
            default = "submitted"  # a published record changed by its territory goes back to moderation
        moderation = self._moderation_asked(rights, patch.get("moderation"), default=default)
        known = frozenset((tenant, entity) for _, tenant, entity in bindings(current.get("outcomes") or ()))
        self.kpis.check(principal, checked.get("outcomes", []), known=known)
        self.materialise([checked])
        body = pr.to_entity(current["id"], self._stored_fields(checked, moderation, rights))
        self.broker.entities.replace(TENANT, current["id"], body, self.context)
        return self.get(principal, current["id"])

    def publish(self, principal: Principal, project: str) -> dict[str, Any]:
        return self._moderate(principal, project, "published")

    def send_back(self, principal: Principal, project: str) -> dict[str, Any]:
        """Back to its contributors as a draft (refused, or to be completed)."""
        return self._moderate(principal, project, "draft")

    def _moderate(self, principal: Principal, project: str, moderation: str) -> dict[str, Any]:
        rights = Rights.of(principal)
        rights.require_moderator()
        current = self._record(project)
        kept = {name: value for name, value in current.items() if name in pr.FIELDS or name in pr.DERIVED}
        body = pr.to_entity(current["id"], {**kept, "moderation": moderation, "lastEditor": rights.editor})
        self.broker.entities.replace(TENANT, current["id"], body, self.context)
        return self.get(principal, current["id"])

    def _stored_fields(self, checked: dict[str, Any], moderation: str, rights: Rights) -> dict[str, Any]:
        return {**checked, **pr.derived(checked["territories"], self.registry), "moderation": moderation,
                "lastEditor": rights.editor}

    @staticmethod
    def _moderation_asked(rights: Rights, asked: Any, *, default: str) -> str:
        if asked is None:
            return default
        vocab.MODERATION.check(asked, "moderation")
        if asked == "published" and not rights.moderator:
            raise Forbidden("only a moderator publishes a record: submit it (\"moderation\": \"submitted\")")
        return asked

    def _fresh_id(self, title: str) -> str:
        slug = pr.slug_of(title)
        with self.broker.store.session(TENANT) as session:
            for n in range(1, 1000):
                candidate = pr.PROJECT_PREFIX + (slug if n == 1 else f"{slug}-{n}")
                if not session.get([candidate]):
                    return candidate
        raise AlreadyExists(f"too many projects are titled like {title!r}: give the record an id")

    def materialise(self, records: Iterable[dict[str, Any]]) -> int:
        """Write the Territory and Organisation entities that records (checked or stored) point
        at (``territories``, ``carrier``) if missing or outdated; returns how many were written."""
        territories: dict[str, Territory] = {}
        carriers: dict[str, Organisation] = {}
        for record in records:
            for item in record.get("territories", ()):
                try:
                    territories[item] = pr.territory_of(item, self.registry)
                except BadRequestData:  # a stored record may name a territory a later registry merged
                    continue
            if "carrier" in record:
                siren = record["carrier"][len(pr.ORGANISATION_PREFIX):]
                carriers[siren] = Organisation(siren, record["carrierName"], record.get("carrierKind"))
        return self.territory_entities.ensure(territories.values(), carriers.values())

    def materialise_territories(self, *, everything: bool = False,
                                progress: Callable[[int, int], None] | None = None) -> int:
        """:meth:`materialise` for every stored record (``everything``: every territory of the
        registry instead, in batches, calling ``progress(done, total)``)."""
        self.ensure_tenant()
        if everything:
            return self.territory_entities.load_all(progress)
        return self.materialise(self._all_records())

    def _all_records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, whatever its moderation, as stored."""
        after = None
        while True:
            page = self.broker.entities.query(TENANT, EntityQuery(types=self._type, limit=EXPORT_PAGE, after=after))
            for entity in page.entities:
                yield pr.from_entity(entity, self._names)
            if page.next_cursor is None:
                return
            after = page.next_cursor

    def ensure_tenant(self) -> None:
        """Create the observatory's tenant if it does not exist yet."""
        if not self._tenant_ready:
            try:
                self.broker.tenants.create(TENANT)
            except AlreadyExists:
                pass
            self._tenant_ready = True

    # ---- reading ----------------------------------------------------------------------------
    def get(self, principal: Principal, project: str) -> dict[str, Any]:
        """The record, if the principal may read it (ResourceNotFound otherwise: a draft is not
        revealed to those who may not see it)."""
        rights = Rights.of(principal)
        return self._shown_all([self._readable_record(project, rights)], rights)[0]

    def _readable_record(self, project: str, rights: Rights) -> dict[str, Any]:
        record = self._record(project)
        if not self._readable(record, rights):
            raise ResourceNotFound(f"no project {record['id']} is published")
        return record

    @staticmethod
    def _readable(record: dict[str, Any], rights: Rights) -> bool:
        return record.get("moderation") == "published" or rights.contributes_to(record["territories"])

    def _record(self, project: str) -> dict[str, Any]:
        entity_id = pr.project_id(project)
        try:
            entity = self.broker.entities.retrieve(TENANT, entity_id)
        except (ResourceNotFound, NonexistentTenant):
            raise ResourceNotFound(f"no project {entity_id} in the observatory") from None
        return pr.from_entity(entity, self._names)

    def _shown_all(self, records: list[dict[str, Any]], rights: Rights) -> list[dict[str, Any]]:
        """Records as shown to ``rights``: editors' names hidden, bound outcomes measured."""
        shown = [self._shown(record, rights) for record in records]
        self.kpis.measure(shown)
        return shown

    @staticmethod
    def _shown(record: dict[str, Any], rights: Rights) -> dict[str, Any]:
        """Who edited is public by role; by name only to moderators (names may be people's)."""
        editor = record.get("lastEditor")
        if isinstance(editor, dict) and not rights.moderator:
            record["lastEditor"] = {k: v for k, v in editor.items() if k != "name"}
        return record

    def search(self, principal: Principal, filters: ProjectFilters, *, offset: int = 0, limit: int = 20,
               counted: tuple[str, ...] = ()) -> ProjectPage:
        """The records ``filters`` select that ``principal`` may read: a page (best first for a
        text, else by id, which is made from the title; ``limit`` 0 for counts only), how many in all, and for each filter of
        ``counted`` (names of ``project_filters.FILTERS``) how many records have each code among
        those the other filters select: its own choice left out, so that its other codes stay
        offered. Selecting, counting and paging run in the database (the text index)."""
        if not 0 <= limit <= MAX_PAGE:
            raise BadRequestData(f"limit must be from 0 to {MAX_PAGE}, not {limit}")
        if offset < 0:
            raise BadRequestData(f"offset cannot be negative: {offset}")
        rights = Rights.of(principal)
        visible = self._visible(filters, rights)
        facet = {name: FILTERS[name].facet for name in counted}
        found = self._search(TextSearch(PROJECTS.entity_type, filters.q, {**filters.facets(), **visible},
                                        tuple(facet[n] for n in counted if n not in filters.chosen), offset, limit))
        counts = {name: found.facets.get(facet[name], {}) for name in counted if name not in filters.chosen}
        for name in counted:
            if name in filters.chosen:
                others = replace(filters, chosen={k: v for k, v in filters.chosen.items() if k != name})
                counts[name] = self._search(TextSearch(PROJECTS.entity_type, filters.q, {**others.facets(), **visible},
                                                       (facet[name],), limit=0)).facets.get(facet[name], {})
        return ProjectPage(self._records(found.ids, rights), found.total, offset, limit, counts)

    def list(self, principal: Principal, filters: ProjectFilters, *, offset: int = 0, limit: int = 20) -> ProjectPage:
        """A page of the records ``filters`` select (``search`` without counts)."""
        if limit < 1:
            raise BadRequestData(f"limit must be from 1 to {MAX_PAGE}, not {limit}")
        return self.search(principal, filters, offset=offset, limit=limit)

    def latest(self, principal: Principal, count: int) -> list[dict[str, Any]]:
        """The ``count`` published records changed last, the latest first."""
        query = EntityQuery(types=self._type, q=parse_q('moderation=="published"', self.context.expand),
                            order_by=parse_order_by("modifiedAt;desc", self.context.expand), limit=count)
        try:
            entities = self.broker.entities.query(TENANT, query).entities
        except NonexistentTenant:
            return []
        return self._shown_all([pr.from_entity(entity, self._names) for entity in entities], Rights.of(principal))

    def export(self, principal: Principal, filters: ProjectFilters) -> Iterator[dict[str, Any]]:
        """Every record the filters select, in pages read one after the other."""
        rights = Rights.of(principal)
        where = {**filters.facets(), **self._visible(filters, rights)}
        offset = 0
        while True:
            found = self._search(TextSearch(PROJECTS.entity_type, filters.q, where, offset=offset, limit=EXPORT_PAGE))
            yield from self._records(found.ids, rights)
            if len(found.ids) < EXPORT_PAGE:
                return
            offset += EXPORT_PAGE

    def _search(self, search: TextSearch) -> TextSearchResult:
        try:
            return self.broker.text_search.search(TENANT, search)
        except NonexistentTenant:
            return TextSearchResult([], 0, {facet: {} for facet in search.facets})

    def _records(self, ids: list[str], rights: Rights) -> list[dict[str, Any]]:
        """The records of these ids, in their order, as ``rights`` sees them."""
        if not ids:
            return []
        page = self.broker.entities.query(TENANT, EntityQuery(types=self._type, ids=tuple(ids), limit=len(ids)))
        by_id = {entity["id"]: entity for entity in page.entities}
        return self._shown_all([pr.from_entity(by_id[i], self._names) for i in ids if i in by_id], rights)

    @staticmethod
    def _visible(filters: ProjectFilters, rights: Rights) -> dict[str, tuple[str, ...]]:
        """The filter that keeps records not yet published to those who may see them."""
        if filters.moderation == "published":
            return {}
        if not rights.authenticated:
            raise Unauthenticated("records not yet published are shown to their contributors and moderators: "
                                  "give 'Authorization: Bearer <key>'")
        if rights.moderator:
            return {}
        if not rights.territories:
            raise Forbidden("records not yet published are shown to their contributors and moderators only")
        return {"territories": tuple(sorted(rights.territories))}

    # ---- similar records ---------------------------------------------------------------------
    def similar(self, principal: Principal, project: str, *, limit: int = 6) -> list[dict[str, Any]]:
        """The records most like ``project`` that the principal may read, most similar first,
        each with ``reasons`` (French) and ``distanceKm`` (see ``observatoire.similar``)."""
        if not 1 <= limit <= MAX_SIMILAR:
            raise BadRequestData(f"limit must be from 1 to {MAX_SIMILAR}, not {limit}")
        rights = Rights.of(principal)
        record = self._readable_record(project, rights)
        found: dict[str, dict[str, Any]] = {}
        for facet in ("useCases", "domains"):
            ids = [i for i in self._candidate_ids(record, facet, rights) if i not in found and i != record["id"]]
            if ids:
                page = self.broker.entities.query(TENANT, EntityQuery(types=self._type, ids=tuple(ids),
                                                                      limit=len(ids)))
                for entity in page.entities:
                    candidate = pr.from_entity(entity, self._names)
                    if self._readable(candidate, rights):
                        found[candidate["id"]] = candidate
            if len(found) >= limit:  # sharing a use case ranks first: domains only fill up
                break
        return self._shown_all(likeness.rank(record, list(found.values()), limit), rights)

    def _candidate_ids(self, record: dict[str, Any], facet: str, rights: Rights) -> list[str]:
        """Ids of records sharing a value of ``facet`` with ``record``, found in the text index:
        the widest filters holding at most ``similar.CANDIDATES`` records, else the narrowest."""
        # Only moderators and contributors read unpublished records: others' are filtered in SQL.
        base = {} if rights.moderator or rights.territories else {"moderation": ("published",)}
        ids: list[str] = []
        for filters in likeness.candidate_filters(record, facet):
            found = self.broker.text_search.search(TENANT, TextSearch(
                PROJECTS.entity_type, filters={**filters, **base}, limit=likeness.CANDIDATES))
            ids = found.ids
            if found.total <= likeness.CANDIDATES:
                break
        return ids

    # ---- history ----------------------------------------------------------------------------
    def history(self, principal: Principal, project: str) -> list[dict[str, Any]]:
        """Each change, oldest first: ``{"at", "by", "changes": {field: new value, None if removed}}``.
        The first holds the record as created."""
        rights = Rights.of(principal)
        record = self.get(principal, project)
        page = self.broker.temporal.retrieve(TENANT, record["id"], (), TemporalParams(timeproperty="modifiedAt"))
        versions: dict[str, dict[str, Any]] = {}
        for series in page.entities[0].series:
            name = self._names.get(series.attr)
            if name is None:
                continue
            for recorded in series.instances:
                value = None if recorded.deleted_at else pr.instance_value(recorded.instance)
                versions.setdefault(recorded.modified_at, {})[name] = None if value == NGSI_LD_NULL else value
        events: list[dict[str, Any]] = []
        state: dict[str, Any] = {}
        for at in sorted(versions):
            version = versions[at]
            changes = {name: value for name, value in version.items()
                       if name != "lastEditor" and state.get(name) != value}
            state.update(version)
            by = self._shown({"lastEditor": version.get("lastEditor")}, rights)["lastEditor"]
            if changes:
                events.append({"at": at, "by": by, "changes": changes})
        return events


def _today() -> date:
    return date.fromisoformat(clock.now()[:10])
