"""The observatory's catalogue pages: home, search with facets, a project's record, the map,
and the forms contributors and moderators use.

Thin, like the JSON API: parse, call ``ProjectService`` (and the broker's text search for the
facet counts) with the principal the gate has set, render. Who may read a draft, write or
moderate a record is the service's rule; the pages only choose what to offer (an edit link, a
« Publier » button) from the same ``Rights``.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from territoires.api.http import call
from territoires.auth.errors import Forbidden
from territoires.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from territoires.observatoire import project_record as pr
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.outcomes import declared
from territoires.observatoire.project_filters import ProjectFilters
from territoires.observatoire.projects import ProjectPage, ProjectService, Rights
from territoires.observatoire.registry import EPCI_KIND_LABELS, Territory, TerritoryRegistry
from territoires.web import catalogue_map
from territoires.web.pages import (
    checked_form,
    gettext,
    href,
    language,
    page_number,
    principal_of,
    problem_page,
    render,
    sign_in_first,
    translator,
    whole_number,
)

BASE = "/observatoire"
PAGE_SIZE = 20
LATEST = 5
MAP_LIMIT = 2000           # points drawn on the map; beyond, the list says how many are left out
SIMILAR = 6
API = "/api/observatoire/v1"

KIND_LABELS = {"commune": "Commune", "epci": "Intercommunalité", "departement": "Département", "region": "Région"}

# Labels of the record's fields, for the history, the form and its errors.
FIELD_LABELS: dict[str, str] = {
    "title": "Titre", "summary": "Résumé", "description": "Description", "need": "Besoin",
    "carrierName": "Porteur", "carrier": "SIREN du porteur", "carrierKind": "Nature du porteur",
    "territories": "Territoires desservis", "typology": "Typologie", "domains": "Domaines", "useCases": "Cas d'usage",
    "status": "État d'avancement", "startDate": "Date de début", "goLiveDate": "Date de mise en service",
    "endDate": "Date de fin", "connectivity": "Connectivité", "technology": "Technologie", "standards": "Standards",
    "openSource": "Logiciel libre", "funding": "Financement", "fundingSources": "Sources de financement",
    "totalCost": "Coût total", "procurement": "Mode d'achat", "pooling": "Mutualisation", "outcomes": "Résultats",
    "labels": "Labels", "datasets": "Jeux de données", "provenance": "Provenance", "contact": "Contact",
    "moderation": "État de modération", "populationBand": "Strate de population", "region": "Régions",
    "departement": "Départements", "location": "Position",
}


# ---- the service -----------------------------------------------------------------------------
def projects(request: Request) -> ProjectService:
    return request.app.state.observatory.projects


def not_found(request: Request, detail: str) -> Response:
    return problem_page(request, 404, detail, back=(BASE + "/projets", "Retour au catalogue des projets"))


# ---- facets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Facet:
    name: str                       # the page's query parameter
    legend: str                     # French (the template translates it)
    terms: Mapping[str, str]        # code -> label in the page's language, in display order
    api: str                        # the filter of the same meaning (project_filters.FILTERS), for the JSON API


@lru_cache(maxsize=8)
def facets(registry: TerritoryRegistry, lang: str) -> tuple[Facet, ...]:
    """The search page's facets, their values labelled in ``lang`` (régions keep their names)."""
    labels = _labels(lang)
    regions = {t.code: t.name for t in sorted(registry.territories("region"), key=lambda t: t.name)}
    return (
        Facet("domains", "Domaine", labels["domains"], "domain"),
        Facet("useCases", "Cas d'usage", labels["useCases"], "useCase"),
        Facet("status", "État d'avancement", labels["status"], "status"),
        Facet("carrierKind", "Nature du porteur", labels["carrierKind"], "carrierKind"),
        Facet("populationBand", "Strate de population", labels["populationBand"], "populationBand"),
        Facet("region", "Région", regions, "region"),
        Facet("fundingSources", "Financement", labels["fundingSources"], "funding"),
        Facet("connectivity", "Connectivité", labels["connectivity"], "connectivity"),
        Facet("standards", "Standards", labels["standards"], "standard"),
        Facet("labels", "Labels et appels remportés", labels["labels"], "label"),
    )


@dataclass
class Search:
    """What the search form asks: a text and, per facet, the values accepted (OR within a
    facet, AND across facets); which records (published ones, or the drafts and submitted ones
    its contributors and moderators see)."""

    text: str
    chosen: dict[str, tuple[str, ...]]
    page: int
    moderation: str = "published"

    @classmethod
    def of(cls, request: Request, facet_list: tuple[Facet, ...]) -> tuple[Search, list[str]]:
        """The search and the French problems of its parameters (unknown values are dropped)."""
        params = request.query_params
        problems: list[str] = []
        chosen: dict[str, tuple[str, ...]] = {}
        for facet in facet_list:
            values = tuple(dict.fromkeys(v for v in params.getlist(facet.name) if v))
            unknown = [v for v in values if v not in facet.terms]
            if unknown:
                problems.append(gettext(request, "« {legend} » : valeur inconnue {values}.",
                                        legend=gettext(request, facet.legend), values=", ".join(unknown)[:200]))
            kept = tuple(v for v in values if v in facet.terms)
            if kept:
                chosen[facet.name] = kept
        raw_page = params.get("page", "1")
        page = page_number(raw_page)
        if raw_page != str(page):
            problems.append(gettext(request, "Le numéro de page « {page} » n'est pas un entier positif.",
                                    page=raw_page[:20]))
        moderation = params.get("moderation", "published")
        if moderation not in vocab.MODERATION.terms:
            problems.append(gettext(request, "« {legend} » : valeur inconnue {values}.",
                                    legend=gettext(request, vocab.MODERATION.label), values=moderation[:40]))
            moderation = "published"
        return cls(params.get("q", "").strip()[:500], chosen, page, moderation), problems

    def filters(self, facet_list: tuple[Facet, ...]) -> ProjectFilters:
        """The same search, as the project service (and the JSON API) take it."""
        api = {facet.name: facet.api for facet in facet_list}
        return ProjectFilters({api[name]: values for name, values in self.chosen.items()}, self.moderation,
                              self.text or None)

    def params(self, **change: Any) -> list[tuple[str, str]]:
        """The query parameters of this search (for links), with ``change`` applied."""
        items = [("q", self.text)] if self.text else []
        items += [(name, value) for name, values in self.chosen.items() for value in values]
        if self.moderation != "published":
            items.append(("moderation", self.moderation))
        page = change.get("page", self.page)
        if page != 1:
            items.append(("page", str(page)))
        return items


def export_links(search: Search, facet_list: tuple[Facet, ...]) -> dict[str, str]:
    """The JSON API's export URLs of this search: the same records, whatever the filters."""
    query = urlencode(search.filters(facet_list).params())
    return {kind: f"{API}/projects.{kind}" + (f"?{query}" if query else "") for kind in ("csv", "json")}


# ---- pages: home, search ---------------------------------------------------------------------
async def home(request: Request) -> Response:
    service = projects(request)
    principal = principal_of(request)

    def gather() -> tuple[dict[str, int], int, list[dict[str, Any]]]:
        counted = service.search(principal, ProjectFilters(), limit=0, counted=("domain",))
        return counted.counts["domain"], counted.total, service.latest(principal, LATEST)

    by_domain, total, latest = await call(request, gather)
    labels = _labels(language(request))
    domains = [(code, label, by_domain[code]) for code, label in labels["domains"].items() if by_domain.get(code)]
    return render(request, "catalogue_home.html", {"total": total, "domains": domains, "latest": latest,
                                                   "labels": labels})


async def search_page(request: Request) -> Response:
    service = projects(request)
    facet_list = facets(service.registry, language(request))
    search, problems = Search.of(request, facet_list)
    offset = (search.page - 1) * PAGE_SIZE
    try:
        results = await call(request, service.search, principal_of(request), search.filters(facet_list),
                             offset=offset, limit=PAGE_SIZE, counted=tuple(facet.api for facet in facet_list))
    except BadRequestData:  # a text with nothing to search in it ("?!"), or too long
        problems.append(gettext(request, "Le texte recherché ne contient aucun mot à chercher : "
                                         "saisissez un ou plusieurs mots."))
        results = ProjectPage([], 0, offset, PAGE_SIZE)
    pages = max(math.ceil(results.total / PAGE_SIZE), 1)

    def page_link(number: int) -> str:
        return _with_query(request, BASE + "/projets", search.params(page=number))

    links = {"prev": page_link(search.page - 1) if search.page > 1 else None,
             "next": page_link(search.page + 1) if search.page < pages else None}
    groups = [{"facet": facet, "chosen": search.chosen.get(facet.name, ()),
               "values": [(code, label, results.counts.get(facet.api, {}).get(code, 0))
                          for code, label in facet.terms.items()
                          if results.counts.get(facet.api, {}).get(code) or code in search.chosen.get(facet.name, ())]}
              for facet in facet_list]
    rights = Rights.of(principal_of(request))
    context = {"search": search, "results": results, "groups": groups, "problems": problems, "page": search.page,
               "moderation": vocab.MODERATION if rights.authenticated and (rights.moderator or rights.territories)
               else None,
               "pages": pages, "links": links, "exports": export_links(search, facet_list),
               "labels": _labels(language(request)),
               "first": offset + 1, "last": offset + len(results.projects)}
    return render(request, "catalogue_search.html", context, status=400 if problems else 200)


def _with_query(request: Request, path: str, params: list[tuple[str, str]]) -> str:
    if request.query_params.get("lang") == "en":
        params = [*params, ("lang", "en")]
    return path + ("?" + urlencode(params) if params else "")


@lru_cache(maxsize=2)
def _labels(lang: str) -> dict[str, Mapping[str, str]]:
    """Code -> label in ``lang`` of each vocabulary, for the templates (made once per language)."""
    _ = translator(lang)
    return {name: {code: _(label) for code, label in vocabulary.terms.items()}
            for name, vocabulary in vocab.VOCABULARIES.items()}


# ---- page: a project's record --------------------------------------------------------------
@dataclass(frozen=True)
class TerritoryShown:
    name: str
    kind: str                 # French
    code: str                 # INSEE code (an EPCI's SIREN)
    population: int | None
    region: str | None        # the région whose projects a link lists


def territory_shown(registry: TerritoryRegistry, item: str) -> TerritoryShown:
    territory: Territory = pr.territory_of(item, registry)
    kind = EPCI_KIND_LABELS.get(territory.epci_kind or "", KIND_LABELS[territory.kind])
    region = territory.code if territory.kind == "region" else territory.region
    return TerritoryShown(territory.name, kind, territory.code, territory.population, region)


async def project_page(request: Request) -> Response:
    service = projects(request)
    principal = principal_of(request)
    project = request.path_params["id"]

    try:  # three reads of the store, side by side when it waits on a database server
        record, history, similar = await asyncio.gather(
            call(request, service.get, principal, project), call(request, service.history, principal, project),
            call(request, service.similar, principal, project, limit=SIMILAR))
    except (ResourceNotFound, BadRequestData):
        return not_found(request, gettext(request, "Aucune fiche projet publiée ne porte l'identifiant « {id} ».",
                                          id=project[:120]))
    found = {"record": record, "history": history, "similar": similar,
             "territories": [territory_shown(service.registry, item) for item in record["territories"]]}
    rights = Rights.of(principal)
    outcomes = [_outcome_row(item) for item in record.get("outcomes") or ()]
    context = {**found, "outcomes": outcomes, "labels": _labels(language(request)), "field_labels": FIELD_LABELS,
               "may_edit": rights.authenticated and rights.contributes_to(record["territories"]),
               "may_moderate": rights.authenticated and rights.moderator,
               "slug": record["id"][len(pr.PROJECT_PREFIX):], "notice": request.query_params.get("fait")}
    return render(request, "catalogue_project.html", context)


def _outcome_row(outcome: dict[str, Any]) -> dict[str, Any]:
    """An outcome as its table row shows it: measured by the platform (a bound KPI) or declared."""
    measured = outcome.get("measured")
    after = outcome.get("after") if isinstance(outcome.get("after"), dict) else {}
    baseline = outcome.get("baseline") if isinstance(outcome.get("baseline"), dict) else {}
    return {"indicator": outcome.get("indicator", ""), "unit": outcome.get("unit", ""),
            "baseline": baseline.get("value"), "baseline_date": baseline.get("date"),
            "after": after.get("value"), "after_date": after.get("date"), "method": outcome.get("method"),
            "source": outcome.get("source"), "measured": measured, "bound": "kpi" in outcome,
            "reason": outcome.get("measuredReason"), "declared_after": outcome.get("declaredAfter")}


# ---- page: the map ---------------------------------------------------------------------------
async def map_page(request: Request) -> Response:
    service = projects(request)
    principal = principal_of(request)

    def gather() -> list[dict[str, Any]]:
        records = []
        for record in service.export(principal, ProjectFilters()):
            records.append(record)
            if len(records) > MAP_LIMIT:
                break
        return records

    records = await call(request, gather)
    outline = catalogue_map.outline(service.registry)
    placed, elsewhere = [], []
    for record in records[:MAP_LIMIT]:
        point = (record.get("location") or {}).get("coordinates")
        spot = outline.place(point[0], point[1]) if outline is not None and point else None
        (placed if spot else elsewhere).append({"record": record, "slug": record["id"][len(pr.PROJECT_PREFIX):],
                                               "x": spot[0] if spot else None, "y": spot[1] if spot else None})
    return render(request, "catalogue_map.html", {"outline": outline, "placed": placed, "elsewhere": elsewhere,
                                                  "left_out": len(records) > MAP_LIMIT, "limit": MAP_LIMIT,
                                                  "labels": _labels(language(request))})


# ---- forms: draft, edit, moderate ----------------------------------------------------------
FORM_TEXTS = ("title", "summary", "description", "need", "carrierName", "technology", "pooling", "lessons",
              "replicability", "contact")
FORM_CODES = ("carrierKind", "status", "procurement", "typology")
FORM_LISTS = ("domains", "useCases", "connectivity", "fundingSources")
FORM_DATES = ("startDate", "goLiveDate", "endDate")
# An outcome's fields in the form: one row per outcome of the record, and one more to add one.
OUTCOME_FIELDS = {"indicator": "indicateur", "unit": "unité", "baseline": "valeur avant", "after": "valeur après",
                  "after_date": "date de la valeur après", "method": "méthode", "source": "source"}
MAX_OUTCOME_ROWS = 20
# The fields in the order the form shows them: the error summary follows it ("outcomes": the rows).
FORM_ORDER = ("title", "summary", "description", "need", "status", "domains", "useCases", *FORM_DATES, "carrierName",
              "carrier", "carrierKind", "territories", "typology", "technology", "connectivity", "fundingSources",
              "totalCost", "procurement", "pooling", "outcomes", "lessons", "replicability", "contact", "sourceUrl")
# What the error summary calls the form's own fields (the record's are in FIELD_LABELS).
FORM_LABELS = {**FIELD_LABELS, "sourceUrl": "Source publique"}


def outcome_field(row: int, name: str) -> str:
    """The form field of an outcome row's member (``outcome0_indicator``…)."""
    return f"outcome{row}_{name}"


def _outcome_parts(field: str) -> tuple[int, str] | None:
    head, _, name = field.partition("_")
    row = head.removeprefix("outcome")
    return (int(row), name) if head.startswith("outcome") and whole_number(row) and name in OUTCOME_FIELDS else None


def field_label(request: Request, field: str) -> str:
    """What the error summary calls a field, in the request's language."""
    parts = _outcome_parts(field)
    if parts is None:
        return gettext(request, FORM_LABELS.get(field, field))
    return gettext(request, "Résultat {n} : {field}", n=parts[0] + 1, field=gettext(request, OUTCOME_FIELDS[parts[1]]))


def _field_position(field: str) -> tuple[int, int, int]:
    parts = _outcome_parts(field)
    if parts is None:
        return (FORM_ORDER.index(field) if field in FORM_ORDER else len(FORM_ORDER), 0, 0)
    return (FORM_ORDER.index("outcomes"), parts[0], list(OUTCOME_FIELDS).index(parts[1]))


class FormErrors(Exception):
    """The French problems of a submitted form, field id -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def form_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields filled from a stored record."""
    values: dict[str, Any] = {name: record.get(name, "") or "" for name in (*FORM_TEXTS, *FORM_CODES, *FORM_DATES)}
    values.update({name: list(record.get(name) or ()) for name in FORM_LISTS})
    values["carrier"] = (record.get("carrier") or "").removeprefix(pr.ORGANISATION_PREFIX)
    values["territories"] = " ".join(t.removeprefix(pr.TERRITORY_PREFIX) for t in record.get("territories") or ())
    cost = record.get("totalCost")
    values["totalCost"] = "" if cost is None else _number_text(cost)
    values["sourceUrl"] = (record.get("provenance") or {}).get("sourceUrl", "")
    outcomes = list(record.get("outcomes") or ())[:MAX_OUTCOME_ROWS - 1]
    values["outcome_rows"] = len(outcomes) + 1
    for row, outcome in enumerate([*outcomes, {}]):
        after = outcome.get("declaredAfter", {} if "measured" in outcome else outcome.get("after")) or {}
        typed = {"indicator": outcome.get("indicator", ""), "unit": outcome.get("unit", ""),
                 "baseline": _number_text((outcome.get("baseline") or {}).get("value")),
                 "after": _number_text(after.get("value")), "after_date": after.get("date", ""),
                 "method": outcome.get("method", ""), "source": outcome.get("source", "")}
        values.update({outcome_field(row, name): text for name, text in typed.items()})
        values[f"outcome{row}_measured"] = outcome.get("measured")
    return values


def submitted_values(form: FormData) -> dict[str, Any]:
    """What the person typed, as the form shows it again (nothing lost on an error)."""
    values: dict[str, Any] = {}
    for name in (*FORM_TEXTS, *FORM_CODES, *FORM_DATES, "carrier", "territories", "totalCost", "sourceUrl"):
        values[name] = str(form.get(name, "")).strip()
    rows = str(form.get("outcome_rows", "1"))
    values["outcome_rows"] = min(int(rows), MAX_OUTCOME_ROWS) if whole_number(rows) and int(rows) > 0 else 1
    for row in range(values["outcome_rows"]):
        for name in OUTCOME_FIELDS:
            values[outcome_field(row, name)] = str(form.get(outcome_field(row, name), "")).strip()
    for name in FORM_LISTS:
        values[name] = [str(v) for v in form.getlist(name)]
    return values


def record_of(values: Mapping[str, Any], request: Request, *, current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record fields the form sets (a change: every field of the form, empty ones removed;
    fields the form does not show are kept). Parse errors are FormErrors in French."""
    errors: dict[str, str] = {}
    record: dict[str, Any] = {}
    for name in (*FORM_TEXTS, *FORM_CODES, *FORM_DATES):
        record[name] = values[name] or None
    for name in FORM_LISTS:
        record[name] = values[name] or None
    record["carrier"] = values["carrier"].replace(" ", "") or None
    record["territories"] = [t for t in values["territories"].replace(",", " ").split() if t] or None
    record["totalCost"] = _parse_number(values["totalCost"], "totalCost", errors, request)
    provenance = dict((current or {}).get("provenance") or {})
    if values["sourceUrl"]:
        provenance["sourceUrl"] = values["sourceUrl"]
    else:
        provenance.pop("sourceUrl", None)
    record["provenance"] = provenance or None
    shown = list((current or {}).get("outcomes") or ())
    outcomes = [_outcome_of(values, row, shown[row] if row < len(shown) else {}, errors, request)
                for row in range(values["outcome_rows"])]
    record["outcomes"] = [o for o in outcomes if o] + shown[values["outcome_rows"]:] or None
    for name in pr.REQUIRED:
        if not record.get(name) and name not in errors:
            errors[name] = gettext(request, "Ce champ est obligatoire.")
    if errors:
        raise FormErrors(errors)
    return record if current is not None else {k: v for k, v in record.items() if v is not None}


def _outcome_of(values: Mapping[str, Any], row: int, shown: Mapping[str, Any], errors: dict[str, str],
                request: Request) -> dict[str, Any] | None:
    """The outcome of a row: what the form shows set as typed (empty: removed), what it does not
    show (a KPI binding, the baseline's date…) kept from the record shown. An empty row is none."""
    typed = {name: values[outcome_field(row, name)] for name in OUTCOME_FIELDS}
    if not any(typed.values()):
        return None
    outcome = dict(declared(shown))
    if not typed["indicator"]:
        errors[outcome_field(row, "indicator")] = gettext(
            request, "Nommez l'indicateur du résultat, ou videz la ligne du résultat.")
    for name in ("indicator", "unit", "method", "source"):
        outcome[name] = typed[name]
        if not typed[name]:
            del outcome[name]
    for name in ("baseline", "after"):
        number = _parse_number(typed[name], outcome_field(row, name), errors, request)
        point = {**(outcome.get(name) or {}), "value": number}
        if name == "after":
            point["date"] = typed["after_date"]
        point = {k: v for k, v in point.items() if v not in (None, "")}
        outcome[name] = point
        if "value" not in point and "date" not in point:
            del outcome[name]
    return outcome


def _parse_number(text: str, field: str, errors: dict[str, str], request: Request) -> float | int | None:
    if not text:
        return None
    cleaned = text.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        number = float(cleaned)
    except ValueError:
        errors[field] = gettext(request, "« {text} » n'est pas un nombre (exemple : 12500 ou 12,5).", text=text[:40])
        return None
    if not math.isfinite(number):
        errors[field] = gettext(request, "« {text} » n'est pas un nombre (exemple : 12500 ou 12,5).", text=text[:40])
        return None
    return int(number) if number.is_integer() else number


def _number_text(value: Any) -> str:
    if value is None or value == "":
        return ""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def refusal_field(detail: str) -> str:
    """The form field a refusal of the service names: its detail starts with the field
    (``carrier: …``, ``territories[0]: …``, ``outcomes[0].after.date: …``, ``endDate … before``)."""
    head = detail.split(":", 1)[0].split(" ", 1)[0]
    name = head.split("[", 1)[0].split(".", 1)[0]
    if name == "outcomes":
        row = head.split("[", 1)[1].split("]", 1)[0] if "[" in head else "0"
        member = head.rsplit(".", 1)[-1] if "." in head else "indicator"
        member = "after_date" if head.endswith("after.date") else member
        return outcome_field(int(row) if whole_number(row) else 0, member if member in OUTCOME_FIELDS else "indicator")
    if name == "provenance":
        return "sourceUrl"
    if detail.startswith("missing required field"):
        return detail.split(":", 1)[1].split(",", 1)[0].strip()
    return name if name in FIELD_LABELS else "title"


async def new_project_form(request: Request) -> Response:
    if not principal_of(request).authenticated:
        return sign_in_first(request)
    return _render_form(request, form_values({}), {}, None)


async def create_project(request: Request) -> Response:
    if not principal_of(request).authenticated:
        return sign_in_first(request)
    form = await checked_form(request)
    values = submitted_values(form)
    service = projects(request)
    try:
        record = record_of(values, request)
        record["moderation"] = "submitted" if form.get("action") == "submitted" else "draft"
        created = await call(request, service.create, principal_of(request), record)
    except FormErrors as problems:
        return _render_form(request, values, problems.errors, None)
    except (BadRequestData, Forbidden) as refusal:
        return _render_form(request, values, _refusal_errors(request, refusal), None)
    slug = created["id"][len(pr.PROJECT_PREFIX):]
    return RedirectResponse(_with_query(request, f"{BASE}/projets/{slug}", [("fait", "cree")]), status_code=303)


async def edit_project_form(request: Request) -> Response:
    if not principal_of(request).authenticated:
        return sign_in_first(request)
    service = projects(request)
    try:
        record = await call(request, service.get, principal_of(request), request.path_params["id"])
    except (ResourceNotFound, BadRequestData):
        return not_found(request, gettext(request, "Aucune fiche projet ne porte l'identifiant « {id} ».",
                                          id=request.path_params["id"][:120]))
    return _render_form(request, form_values(record), {}, record)


async def update_project(request: Request) -> Response:
    if not principal_of(request).authenticated:
        return sign_in_first(request)
    form = await checked_form(request)
    values = submitted_values(form)
    service = projects(request)
    principal = principal_of(request)
    try:
        current = await call(request, service.get, principal, request.path_params["id"])
    except (ResourceNotFound, BadRequestData):
        return not_found(request, gettext(request, "Aucune fiche projet ne porte l'identifiant « {id} ».",
                                          id=request.path_params["id"][:120]))
    try:
        patch = record_of(values, request, current=current)
        if form.get("action") == "submitted":
            patch["moderation"] = "submitted"
        updated = await call(request, service.update, principal, current["id"], patch)
    except FormErrors as problems:
        return _render_form(request, values, problems.errors, current)
    except (BadRequestData, Forbidden) as refusal:
        return _render_form(request, values, _refusal_errors(request, refusal), current)
    slug = updated["id"][len(pr.PROJECT_PREFIX):]
    return RedirectResponse(_with_query(request, f"{BASE}/projets/{slug}", [("fait", "modifie")]), status_code=303)


async def moderate(request: Request) -> Response:
    """« Publier » / « Renvoyer » a record (moderators: the service checks)."""
    if not principal_of(request).authenticated:
        return sign_in_first(request)
    await checked_form(request)
    service = projects(request)
    action = service.publish if request.url.path.endswith("/publier") else service.send_back
    try:
        record = await call(request, action, principal_of(request), request.path_params["id"])
    except (ResourceNotFound, BadRequestData):
        return not_found(request, gettext(request, "Aucune fiche projet ne porte l'identifiant « {id} ».",
                                          id=request.path_params["id"][:120]))
    done = "publie" if record.get("moderation") == "published" else "renvoye"
    slug = record["id"][len(pr.PROJECT_PREFIX):]
    return RedirectResponse(_with_query(request, f"{BASE}/projets/{slug}", [("fait", done)]), status_code=303)


# The service's refusals a form can meet, said in French (the API's details are in English):
# a pattern of the detail -> the French message, its groups as named values.
FRENCH_REFUSALS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), message) for pattern, message in (
    (r"SIREN (?P<siren>\d{9}) has a wrong check digit",
     "Le SIREN {siren} n'existe pas : sa clé de contrôle est fausse. Vérifiez les 9 chiffres."),
    (r"is not a SIREN", "Un SIREN a 9 chiffres (exemple : 213502388)."),
    (r"no (?P<kind>\w+) has code (?P<code>\S+) in the territory registry",
     "Aucun territoire ({kind}) n'a le code {code} dans le répertoire des territoires."),
    (r"territories.*'(?P<code>[^']*)' is not", "« {code} » n'est pas un code de territoire (exemple : commune:35238)."),
    (r"unknown territory kind '(?P<kind>[^']*)'",
     "« {kind} » n'est pas une nature de territoire : commune, epci, departement ou region."),
    (r"(?P<date>\S+) is in the future, but the result is marked as observed",
     "La date {date} est à venir : un résultat observé porte la date où il l'a été."),
    (r"a (?P<point>baseline|after) value needs its unit", "Une valeur avant ou après demande son unité (kWh/an, %…)."),
    (r"is not an ISO 8601 date|is not a date of the calendar", "Une date s'écrit AAAA-MM-JJ, AAAA-MM ou AAAA."),
    (r"endDate (?P<end>\S+) is before startDate (?P<start>\S+)",
     "La date de fin ({end}) précède la date de début ({start})."),
    (r"(?P<length>\d+) characters, at most (?P<limit>\d+)",
     "Texte trop long : {length} caractères pour {limit} au plus."),
    (r"is not an http\(s\) URL", "Une adresse de page commence par https:// (ou http://)."),
    (r"is not an e-mail address", "Une adresse électronique est attendue (une boîte fonctionnelle)."),
    (r"an amount in euros", "Un montant en euros est attendu (un nombre positif)."),
))


def french_refusal(request: Request, detail: str) -> str:
    """A refusal of the service, as the form says it."""
    for pattern, message in FRENCH_REFUSALS:
        found = pattern.search(detail)
        if found:
            return gettext(request, message, **found.groupdict())
    return gettext(request, "Valeur refusée : {detail}", detail=detail)


def _refusal_errors(request: Request, refusal: NgsiLdError) -> dict[str, str]:
    if isinstance(refusal, Forbidden):
        return {"territories": gettext(request, "Vous ne contribuez pour aucun de ces territoires : une fiche ne "
                                                "peut servir que les territoires pour lesquels vous contribuez.")}
    return {refusal_field(refusal.detail): french_refusal(request, refusal.detail)}


def _render_form(request: Request, values: dict[str, Any], errors: dict[str, str],
                 record: dict[str, Any] | None) -> Response:
    rights = Rights.of(principal_of(request))
    errors = dict(sorted(errors.items(), key=lambda item: _field_position(item[0])))
    context = {"values": values, "errors": errors, "record": record,
               "error_labels": {name: field_label(request, name) for name in errors},
               "vocabularies": vocab.VOCABULARIES, "moderator": rights.moderator,
               "scopes": sorted(t.removeprefix(pr.TERRITORY_PREFIX) for t in rights.territories),
               "action": href(request, f"{BASE}/projets/{record['id'][len(pr.PROJECT_PREFIX):]}/modifier" if record
                              else f"{BASE}/projets/nouveau")}
    return render(request, "catalogue_form.html", context, status=400 if errors else 200)


routes = [
    Route(BASE, home, methods=["GET"], name="observatoire"),
    Route(f"{BASE}/projets", search_page, methods=["GET"], name="projets"),
    Route(f"{BASE}/projets/nouveau", new_project_form, methods=["GET"]),
    Route(f"{BASE}/projets/nouveau", create_project, methods=["POST"]),
    Route(f"{BASE}/projets/{{id}}", project_page, methods=["GET"]),
    Route(f"{BASE}/projets/{{id}}/modifier", edit_project_form, methods=["GET"]),
    Route(f"{BASE}/projets/{{id}}/modifier", update_project, methods=["POST"]),
    Route(f"{BASE}/projets/{{id}}/publier", moderate, methods=["POST"]),
    Route(f"{BASE}/projets/{{id}}/renvoyer", moderate, methods=["POST"]),
    Route(f"{BASE}/carte", map_page, methods=["GET"], name="carte"),
]
