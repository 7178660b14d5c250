"""The maturity diagnostics of territories: submit, read, publish, history, peers, recommendations.

A territory's current diagnostic is one ``MaturityAssessment`` entity of the national tenant
``observatoire``, ``urn:ngsi-ld:MaturityAssessment:<kind>:<code>``, written and read through the
broker's services (DESIGN rule 5). Each submission replaces it whole; the broker's history keeps
every version, from which :meth:`AssessmentService.history` shows the progress over time.

Who may do what (issue 4, same rights as the project records, ``projects.Rights``):
- the contributors of the territory (national role ``contributor``, scope ``kind:code``) and
  the moderators submit, publish and withdraw it;
- until it is published only they read it: to anyone else it does not exist (ResourceNotFound,
  as a project draft); once published, everyone reads it, its history and recommendations.
A published diagnostic stays published when it is submitted again: the territory chose to show
it, and withdraws it with :meth:`unpublish`.

Peers are the territories of the same kind (for an EPCI, the same legal form: CC, CA, CU,
métropole) and population band with a published diagnostic: their distribution of levels per
axis is one counting search of the text index (``broker.text_index.MATURITY``) in the database.
It is a distribution, never a rank.

Recommendations (``maturity.recommendations``) link each next step to:
- published catalogue projects of comparable territories (same kind, or same population band)
  whose own published diagnostic reached that level on that axis, those of the axis' domains
  first (``basis: "reached-level"``); failing any, published projects of the axis' domains in
  territories of the same band, labelled so (``basis: "domain"``);
- the indicators (``indicators.py``) of the axis' domains. The axes whose domains are the
  territory's own services (A6 connected services, A7 measurement) take the domains of the
  projects serving the territory in the catalogue, and the axis' default domains without any.
  A2 (organisation and skills) has no domain: no indicator of the list measures it, and its
  steps link only projects of territories that reached the level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from territoires import clock
from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.principal import ANONYMOUS, Principal
from territoires.broker import Broker
from territoires.broker.text_index import MATURITY
from territoires.ngsild.errors import AlreadyExists, NonexistentTenant, ResourceNotFound
from territoires.ngsild.query import parse_q, parse_type_expr
from territoires.ngsild.temporal import TemporalParams
from territoires.observatoire import indicators as kpis
from territoires.observatoire import maturity
from territoires.observatoire import project_record as pr
from territoires.observatoire.bands import BANDS_BY_CODE
from territoires.observatoire.project_filters import ProjectFilters
from territoires.observatoire.projects import TENANT, ProjectService, Rights
from territoires.observatoire.registry import Territory, TerritoryRegistry, urn
from territoires.store.port import EntityQuery, TextSearch, TextSearchResult

ASSESSMENT_PREFIX = "urn:ngsi-ld:MaturityAssessment:"
ATTRIBUTES = ("refTerritory", "territoryKind", "epciKind", "populationBand", "answers", "published", "assessedAt",
              *(f"level{axis}" for axis in maturity.axis_ids()))
PROJECTS_PER_STEP = 3
INDICATORS_PER_STEP = 6
# Comparable territories read per search when linking projects to a step (the most are enough
# to find a few projects; a search pages at most 1000).
COMPARABLE_LIMIT = 200


def assessment_id(territory: Territory) -> str:
    return f"{ASSESSMENT_PREFIX}{territory.kind}:{territory.code}"


def _territory_urn_of(entity_id: str) -> str:
    return pr.TERRITORY_PREFIX + entity_id.removeprefix(ASSESSMENT_PREFIX)


class AssessmentService:
    def __init__(self, broker: Broker, registry: TerritoryRegistry | None = None,
                 projects: ProjectService | None = None) -> None:
        self.broker = broker
        self.projects = projects or ProjectService(broker, registry)
        self.registry = registry or self.projects.registry
        self.context = self.projects.context
        self._names = {self.context.expand(name): name for name in ATTRIBUTES}
        self._project_names = {self.context.expand(name): name for name in pr.ALL_ATTRIBUTES}
        self._project_type = parse_type_expr("Project", self.context.expand)

    # ---- writing ----------------------------------------------------------------------------
    def submit(self, principal: Principal, kind: str, code: str, answers: Any) -> dict[str, Any]:
        """Record a new diagnostic of the territory from its answers (every question answered)."""
        territory = self.registry.get(kind, code)
        self._require_writer(principal, territory)
        checked = maturity.check_answers(answers)
        current = self._stored(territory)
        published = bool(current and current.get("published"))
        body = self.entity_body(territory, checked, published, clock.now())
        self._write(territory, body, exists=current is not None)
        return self.get(principal, kind, code)

    def publish(self, principal: Principal, kind: str, code: str) -> dict[str, Any]:
        return self._set_published(principal, kind, code, True)

    def unpublish(self, principal: Principal, kind: str, code: str) -> dict[str, Any]:
        """Make the diagnostic private again (its territory and the moderators only)."""
        return self._set_published(principal, kind, code, False)

    def _set_published(self, principal: Principal, kind: str, code: str, published: bool) -> dict[str, Any]:
        territory = self.registry.get(kind, code)
        self._require_writer(principal, territory)
        current = self._stored(territory)
        if current is None:
            raise ResourceNotFound(f"{territory.kind} {territory.code} ({territory.name}) has no diagnostic yet: "
                                   "submit one first")
        body = self.entity_body(territory, current["answers"], published, current["assessedAt"])
        self._write(territory, body, exists=True)
        return self.get(principal, kind, code)

    def entity_body(self, territory: Territory, answers: Mapping[str, str], published: bool,
                assessed_at: str) -> dict[str, Any]:
        """The NGSI-LD body (short names, the observatory's @context) of a territory's diagnostic."""
        body: dict[str, Any] = {
            "id": assessment_id(territory), "type": "MaturityAssessment",
            "refTerritory": {"type": "Relationship", "object": urn(territory)},
            "territoryKind": {"type": "Property", "value": territory.kind},
            "answers": {"type": "JsonProperty", "json": dict(answers)},
            "published": {"type": "Property", "value": published},
            "assessedAt": {"type": "Property", "value": assessed_at},
        }
        if territory.epci_kind:
            body["epciKind"] = {"type": "Property", "value": territory.epci_kind}
        if territory.band:
            body["populationBand"] = {"type": "Property", "value": territory.band}
        for axis, level in maturity.levels(answers).items():
            body[f"level{axis}"] = {"type": "Property", "value": level}
        return body

    def _write(self, territory: Territory, body: dict[str, Any], *, exists: bool) -> None:
        if not exists:
            try:
                self.broker.tenants.create(TENANT)
            except AlreadyExists:
                pass  # the observatory's tenant exists: it holds the project records
            try:
                self.broker.entities.create(TENANT, body, self.context)
                return
            except AlreadyExists:
                pass  # submitted meanwhile by another request: this one replaces it
        self.broker.entities.replace(TENANT, body["id"], body, self.context)

    @staticmethod
    def _require_writer(principal: Principal, territory: Territory) -> None:
        rights = Rights.of(principal)
        if not rights.authenticated:
            raise Unauthenticated("a diagnostic is written by its territory: sign in, or give "
                                  "'Authorization: Bearer <key>'")
        if not rights.contributes_to([urn(territory)]):
            raise Forbidden(f"only the contributors of {territory.kind} {territory.code} ({territory.name}) and the "
                            "moderators write its diagnostic (this credential contributes for: "
                            f"{', '.join(sorted(rights.territories)) or 'none'})")

    # ---- reading ----------------------------------------------------------------------------
    def get(self, principal: Principal, kind: str, code: str) -> dict[str, Any]:
        """The territory's current diagnostic, if the principal may read it (ResourceNotFound
        otherwise, the same as when there is none)."""
        territory = self.registry.get(kind, code)
        return self._readable(principal, territory)

    def _readable(self, principal: Principal, territory: Territory) -> dict[str, Any]:
        current = self._stored(territory)
        if current is None or not (current["published"] or Rights.of(principal).contributes_to([urn(territory)])):
            raise ResourceNotFound(f"{territory.kind} {territory.code} ({territory.name}) has no published diagnostic")
        return current

    def _stored(self, territory: Territory) -> dict[str, Any] | None:
        try:
            entity = self.broker.entities.retrieve(TENANT, assessment_id(territory))
        except (ResourceNotFound, NonexistentTenant):
            return None
        stored = pr.from_entity(entity, self._names)
        return {
            "id": entity["id"], "territory": _shown_territory(territory),
            "levels": {axis: stored.get(f"level{axis}", 1) for axis in maturity.axis_ids()},
            "answers": stored.get("answers", {}), "published": bool(stored.get("published")),
            "assessedAt": stored.get("assessedAt"), "modifiedAt": stored["modifiedAt"],
        }

    def history(self, principal: Principal, kind: str, code: str) -> list[dict[str, Any]]:
        """What happened to the diagnostic, oldest first: ``{"at", "event": "submitted", "levels"}``
        for each submission, ``{"at", "event": "published" | "unpublished"}`` when that changed."""
        territory = self.registry.get(kind, code)
        current = self._readable(principal, territory)
        page = self.broker.temporal.retrieve(TENANT, current["id"], (), TemporalParams(timeproperty="modifiedAt"))
        versions: dict[str, dict[str, Any]] = {}
        for series in page.entities[0].series:
            name = self._names.get(series.attr)
            if name is None:
                continue
            for recorded in series.instances:
                if not recorded.deleted_at:
                    versions.setdefault(recorded.modified_at, {})[name] = pr.instance_value(recorded.instance)
        events: list[dict[str, Any]] = []
        state: dict[str, Any] = {}
        for at in sorted(versions):
            version = versions[at]
            if version.get("assessedAt") != state.get("assessedAt"):
                levels = {axis: version.get(f"level{axis}", 1) for axis in maturity.axis_ids()}
                events.append({"at": version.get("assessedAt", at), "event": "submitted", "levels": levels})
            if "published" in version and bool(version["published"]) != bool(state.get("published")):
                events.append({"at": at, "event": "published" if version["published"] else "unpublished"})
            state.update(version)
        return events

    # ---- peers ------------------------------------------------------------------------------
    def peers(self, principal: Principal, kind: str, code: str) -> dict[str, Any]:
        """The levels, axis by axis, of the published diagnostics of the territory's peers:
        ``{"total", "kind", "epciKind", "populationBand", "axes": [{"axis", "counts": {level: n},
        "median", "own"}]}``. ``own`` is the territory's level, when the principal may read its
        diagnostic; the territory's published diagnostic counts among the peers."""
        territory = self.registry.get(kind, code)
        try:
            own: dict[str, int] | None = self._readable(principal, territory)["levels"]
        except ResourceNotFound:
            own = None
        return self._peers(territory, own)

    def _peers(self, territory: Territory, own: Mapping[str, int] | None) -> dict[str, Any]:
        axes = maturity.axis_ids()
        shown: dict[str, Any] = {"kind": territory.kind, "epciKind": territory.epci_kind,
                                 "populationBand": territory.band, "total": 0}
        counts: dict[str, dict[str, int]] = {}
        if territory.band is not None:  # a territory without a known population has no peers
            try:
                counts = self.broker.text_search.tally(
                    TENANT, MATURITY, "peers", (territory.kind, territory.epci_kind or "", territory.band))
            except NonexistentTenant:
                counts = {}
            shown["total"] = sum(counts.get(f"level{axes[0]}", {}).values())  # one level per axis each
        shown["axes"] = []
        for axis in axes:
            by_level = {level: counts.get(f"level{axis}", {}).get(str(level), 0) for level in maturity.LEVELS}
            shown["axes"].append({"axis": axis, "counts": {str(level): n for level, n in by_level.items()},
                                  "median": maturity.median_level(by_level),
                                  "own": own.get(axis) if own is not None else None})
        return shown

    def _search(self, search: TextSearch) -> TextSearchResult:
        try:
            return self.broker.text_search.search(TENANT, search)
        except NonexistentTenant:
            return TextSearchResult([], 0, {})

    # ---- recommendations --------------------------------------------------------------------
    def recommendations(self, principal: Principal, kind: str, code: str) -> dict[str, Any]:
        """The next steps of the territory's diagnostic, most pressing first (``maturity.recommendations``),
        each with projects of comparable territories and indicators (module docstring)."""
        territory = self.registry.get(kind, code)
        current = self._readable(principal, territory)
        peers = self._peers(territory, current["levels"])
        medians = {item["axis"]: item["median"] for item in peers["axes"]}
        steps = maturity.recommendations(current["levels"], current["answers"], medians)
        own_domains = self._territory_domains(territory)
        shown = []
        for step in steps:
            projects, basis = self._projects_for(territory, step.axis, step.level)
            shown.append({
                "axis": step.axis.id, "axisName": step.axis.name.as_json(), "level": step.level,
                "levelName": step.axis.level(step.level).name.as_json(),
                "currentLevel": current["levels"][step.axis.id], "peerMedian": medians.get(step.axis.id),
                "gap": step.gap, "criteria": [{"id": c.id, "text": c.text.as_json()} for c in step.unmet],
                "projects": projects, "projectsBasis": basis,
                "indicators": self._indicators(step.axis, own_domains),
            })
        return {"territory": current["territory"], "levels": current["levels"], "peers": peers["total"],
                "recommendations": shown}

    def _projects_for(self, territory: Territory, axis: maturity.Axis, level: int) -> tuple[list[dict[str, Any]], str | None]:
        reached = tuple(str(n) for n in maturity.LEVELS if n >= level)
        comparable: dict[str, None] = {}
        for facet, value in (("territoryKind", territory.kind), ("populationBand", territory.band)):
            if value is None:
                continue
            found = self._search(TextSearch(MATURITY.entity_type, limit=COMPARABLE_LIMIT, filters={
                facet: (value,), "published": ("true",), f"level{axis.id}": reached}))
            comparable.update(dict.fromkeys(_territory_urn_of(entity_id) for entity_id in found.ids))
        comparable.pop(urn(territory), None)
        if comparable:
            terms = ",".join(f'"{item}"' for item in comparable)
            entities = self._published_projects(f"territories=={terms}", limit=50)
            entities.sort(key=lambda p: not set(p.get("domains") or ()) & set(axis.domains))
            if entities:
                return [_shown_project(p) for p in entities[:PROJECTS_PER_STEP]], "reached-level"
        fallback: dict[str, dict[str, Any]] = {}
        band = {"populationBand": (territory.band,)} if territory.band else {}
        for domain in axis.domains:
            page = self.projects.list(ANONYMOUS, ProjectFilters({"domain": (domain,), **band}), limit=PROJECTS_PER_STEP)
            fallback.update((p["id"], p) for p in page.projects)
            if len(fallback) >= PROJECTS_PER_STEP:
                break
        found_projects = [_shown_project(p) for p in list(fallback.values())[:PROJECTS_PER_STEP]]
        return found_projects, "domain" if found_projects else None

    def _published_projects(self, condition: str, *, limit: int) -> list[dict[str, Any]]:
        query = EntityQuery(types=self._project_type, limit=limit,
                            q=parse_q(f'moderation=="published";{condition}', self.context.expand))
        try:
            page = self.broker.entities.query(TENANT, query)
        except NonexistentTenant:
            return []
        return [pr.from_entity(entity, self._project_names) for entity in page.entities]

    def _territory_domains(self, territory: Territory) -> tuple[str, ...]:
        """The domains of the published projects serving the territory, most frequent first."""
        counted: dict[str, int] = {}
        for project in self._published_projects(f'territories=="{urn(territory)}"', limit=100):
            for domain in project.get("domains") or ():
                counted[domain] = counted.get(domain, 0) + 1
        return tuple(sorted(counted, key=lambda d: -counted[d]))

    @staticmethod
    def _indicators(axis: maturity.Axis, own_domains: tuple[str, ...]) -> list[dict[str, Any]]:
        domains = axis.domains
        if axis.territory_domains:
            measured = tuple(d for d in own_domains if kpis.for_domain(d))
            domains = measured or axis.domains
        chosen = [item for domain in domains for item in kpis.for_domain(domain)][:INDICATORS_PER_STEP]
        return [{"num": i.num, "domain": i.domain, "name": i.name, "nameEn": i.name_en, "unit": i.unit,
                 "unitEn": i.unit_en, "reference": i.reference} for i in chosen]


def _shown_territory(territory: Territory) -> dict[str, Any]:
    band = BANDS_BY_CODE.get(territory.band) if territory.band else None
    return {"id": urn(territory), "kind": territory.kind, "code": territory.code, "name": territory.name,
            "epciKind": territory.epci_kind, "populationBand": territory.band,
            "populationBandLabel": band.label if band else None}


def _shown_project(project: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": project["id"], "title": project.get("title"), "summary": project.get("summary"),
            "carrierName": project.get("carrierName"), "territories": project.get("territories", []),
            "domains": project.get("domains", [])}
