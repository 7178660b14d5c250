"""The cooperation pages: partner proposals for a territory and a use case, and the thematic
working groups (list, page of a group with the animateurs' forms, creation).

Thin: read the query or the form, call the services of ``observatoire.partners`` and
``working_groups`` (shared with the JSON API: ``api.cooperation``), render. Reading needs no
sign-in and no JavaScript; the forms ask an anonymous visitor to sign in first (303 to
``/connexion?suivant=…``). A refused form is shown again with status 400, an error summary in
French linked to each field, and everything typed kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from territoires.api.cooperation import partners, working_groups
from territoires.api.http import call
from territoires.auth.errors import Forbidden
from territoires.auth.principal import Principal
from territoires.ngsild.errors import AlreadyExists, BadRequestData, ResourceNotFound
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire import working_groups as wg
from territoires.observatoire.intentions import territory_choices
from territoires.observatoire.names import fold
from territoires.observatoire.partners import NEAR_KM
from territoires.observatoire.projects import Rights
from territoires.observatoire.registry import Territory, TerritoryRegistry
from territoires.web.pages import (
    checked_form,
    gettext,
    href,
    page_number,
    principal_of,
    problem_page,
    render,
    sign_in_first,
)

PAGE_SIZE = 20
GROUPS = "/observatoire/groupes"
KIND_LABELS = {"commune": "Commune", "epci": "Intercommunalité", "departement": "Département", "region": "Région"}

# French messages of the form fields, by the name the service's refusal starts with.
_MESSAGES: dict[str, str] = {
    "title": f"Donnez un titre de {wg.MAX_TITLE} caractères au plus.",
    "description": f"La description compte {wg.MAX_DESCRIPTION} caractères au plus.",
    "useCases": "Choisissez des cas d'usage de la liste.",
    "date": "Donnez la date au format AAAA-MM-JJ, ou AAAA-MM-JJThh:mm avec l'heure (par exemple 2026-03-12T14:00).",
    "place": f"Le lieu compte {wg.MAX_SHORT} caractères au plus.",
    "link": "Le lien de visioconférence doit commencer par http:// ou https://.",
    "minutes": "Le lien du compte rendu doit commencer par http:// ou https://.",
    "url": "Le lien doit commencer par http:// ou https://.",
    "member.member": "Territoire ou organisation inconnu : donnez commune:<code INSEE>, epci:<SIREN>, "
                     "departement:<code>, region:<code> ou organisation:<SIREN>.",
    "member.name": f"Donnez le nom de l'organisation ({wg.MAX_SHORT} caractères au plus).",
    "member.role": "Choisissez le rôle : animateur ou membre.",
}
# Form field -> the service's name of it, for each form of the pages.
_FORMS: dict[str, dict[str, str]] = {
    "groupe": {"titre": "title", "description": "description", "cas": "useCases"},
    "reunion": {"date": "date", "titre": "title", "lieu": "place", "visio": "link", "compte_rendu": "minutes"},
    "lien": {"titre": "title", "url": "url"},
    "membre": {"membre": "member.member", "role": "member.role", "nom": "member.name"},
}
_WHERE = re.compile(r"^([A-Za-z.]+)(?:\[\d+\])?:")


def _field_error(request: Request, form: str, error: BadRequestData) -> list[tuple[str, str]]:
    """The (field id, French message) of a refusal of the service."""
    match = _WHERE.match(error.detail)
    where = match.group(1) if match else ""
    for field, name in _FORMS[form].items():
        if name == where:
            return [(f"{form}-{field}", gettext(request, _MESSAGES[name]))]
    first = next(iter(_FORMS[form]))
    return [(f"{form}-{first}", gettext(request, "La saisie est refusée : {detail}", detail=error.detail))]


def _missing(request: Request, group: str) -> Response:
    return problem_page(request, 404, gettext(request, "Aucun groupe de travail « {group} » dans l'observatoire.",
                                              group=group[:120]),
                        heading=gettext(request, "Groupe introuvable"),
                        back=("/observatoire/groupes", "Voir les groupes de travail"))


def _slug(group_id: str) -> str:
    return group_id.rsplit(":", 1)[-1]


# ---- partner proposals --------------------------------------------------------------------------
async def cooperation(request: Request) -> Response:
    """The form (territory, use case) and, once both are given, the proposals."""
    typed = {"territoire": request.query_params.get("territoire", "").strip(),
             "cas": request.query_params.get("cas", "")}
    context: dict[str, Any] = {"typed": typed, "use_cases": vocab.USE_CASES.terms, "errors": [], "choices": [],
                               "proposals": None, "groups": [], "kind_labels": KIND_LABELS, "near_km": NEAR_KM}
    if not any(typed.values()):
        return render(request, "cooperation_partners.html", context)
    registry = TerritoryRegistry.load()
    errors = context["errors"]
    if not typed["territoire"]:
        errors.append(("territoire", gettext(request, "Indiquez un territoire : son nom ou son code INSEE.")))
    if typed["cas"] not in vocab.USE_CASES.terms:
        errors.append(("cas", gettext(request, "Choisissez un cas d'usage dans la liste.")))
    chosen: Territory | None = None
    if typed["territoire"]:
        found = territory_choices(typed["territoire"], registry)
        exact = [t for t in found if fold(t.name) == fold(typed["territoire"])]
        if len(found) == 1 or len(exact) == 1:
            chosen = found[0] if len(found) == 1 else exact[0]
        elif not found:
            errors.append(("territoire", gettext(
                request, "Aucun territoire ne correspond à « {saisie} » : vérifiez le nom ou le code INSEE.",
                saisie=typed["territoire"])))
        else:
            context["choices"] = found
    if errors:
        return render(request, "cooperation_partners.html", context, status=400)
    if chosen is None:
        return render(request, "cooperation_partners.html", context)
    proposals = await call(request, partners(request).propose, f"{chosen.kind}:{chosen.code}", typed["cas"])
    page = await call(request, working_groups(request).list, principal_of(request), use_case=typed["cas"], limit=10)
    context.update(proposals=proposals, groups=page.groups)
    return render(request, "cooperation_partners.html", context)


# ---- working groups -----------------------------------------------------------------------------
async def group_list(request: Request) -> Response:
    current = page_number(request.query_params.get("page", "1"))
    page = await call(request, working_groups(request).list, principal_of(request),
                      offset=(current - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, math.ceil(page.total / PAGE_SIZE))
    return render(request, "cooperation_groups.html", {
        "groups": page.groups, "total": page.total, "page": current, "pages": pages,
        "use_cases": vocab.USE_CASES.terms, "slug": _slug})


async def new_group(request: Request) -> Response:
    principal = principal_of(request)
    if not principal.authenticated:
        return sign_in_first(request)
    typed: dict[str, Any] = {"titre": "", "description": "", "cas": []}
    errors: list[tuple[str, str]] = []
    status = 200
    if request.method == "POST":
        typed = _group_typed(await checked_form(request))
        body = {name: value for name, value in _group_body(typed).items() if value is not None}
        try:
            group = await call(request, working_groups(request).create, principal, body)
        except BadRequestData as error:
            errors, status = _field_error(request, "groupe", error), 400
        except Forbidden:
            errors, status = [("groupe-titre", gettext(
                request, "Seuls les contributeurs d'un territoire et les modérateurs de l'observatoire créent un "
                "groupe de travail."))], 403
        else:
            return RedirectResponse(href(request, f"{GROUPS}/{_slug(group['id'])}"), status_code=303)
    return render(request, "cooperation_group_new.html", {
        "typed": typed, "errors": errors, "use_cases": vocab.USE_CASES.terms}, status=status)


def _group_typed(form: Mapping[str, str]) -> dict[str, Any]:
    """The group's own fields as the creation or edition form gives them."""
    return {"titre": form.get("titre", ""), "description": form.get("description", ""),
            "cas": [code for code in vocab.USE_CASES.terms if form.get(f"cas-{code}")]}


def _group_body(typed: Mapping[str, Any]) -> dict[str, Any]:
    """The service's fields of a typed group form; None for a field left empty (removes it)."""
    return {"title": typed["titre"], "description": typed["description"] if typed["description"].strip() else None,
            "useCases": typed["cas"] or None}


async def group_page(request: Request) -> Response:
    return await _group_page(request, request.path_params["id"])


async def _group_page(request: Request, group: str, *, form: str = "", typed: Mapping[str, Any] | None = None,
                      errors: list[tuple[str, str]] | None = None, status: int = 200) -> Response:
    principal = principal_of(request)
    try:
        view = await call(request, working_groups(request).view, principal, group)
    except (ResourceNotFound, BadRequestData):
        return _missing(request, group)
    registry = TerritoryRegistry.load()
    joinable = [(item, _territory_name(registry, item)) for item in view.joinable]
    own = {m["id"] for m in view.group["members"]} & _territories_of(principal)
    group_typed = typed if form == "groupe" else {
        "titre": view.group["title"], "description": view.group.get("description") or "",
        "cas": view.group.get("useCases") or []}
    return render(request, "cooperation_group.html", {
        "group_typed": group_typed,
        "group": view.group, "animates": view.animates, "joinable": joinable, "own": own,
        "signed_in": principal.authenticated, "form": form, "typed": typed or {}, "errors": errors or [],
        "use_cases": vocab.USE_CASES.terms, "domains": vocab.DOMAINS.terms, "roles": wg.ROLES,
        "slug": _slug(view.group["id"])}, status=status)


def _territory_name(registry: TerritoryRegistry, item: str) -> str:
    kind, _, code = item.removeprefix("urn:ngsi-ld:Territory:").partition(":")
    try:
        return registry.get(kind, code).name
    except (BadRequestData, ResourceNotFound):
        return item


def _territories_of(principal: Principal) -> set[str]:
    return set(Rights.of(principal).territories)


# The actions of a group's page (forms posted to /observatoire/groupes/{id}/{action}).
_ACTIONS = ("groupe", "reunion", "lien", "membre", "rejoindre", "retirer-membre", "retirer-reunion", "retirer-lien")


async def group_action(request: Request) -> Response:
    group, action = request.path_params["id"], request.path_params["action"]
    page = f"{GROUPS}/{group}"
    principal = principal_of(request)
    if action not in _ACTIONS:
        return _missing(request, group)
    if not principal.authenticated:
        return sign_in_first(request, page)
    form = await checked_form(request)
    service = working_groups(request)
    typed = _group_typed(form) if action == "groupe" else {name: form.get(name, "") for name in _FORMS.get(action, {})}
    try:
        await call(request, _act, service, principal, group, action, form)
    except BadRequestData as error:
        errors = _field_error(request, action, error) if action in _FORMS else [
            ("contenu", gettext(request, "La saisie est refusée : {detail}", detail=error.detail))]
        return await _group_page(request, group, form=action, typed=typed, errors=errors, status=400)
    except (Forbidden, AlreadyExists, ResourceNotFound) as error:
        # Refused whole: the summary points at the page (a refused person may not see the form).
        named = isinstance(error, AlreadyExists) and action in _FORMS  # "rejoindre" has no field of its own
        field = f"{action}-{next(iter(_FORMS[action]))}" if named else "contenu"
        message = gettext(request, "Action refusée : {detail}", detail=error.detail)
        return await _group_page(request, group, form=action, typed=typed, errors=[(field, message)],
                                 status=error.status)
    return RedirectResponse(href(request, page), status_code=303)


def _act(service: wg.WorkingGroupService, principal: Principal, group: str, action: str,
         form: Mapping[str, str]) -> Any:
    def given(name: str) -> str | None:
        value = form.get(name, "").strip()
        return value or None

    if action == "groupe":
        return service.update(principal, group, _group_body(_group_typed(form)))
    if action == "reunion":
        return service.add_meeting(principal, group, {"date": form.get("date", ""), "title": form.get("titre", ""),
                                                      "place": given("lieu"), "link": given("visio"),
                                                      "minutes": given("compte_rendu")})
    if action == "lien":
        return service.add_link(principal, group, {"title": form.get("titre", ""), "url": form.get("url", "")})
    if action == "membre":
        body = {"member": form.get("membre", ""), "role": form.get("role", "membre")}
        if given("nom"):
            body["name"] = form["nom"]
        return service.add_member(principal, group, body)
    if action == "rejoindre":
        return service.add_member(principal, group, {"member": form.get("territoire", "")})
    if action == "retirer-membre":
        return service.remove_member(principal, group, form.get("membre", ""))
    if action == "retirer-reunion":
        return service.remove_meeting(principal, group, form.get("reunion", ""))
    return service.remove_link(principal, group, form.get("lien", ""))


routes = [
    Route("/observatoire/cooperation", cooperation, methods=["GET"]),
    Route(GROUPS, group_list, methods=["GET"]),
    Route(f"{GROUPS}/nouveau", new_group, methods=["GET", "POST"]),
    Route(f"{GROUPS}/{{id}}", group_page, methods=["GET"]),
    Route(f"{GROUPS}/{{id}}/{{action}}", group_action, methods=["POST"]),
]
