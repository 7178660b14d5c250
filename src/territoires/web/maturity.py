"""The maturity self-diagnostic's pages (issue 4, item 6).

- ``/observatoire/diagnostic``: choose a territory, by name or INSEE code (the registry);
- ``/observatoire/diagnostic/{kind}/{code}``: the questionnaire, one fieldset per axis; its
  contributors and moderators fill it (POST saves, then shows the results); a visitor not
  signed in is sent to sign in first;
- ``/observatoire/diagnostic/{kind}/{code}/resultats``: level per axis (a table, and a radar
  chart drawn by ``static/maturity-radar.js`` from the same figures), the peers' distribution,
  the recommendations with their projects and indicators, the history; the territory publishes
  or withdraws it there (POST ``…/publication``).

Thin: the rules (who reads, who writes, the levels) are ``observatoire.assessments``'s.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from territoires.api.http import call
from territoires.api.maturity import assessments
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.observatoire import maturity
from territoires.observatoire.assessments import AssessmentService
from territoires.observatoire.bands import BANDS_BY_CODE
from territoires.observatoire.projects import Rights
from territoires.observatoire.registry import EPCI_KIND_LABELS, KINDS, Territory, TerritoryRegistry, urn
from territoires.web.pages import (
    checked_form,
    gettext,
    href,
    language,
    principal_of,
    problem_page,
    render,
    sign_in_first,
)

ROOT = "/observatoire/diagnostic"
MAX_FOUND = 20

# How the peers of a territory are named, in the plural (French; the catalogue translates).
_KIND_PLURALS = {"commune": "communes", "departement": "départements", "region": "régions", "epci": "EPCI"}
_EPCI_PLURALS = {"CC": "communautés de communes", "CA": "communautés d'agglomération",
                 "CU": "communautés urbaines", "METRO": "métropoles", "MET69": "métropoles de Lyon"}


def _page(kind: str, code: str, tail: str = "") -> str:
    return f"{ROOT}/{kind}/{code}{tail}"


# ---- choosing a territory ---------------------------------------------------------------------------
async def choose(request: Request) -> Response:
    """Find a territory by the start of its name or by its code."""
    text = request.query_params.get("q", "").strip()
    service = await call(request, assessments, request)
    found: list[Territory] = []
    if text:
        found = [t for kind in KINDS if (t := _by_code(service.registry, kind, text)) is not None]
        found += [t for t in service.registry.search(text, limit=MAX_FOUND) if t not in found]
    shown = [{"name": t.name, "kind": _kind_label(t), "code": t.code, "population": t.population,
              "href": href(request, _page(t.kind, t.code, "/resultats"))} for t in found[:MAX_FOUND]]
    return render(request, "maturity_choose.html", {"q": text, "found": shown})


def _by_code(registry: TerritoryRegistry, kind: str, code: str) -> Territory | None:
    try:
        return registry.get(kind, code)
    except (BadRequestData, ResourceNotFound):
        return None


def _kind_label(territory: Territory) -> str:
    if territory.epci_kind:
        return EPCI_KIND_LABELS[territory.epci_kind]
    return {"commune": "Commune", "departement": "Département", "region": "Région"}[territory.kind]


# ---- the questionnaire ------------------------------------------------------------------------------
async def questionnaire(request: Request) -> Response:
    """The form, filled with the current answers."""
    found = await _writable(request)
    if isinstance(found, Response):
        return found
    service, territory = found
    try:
        current = await call(request, service.get, principal_of(request), territory.kind, territory.code)
        answers = current["answers"]
    except ResourceNotFound:
        answers = {}
    return _form(request, territory, answers, {})


async def submit(request: Request) -> Response:
    """Save the answers; on a missing or wrong answer, the form again with every answer kept."""
    found = await _writable(request)
    if isinstance(found, Response):
        return found
    service, territory = found
    form = await checked_form(request)
    answers = {name: value for name, value in form.items() if name in maturity.questionnaire().questions}
    errors = maturity.answer_errors(answers)
    if errors:
        return _form(request, territory, answers, errors, status=400)
    await call(request, service.submit, principal_of(request), territory.kind, territory.code, answers)
    return RedirectResponse(href(request, _page(territory.kind, territory.code, "/resultats"), enregistre=1),
                            status_code=303)


def _form(request: Request, territory: Territory, answers: dict[str, Any], errors: dict[str, str],
          *, status: int = 200) -> Response:
    lang = language(request)
    q = maturity.questionnaire()
    messages = {maturity.MISSING: gettext(request, "Répondez à cette question."),
                maturity.INVALID: gettext(request, "Choisissez l'une des réponses proposées.")}
    axes = [{
        "id": axis.id, "name": axis.name(lang),
        "questions": [{
            "id": question.id, "text": question.text(lang), "value": answers.get(question.id, ""),
            "error": messages.get(errors.get(question.id, "")),
            "options": [{"code": o.code, "label": o.label(lang)} for o in question.options],
        } for question in axis.questions],
    } for axis in q.axes]
    summary = [{"anchor": f"{name}-{q.questions[name].options[0].code}", "question": name,
                "axis": q.axis(q.questions[name].axis).name(lang), "message": messages[error]}
               for name, error in errors.items()]
    return render(request, "maturity_form.html", {
        "territory": _territory_view(request, territory), "axes": axes, "errors": summary,
        "action": href(request, _page(territory.kind, territory.code))}, status=status)


# ---- the results ------------------------------------------------------------------------------------
async def results(request: Request) -> Response:
    service = await call(request, assessments, request)
    territory = _territory(request, service)
    if isinstance(territory, Response):
        return territory
    principal = principal_of(request)
    writer = _may_write(request, territory)
    try:
        current = await call(request, service.get, principal, territory.kind, territory.code)
    except ResourceNotFound:
        return render(request, "maturity_results.html", {
            "territory": _territory_view(request, territory), "current": None, "writer": writer}, status=404)
    peers = await call(request, service.peers, principal, territory.kind, territory.code)
    found = await call(request, service.recommendations, principal, territory.kind, territory.code)
    history = await call(request, service.history, principal, territory.kind, territory.code)
    lang = language(request)
    q = maturity.questionnaire()
    axes = [{"id": axis.id, "name": axis.name(lang), "level": current["levels"][axis.id],
             "level_name": q.level_names[current["levels"][axis.id] - 1](lang),
             "description": axis.level(current["levels"][axis.id]).description(lang)} for axis in q.axes]
    names = {axis.id: axis.name(lang) for axis in q.axes}
    chart = {"labels": [f"{a['id']} {a['name']}" for a in axes], "levels": [a["level"] for a in axes],
             "medians": [item["median"] for item in peers["axes"]] if peers["total"] else None,
             "title": gettext(request, "Niveau de maturité par axe"),
             "levelLabel": gettext(request, "Niveau du territoire"),
             "medianLabel": gettext(request, "Médiane des pairs")}
    return render(request, "maturity_results.html", {
        "territory": _territory_view(request, territory), "current": current, "writer": writer,
        "saved": request.query_params.get("enregistre") == "1", "axes": axes,
        "level_names": [name(lang) for name in q.level_names], "chart": _script_json(chart),
        "peers": {**peers, "axes": [{**item, "name": names[item["axis"]]} for item in peers["axes"]],
                  "group": _peer_group(request, territory)},
        "recommendations": [_step(request, step) for step in found["recommendations"]],
        "history": history, "axis_ids": list(names),
        "publication": href(request, _page(territory.kind, territory.code, "/publication")),
        "form": href(request, _page(territory.kind, territory.code))})


def _script_json(value: Any) -> str:
    """JSON to put inside a <script> element: no "<" can close it early."""
    return orjson.dumps(value).decode().replace("<", "\\u003c")


def _step(request: Request, step: dict[str, Any]) -> dict[str, Any]:
    lang = language(request)
    return {**step, "axis_name": step["axisName"][lang], "level_name": step["levelName"][lang],
            "criteria": [c["text"][lang] for c in step["criteria"]],
            "projects": [{**p, "href": href(request, "/observatoire/projets/" + p["id"].rsplit(":", 1)[-1])}
                         for p in step["projects"]],
            "indicators": [{"name": i["nameEn"] if lang == "en" else i["name"],
                            "unit": i["unitEn"] if lang == "en" else i["unit"], "reference": i["reference"]}
                           for i in step["indicators"]]}


async def publication(request: Request) -> Response:
    """Publish (``action=publier``) or withdraw (``action=retirer``) the diagnostic."""
    found = await _writable(request)
    if isinstance(found, Response):
        return found
    service, territory = found
    form = await checked_form(request)
    action = {"publier": service.publish, "retirer": service.unpublish}.get(form.get("action", ""))
    if action is None:
        raise BadRequestData("action: 'publier' or 'retirer'")
    await call(request, action, principal_of(request), territory.kind, territory.code)
    return RedirectResponse(href(request, _page(territory.kind, territory.code, "/resultats")), status_code=303)


# ---- shared -----------------------------------------------------------------------------------------
async def _writable(request: Request) -> tuple[AssessmentService, Territory] | Response:
    """The service and the territory of the path, for a person who may write its diagnostic;
    otherwise the page to answer (unknown territory, sign in first, access reserved)."""
    service = await call(request, assessments, request)
    territory = _territory(request, service)
    if isinstance(territory, Response):
        return territory
    return _refused(request, territory) or (service, territory)


def _territory(request: Request, service: AssessmentService) -> Territory | Response:
    """The territory of the path; a page saying so if it is not one."""
    kind, code = request.path_params["kind"], request.path_params["code"]
    try:
        return service.registry.get(kind, code)
    except (BadRequestData, ResourceNotFound):
        return _problem(request, 404, gettext(request, "Territoire inconnu"), gettext(
            request, "Aucun territoire ne porte le code « {code} » ({kind}) dans le répertoire des territoires.",
            code=code[:20], kind=kind[:20]))


def _may_write(request: Request, territory: Territory) -> bool:
    rights = Rights.of(principal_of(request))
    return rights.authenticated and rights.contributes_to([urn(territory)])


def _refused(request: Request, territory: Territory) -> Response | None:
    """Who may not fill the diagnostic: signed out, sent to sign in; others told why."""
    principal = principal_of(request)
    if not principal.authenticated:
        return sign_in_first(request, _page(territory.kind, territory.code))
    if not _may_write(request, territory):
        return _problem(request, 403, gettext(request, "Accès réservé"), gettext(
            request, "Seuls les contributeurs de {name} et les modérateurs de l'observatoire remplissent son "
                     "diagnostic.", name=territory.name))
    return None


def _problem(request: Request, status: int, heading: str, detail: str) -> Response:
    return problem_page(request, status, detail, heading=heading, back=("/observatoire/diagnostic",
                                                                         "Choisir un territoire"))


def _territory_view(request: Request, territory: Territory) -> dict[str, Any]:
    return {"name": territory.name, "kind": territory.kind, "code": territory.code, "label": _kind_label(territory),
            "results": href(request, _page(territory.kind, territory.code, "/resultats"))}


def _peer_group(request: Request, territory: Territory) -> str:
    """« communes de 3 500 à 9 999 habitants »: the territory's peers, in words."""
    plural = _EPCI_PLURALS.get(territory.epci_kind or "") or _KIND_PLURALS[territory.kind]
    band = BANDS_BY_CODE.get(territory.band or "")
    if band is None:
        return gettext(request, plural)
    label = band.label if band.label.startswith("de ") else "de " + band.label
    return gettext(request, "{kinds} {band}", kinds=gettext(request, plural), band=gettext(request, label))


routes = [
    Route(ROOT, choose, methods=["GET"]),
    Route(f"{ROOT}/{{kind}}/{{code}}", questionnaire, methods=["GET"]),
    Route(f"{ROOT}/{{kind}}/{{code}}", submit, methods=["POST"]),
    Route(f"{ROOT}/{{kind}}/{{code}}/resultats", results, methods=["GET"]),
    Route(f"{ROOT}/{{kind}}/{{code}}/publication", publication, methods=["POST"]),
]
