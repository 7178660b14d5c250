"""The observatory's JSON API, /api/observatoire/v1: project records, their moderation and
history, exports, the territory registry for forms, the vocabularies and the @context.

Thin: parse, call ``observatoire.projects.ProjectService`` with the caller's principal (the
gate has set it; the service decides who may write what), render. Reads are open to all.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from territoires.api.http import JSON, JSON_LD, call, int_param, json_response, read_json
from territoires.auth.principal import Principal
from territoires.broker.contexts import bundled_context_document
from territoires.ngsild.errors import BadRequestData
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.project_filters import ProjectFilters
from territoires.observatoire.projects import CONTEXT_URL, ProjectService
from territoires.observatoire.registry import EPCI_KIND_LABELS, Territory, TerritoryRegistry, urn

BASE = "/api/observatoire/v1"
_PAGING = ("offset", "limit")
MAX_TERRITORIES = 50


def _projects(request: Request) -> ProjectService:
    return request.app.state.observatory.projects


def _principal(request: Request) -> Principal:
    return request.state.principal


# ---- projects -----------------------------------------------------------------------------------
async def list_projects(request: Request) -> Response:
    """Published project records (or, for their contributors and moderators, drafts), filtered and paged."""
    filters = ProjectFilters.of(request.query_params, ignore=_PAGING)
    service = _projects(request)
    page = await call(request, service.list, _principal(request), filters,
                      offset=int_param(request, "offset", 0), limit=int_param(request, "limit", 20, minimum=1))
    return json_response({"total": page.total, "offset": page.offset, "limit": page.limit, "projects": page.projects})


async def create_project(request: Request) -> Response:
    """Create a project record (contributors of its territories, moderators)."""
    body = await read_json(request, allow=(JSON,))
    record = await call(request, _projects(request).create, _principal(request), body)
    return json_response(record, status=201, headers={"Location": f"{BASE}/projects/{record['id']}"})


async def get_project(request: Request) -> Response:
    """One project record."""
    record = await call(request, _projects(request).get, _principal(request), request.path_params["id"])
    return json_response(record)


async def patch_project(request: Request) -> Response:
    """Change fields of a project record (null removes one); the whole record is checked again."""
    body = await read_json(request, allow=(JSON, "application/merge-patch+json"))
    record = await call(request, _projects(request).update, _principal(request), request.path_params["id"], body)
    return json_response(record)


async def publish_project(request: Request) -> Response:
    """Publish a project record (moderators)."""
    record = await call(request, _projects(request).publish, _principal(request), request.path_params["id"])
    return json_response(record)


async def send_back_project(request: Request) -> Response:
    """Send a project record back to its contributors as a draft (moderators)."""
    record = await call(request, _projects(request).send_back, _principal(request), request.path_params["id"])
    return json_response(record)


async def similar_projects(request: Request) -> Response:
    """The records most like one, each saying why (``reasons``), most similar first."""
    unknown = sorted(set(request.query_params) - {"limit"})
    if unknown:
        raise BadRequestData(f"unknown parameter(s) {', '.join(unknown)}; expected limit")
    found = await call(request, _projects(request).similar, _principal(request), request.path_params["id"],
                       limit=int_param(request, "limit", 6, minimum=1))
    return json_response({"projects": found})


async def project_history(request: Request) -> Response:
    """Who changed what in a project record, and when."""
    events = await call(request, _projects(request).history, _principal(request), request.path_params["id"])
    return json_response(events)


# ---- exports ------------------------------------------------------------------------------------
async def _exported(request: Request) -> Iterator[dict[str, Any]]:
    """Every selected record; the first is read now, so that a refusal is a ProblemDetails
    rather than a broken stream."""
    for name in _PAGING:
        if name in request.query_params:
            raise BadRequestData(f"an export holds every selected record: {name} does not apply")
    filters = ProjectFilters.of(request.query_params)
    records = _projects(request).export(_principal(request), filters)
    first = await call(request, next, records, None)
    return iter(()) if first is None else itertools.chain([first], records)


async def export_json(request: Request) -> Response:
    """Every selected project record, as a JSON array."""
    records = await _exported(request)
    return StreamingResponse(_json_array(records), media_type=JSON,
                             headers={"Content-Disposition": 'attachment; filename="projets.json"'})


async def export_csv(request: Request) -> Response:
    """Every selected project record, as CSV for a spreadsheet (French headers, UTF-8 with BOM, ";")."""
    records = await _exported(request)
    return StreamingResponse(_csv_lines(records), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="projets.csv"'})


def _json_array(records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    yield b"["
    for n, record in enumerate(records):
        yield (b"," if n else b"") + orjson.dumps(record)
    yield b"]"


def _labels(vocabulary: vocab.Vocabulary) -> Any:
    return lambda value: " | ".join(vocabulary.terms.get(code, code) for code in (
        value if isinstance(value, list) else [value]))


def _joined(value: Any) -> str:
    return " | ".join(str(item) for item in value) if isinstance(value, list) else str(value)


# French headers, in the order of the record; each column renders its value for a spreadsheet.
_COLUMNS: list[tuple[str, str, Any]] = [
    ("id", "Identifiant", str), ("title", "Titre", str), ("summary", "Résumé", str),
    ("carrierName", "Porteur", str),
    ("carrier", "SIREN du porteur", lambda v: v.rsplit(":", 1)[-1]),
    ("carrierKind", "Nature du porteur", _labels(vocab.CARRIER_KINDS)),
    ("territories", "Territoires", lambda v: " | ".join(t.removeprefix("urn:ngsi-ld:Territory:") for t in v)),
    ("populationBand", "Strate de population", _labels(vocab.POPULATION_BAND_VOCABULARY)),
    ("typology", "Typologie", _labels(vocab.TYPOLOGIES)),
    ("region", "Régions", _joined), ("departement", "Départements", _joined),
    ("domains", "Domaines", _labels(vocab.DOMAINS)), ("useCases", "Cas d'usage", _labels(vocab.USE_CASES)),
    ("status", "État d'avancement", _labels(vocab.STATUSES)),
    ("startDate", "Début", str), ("goLiveDate", "Mise en service", str), ("endDate", "Fin", str),
    ("connectivity", "Connectivité", _labels(vocab.CONNECTIVITY)), ("technology", "Technologie", str),
    ("standards", "Standards", _labels(vocab.STANDARDS)),
    ("openSource", "Logiciel libre", lambda v: "oui" if v else "non"),
    ("totalCost", "Coût total (EUR)", str),
    ("fundingSources", "Financements", _labels(vocab.FUNDING_SOURCES)),
    ("procurement", "Mode d'achat", _labels(vocab.PROCUREMENT)), ("pooling", "Mutualisation", str),
    ("labels", "Labels", _labels(vocab.LABELS)), ("contact", "Contact", str),
    ("provenance", "Source", lambda v: v.get("sourceUrl", "")),
    ("provenance", "Issu de sources publiques", lambda v: "oui" if v.get("seededFromPublicSources") else "non"),
    ("moderation", "Modération", _labels(vocab.MODERATION)), ("modifiedAt", "Modifié le", str),
]


def _cell(text: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ as a formula: quote it (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    # UTF-8 with a byte order mark and ";" between cells: what Excel in French expects.
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")

    def flushed() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow([header for _, header, _ in _COLUMNS])
    yield "\ufeff".encode() + flushed()
    for record in records:
        writer.writerow([_cell(render(record[name])) if record.get(name) is not None else ""
                         for name, _, render in _COLUMNS])
        yield flushed()


# ---- territories, vocabularies, @context ---------------------------------------------------------
def _registry(request: Request) -> TerritoryRegistry:
    return _projects(request).registry


def _territory(territory: Territory) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": urn(territory), "kind": territory.kind, "code": territory.code, "name": territory.name,
        "siren": territory.siren, "population": territory.population, "populationYear": territory.population_year,
        "populationBand": territory.band, "departements": list(territory.departements),
        "regions": list(territory.regions),
    }
    if territory.epci_kind:
        shown["epciKind"] = territory.epci_kind
        shown["epciKindLabel"] = EPCI_KIND_LABELS[territory.epci_kind]
    if territory.lat is not None:
        shown["location"] = {"type": "Point", "coordinates": [territory.lon, territory.lat]}
    return shown


async def search_territories(request: Request) -> Response:
    """Territories whose name starts with q (for forms)."""
    unknown = sorted(set(request.query_params) - {"q", "kind", "limit"})
    if unknown:
        raise BadRequestData(f"unknown parameter(s) {', '.join(unknown)}; expected q, kind, limit")
    text = request.query_params.get("q", "")
    if not text.strip():
        raise BadRequestData("q: give the start of a territory's name (e.g. q=saint etienne)")
    limit = int_param(request, "limit", 10, minimum=1)
    if limit > MAX_TERRITORIES:
        raise BadRequestData(f"limit: at most {MAX_TERRITORIES}, not {limit}")
    registry = await call(request, _registry, request)
    found = registry.search(text, limit=limit, kind=request.query_params.get("kind"))
    return json_response({"territories": [_territory(t) for t in found], "attribution": registry.provenance.attribution})


async def get_territory(request: Request) -> Response:
    """One territory of the registry, with the territories it belongs to."""
    registry = await call(request, _registry, request)
    territory = registry.get(request.path_params["kind"], request.path_params["code"])
    shown = _territory(territory)
    shown["parents"] = [_territory(t) for t in registry.ancestors(territory)]
    shown["attribution"] = registry.provenance.attribution
    return json_response(shown)


async def vocabularies(request: Request) -> Response:
    """The controlled vocabularies of project records, with French labels."""
    return json_response(vocab.as_json())


async def context_document(request: Request) -> Response:
    """The observatory's JSON-LD @context (territoires-context.jsonld, version 1)."""
    return json_response(bundled_context_document(CONTEXT_URL), kind=JSON_LD)


routes = [
    Route(f"{BASE}/context.jsonld", context_document, methods=["GET"]),
    Route(f"{BASE}/vocabularies", vocabularies, methods=["GET"]),
    Route(f"{BASE}/territories", search_territories, methods=["GET"]),
    Route(f"{BASE}/territories/{{kind}}/{{code}}", get_territory, methods=["GET"]),
    Route(f"{BASE}/projects", list_projects, methods=["GET"]),
    Route(f"{BASE}/projects", create_project, methods=["POST"]),
    Route(f"{BASE}/projects.csv", export_csv, methods=["GET"]),
    Route(f"{BASE}/projects.json", export_json, methods=["GET"]),
    Route(f"{BASE}/projects/{{id}}", get_project, methods=["GET"]),
    Route(f"{BASE}/projects/{{id}}", patch_project, methods=["PATCH"]),
    Route(f"{BASE}/projects/{{id}}/publish", publish_project, methods=["POST"]),
    Route(f"{BASE}/projects/{{id}}/send-back", send_back_project, methods=["POST"]),
    Route(f"{BASE}/projects/{{id}}/history", project_history, methods=["GET"]),
    Route(f"{BASE}/projects/{{id}}/similar", similar_projects, methods=["GET"]),
]
