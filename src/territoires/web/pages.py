"""Server-rendered pages: one Jinja2 environment, the translation of French texts, static files.

Every page is French first; ``?lang=en`` renders it in English from the JSON catalogues of
``web/translations/`` (one file per area of the site, merged: ``{"texte français": "English"}``).
A text a catalogue lacks stays French rather than failing: a page is never lost to a missing
translation. The texts the observatory composes with values (a partner's reasons: « même
département : Finistère », « à 52 km ») are translated through the templates of ``phrases.json``
(``"même département : {name}": "same département: {name}"``), each value translated in turn when
the catalogue knows it. Templates extend ``base.html`` and fill its blocks ``title`` and ``main``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
import orjson
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from territoires.auth.errors import Unauthenticated
from territoires.auth.gate import FORM_TYPE, MAX_FORM_BYTES
from territoires.auth.principal import ANONYMOUS, Principal
from territoires.auth.sessions import Sessions
from territoires.ngsild.errors import NgsiLdError, PayloadTooLarge, ResourceNotFound

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
TRANSLATIONS = HERE / "translations"
LANGUAGES = ("fr", "en")
STATIC_PREFIX = "/static/"
_VENDOR_CACHE = "public, max-age=31536000, immutable"   # vendor files change only with package.json
_OWN_CACHE = "public, max-age=300"                     # ours change with a deployment

Translate = Callable[..., str]
Handler = Callable[[Request, Exception], Awaitable[Response]]


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["static"] = static
    return env


@lru_cache(maxsize=1)
def catalogue() -> dict[str, str]:
    """French text -> English text, every area's file merged."""
    merged: dict[str, str] = {}
    for path in sorted(TRANSLATIONS.glob("*.json")):
        merged.update(orjson.loads(path.read_bytes()))
    return merged


@lru_cache(maxsize=1)
def phrases() -> tuple[tuple[re.Pattern[str], str], ...]:
    """The French templates of ``phrases.json`` as patterns, each with its English template; the
    longest first, so that the most specific of two templates sharing a start wins."""
    templates: dict[str, str] = orjson.loads((TRANSLATIONS / "phrases.json").read_bytes())
    ordered = sorted(templates.items(), key=lambda item: -len(item[0]))
    return tuple((re.compile(_pattern(french)), english) for french, english in ordered)


def _pattern(template: str) -> str:
    """``"à {km} km"`` -> ``"à (?P<km>.+) km"``: literal text escaped, each field any text."""
    parts = re.split(r"\{(\w+)\}", template)
    return "".join(f"(?P<{part}>.+)" if index % 2 else re.escape(part) for index, part in enumerate(parts))


def _composed(text: str, texts: Mapping[str, str]) -> str:
    """``text`` through the first phrase template it matches, its values translated; else as is."""
    for pattern, english in phrases():
        found = pattern.fullmatch(text)
        if found:
            return english.format(**{name: _value(value, texts) for name, value in found.groupdict().items()})
    return text


def _value(value: str, texts: Mapping[str, str]) -> str:
    """A value inside a phrase: translated if the catalogue has it, also lowercased in the
    phrase (« (expérimentation) » -> "(pilot)"); a name or a number stays as is."""
    if value in texts:
        return texts[value]
    capital = value[:1].upper() + value[1:]
    if capital != value and capital in texts:
        english = texts[capital]
        return english[:1].lower() + english[1:]
    return value


def language(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "fr"


def translator(lang: str) -> Translate:
    """``_("texte", n=3)``: the text in ``lang``, then ``str.format`` with the keywords given."""
    texts = catalogue() if lang == "en" else {}

    def _(text: str, /, **values: Any) -> str:
        translated = texts.get(text)
        if translated is None:
            translated = _composed(text, texts) if texts else text
        return translated.format(**values) if values else translated

    return _


def gettext(request: Request, text: str, /, **values: Any) -> str:
    """A text in the request's language, for messages built in Python (form errors)."""
    return translator(language(request))(text, **values)


# Pages of a list go no further: an offset past it would overflow the store's 64-bit counts.
MAX_PAGE = 100_000


def whole_number(text: str) -> bool:
    """Whether ``text`` is written in ASCII digits only (``str.isdigit`` also takes "²" or "①",
    which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def page_number(raw: str) -> int:
    """The page a ``page`` parameter asks for, 1 unless a whole number from 1 below ``MAX_PAGE``."""
    return int(raw) if whole_number(raw) and 0 < int(raw) < MAX_PAGE else 1


def static(path: str) -> str:
    return STATIC_PREFIX + path.lstrip("/")


def principal_of(request: Request) -> Principal:
    return getattr(request.state, "principal", ANONYMOUS)


def csrf_token(request: Request) -> str:
    """The token of the session's forms; empty without a session (a form then asks to sign in)."""
    sessions: Sessions = request.app.state.sessions
    principal = principal_of(request)
    if principal.kind != "session":
        principal = sessions.principal_from_request(request) or principal
    return sessions.csrf_token(principal) if principal.kind == "session" else ""


def href(request: Request, path: str, **params: Any) -> str:
    """A link to a page of ours keeping the reader's language; ``None`` and "" values are left out."""
    query = [(k, v) for k, v in params.items() if v not in (None, "")]
    if language(request) == "en":
        query.append(("lang", "en"))
    return path + ("?" + urlencode(query, doseq=True) if query else "")


def _with_language(request: Request, lang: str) -> str:
    """This very page in ``lang``: the language switch."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    if lang != "fr":
        query.append(("lang", lang))
    return request.url.path + ("?" + urlencode(query) if query else "")


def render(request: Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> HTMLResponse:
    lang = language(request)
    principal = principal_of(request)
    here = request.url.path + (("?" + request.url.query) if request.url.query else "")
    values = {
        "request": request,
        "lang": lang,
        "_": translator(lang),
        "principal": principal,
        "signed_in": principal.kind == "session",
        "csrf_token": csrf_token(request),
        "href": lambda path, **params: href(request, path, **params),
        "other_language": {code: _with_language(request, code) for code in LANGUAGES},
        "here": here,
        **context,
    }
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers={"Content-Language": lang})


async def checked_form(request: Request) -> FormData:
    """A page form's fields (``application/x-www-form-urlencoded``; a name may repeat: checkboxes),
    after checking its ``csrf_token`` when it comes with the session cookie (a browser sends the
    cookie with any cross-site post; another site cannot read the token)."""
    form = FormData()
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == FORM_TYPE:
        declared = request.headers.get("content-length", "")
        if whole_number(declared) and int(declared) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"Le formulaire dépasse {MAX_FORM_BYTES} octets.")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"Le formulaire dépasse {MAX_FORM_BYTES} octets.")
        form = FormData(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    sessions: Sessions = request.app.state.sessions
    if principal_of(request).kind == "session" or sessions.principal_from_request(request) is not None:
        sessions.check_csrf(request, form)
    return form


# ---- what went wrong, as a page ---------------------------------------------------------------
PAGES_PREFIX = "/observatoire"
HEADINGS = {400: "Demande incorrecte", 403: "Accès refusé", 404: "Page introuvable", 405: "Action impossible ici",
            409: "Demande en conflit", 413: "Envoi trop volumineux", 429: "Trop de demandes",
            503: "Service momentanément indisponible"}


def problem_page(request: Request, status: int, detail: str, *, heading: str | None = None,
                 back: tuple[str, str] = (PAGES_PREFIX, "Retour à l'observatoire")) -> HTMLResponse:
    """A French page saying what went wrong (``detail``, translated already) and the way on
    (``back``: path and French label)."""
    title = heading or gettext(request, HEADINGS.get(status, "Demande impossible"))
    context = {"heading": title, "detail": detail, "back": href(request, back[0]), "back_label": back[1]}
    return render(request, "problem.html", context, status=status)


def sign_in_first(request: Request, then: str | None = None) -> RedirectResponse:
    """A visitor asking a page for people signed in: to /connexion, then back to this page (or
    to ``then``, the page of a form posted)."""
    here = then or request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/connexion?suivant=" + quote(here, safe=""), status_code=303)


def page_handlers(api: Mapping[Any, Handler]) -> dict[Any, Handler]:
    """The application's error handlers: ``api``'s for the APIs, and for a page (under
    /observatoire, outside its JSON API) a French page instead of a ProblemDetails document."""

    def on_page(handler: Handler) -> Handler:
        async def handle(request: Request, error: Exception) -> Response:
            path = request.url.path
            if not path.startswith(PAGES_PREFIX) or path.startswith("/api/"):
                return await handler(request, error)
            if isinstance(error, Unauthenticated):
                return sign_in_first(request)
            if isinstance(error, NgsiLdError):
                return problem_page(request, error.status, gettext(request, "Détail : {detail}", detail=error.detail))
            if isinstance(error, HTTPException) and error.status_code in HEADINGS:
                return problem_page(request, error.status_code,
                                    gettext(request, "Aucune page de l'observatoire à cette adresse."))
            return await handler(request, error)
        return handle

    return {kind: on_page(handler) for kind, handler in api.items()}


_FILES = StaticFiles(directory=STATIC, check_dir=False)


async def serve_static(request: Request) -> Response:
    """``/static/<path>`` from the package's folder (StaticFiles refuses paths leaving it)."""
    path = request.path_params["path"]
    try:
        response = await _FILES.get_response(path, request.scope)
    except HTTPException as error:
        if error.status_code != 404:
            raise
        raise ResourceNotFound(f"Pas de fichier statique « {path[:200]} » : si c'est une bibliothèque de "
                               "static/vendor/, l'exploitant doit lancer scripts/build-assets.") from None
    response.headers["Cache-Control"] = _VENDOR_CACHE if path.startswith("vendor/") else _OWN_CACHE
    return response


routes = [Route("/static/{path:path}", serve_static, methods=["GET"], name="static")]
