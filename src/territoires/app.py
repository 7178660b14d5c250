"""Assemble the web application: routes of every adapter, error handlers, the broker."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from territoires.api import (
    access,
    admin,
    audit,
    contexts,
    cooperation,
    devices,
    discovery,
    entities,
    errors,
    info,
    observatoire,
    openapi,
    quotas,
    subscriptions,
    temporal,
)
from territoires.api import maturity as maturity_api
from territoires.api.length_required import LengthRequired
from territoires.api.parameters import refusing_unknown_parameters
from territoires.api.tenant_echo import TenantEcho
from territoires.auth.gate import Gate
from territoires.auth.keys import TOKEN_PREFIX, KeyService
from territoires.auth.members import MemberService
from territoires.auth.oidc import JWT_PREFIX, OidcVerifier
from territoires.auth.public_types import PublicTypes
from territoires.auth.quotas import Quotas
from territoires.auth.sessions import Sessions
from territoires.auth.throttle import FailedAuthThrottle
from territoires.broker import Broker, open_broker
from territoires.broker.notifier import Notifier
from territoires.config import Settings
from territoires.observatoire.services import Observatory
from territoires.runtime import settle_heap
from territoires.web import catalogue, login, login_key, pages
from territoires.web import cooperation as cooperation_pages
from territoires.web import maturity as maturity_pages

log = logging.getLogger("territoires")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def home(request: Request) -> Response:
    return HTMLResponse(
        """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Territoires</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Territoires</h1>
<p>Plateforme ouverte des territoires intelligents.</p>
<p>Les API demandent une clé d'API ou un jeton : en-tête <code>Authorization: Bearer …</code>.
Les agents se connectent par leur fournisseur d'identité : <a href="/connexion">connexion</a>.</p>
<ul>
<li><a href="/ngsi-ld/v1/entities?local=true&amp;limit=20">API NGSI-LD</a> (ETSI GS CIM 009)</li>
<li><a href="/openapi.json">Description OpenAPI</a></li>
<li><a href="/admin/v1/tenants">Locataires (collectivités membres)</a></li>
</ul>
</main></body></html>"""
    )


def _slashed(routes: list[Route]) -> list[Route]:
    """The same routes with a trailing slash: clients (the ETSI suite among them) write both forms."""
    return [
        Route(route.path + "/", route.endpoint, methods=route.methods, include_in_schema=False)
        for route in routes
        if route.path != "/" and not route.path.endswith(":path}")
    ]


def create_app(settings: Settings | None = None, broker: Broker | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette):
        notifier = Notifier.of(app.state.broker) if app.state.settings.notifications else None
        if notifier is not None:
            notifier.start()
        yield
        if notifier is not None:
            await notifier.stop()
        app.state.keys.flush()  # last uses and quota counts noted since the last write
        app.state.quotas.flush()
        if own_broker:
            app.state.broker.close()

    own_broker = broker is None
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        *entities.routes,
        *temporal.routes,
        *discovery.routes,
        *info.routes,
        *contexts.routes,
        *subscriptions.routes,
        *admin.routes,
        *devices.routes,
        *quotas.routes,
        *access.routes,
        *audit.routes,
        *login.routes,
        *login_key.routes,
        *pages.routes,
        *catalogue.routes,
        *observatoire.routes,
        *maturity_api.routes,
        *maturity_pages.routes,
        *cooperation.routes,
        *cooperation_pages.routes,
    ]
    routes.append(Route("/openapi.json", openapi.endpoint(routes), methods=["GET"]))
    broker = broker or open_broker(settings)
    services = AccessServices.over(broker, settings)
    routes = gate_for(settings, services, broker).guard_routes(refusing_unknown_parameters(routes))
    app = Starlette(routes=routes + _slashed(routes), exception_handlers=pages.page_handlers(errors.handlers),
                    middleware=[Middleware(TenantEcho), Middleware(LengthRequired)], lifespan=lifespan)
    app.state.settings = settings
    app.state.broker = broker
    app.state.observatory = Observatory(broker)
    for name, service in vars(services).items():
        setattr(app.state, name, service)
    return app


@dataclass(frozen=True)
class AccessServices:
    """What the enforcement point, the administration routes and the sign-in pages share: one
    instance of each per process, so that a change through one is seen at once by the others."""

    keys: KeyService
    members: MemberService
    public_types: PublicTypes
    quotas: Quotas
    throttle: FailedAuthThrottle
    oidc: OidcVerifier
    sessions: Sessions

    @classmethod
    def over(cls, broker: Broker, settings: Settings) -> AccessServices:
        store = broker.store
        members = MemberService(store)
        return cls(KeyService(store), members, PublicTypes(store), Quotas(store, settings),
                   FailedAuthThrottle(settings), OidcVerifier(settings, members.grants), Sessions(settings))


def gate_for(settings: Settings, access: AccessServices, broker: Broker) -> Gate:
    """The enforcement point with its verifiers, quotas and audit trail."""
    if not settings.auth:
        log.warning("authentication is OFF (TERRITOIRES_AUTH=0): every caller acts as a platform operator")
    verifiers = {TOKEN_PREFIX: access.keys.principal, JWT_PREFIX: access.oidc.principal}
    return Gate(enabled=settings.auth, verifiers=verifiers, sessions=access.sessions,
                public_types=access.public_types.of, quotas=access.quotas, throttle=access.throttle,
                audit=broker.audit)


def app_from_env() -> Starlette:
    """Entry point for ``uvicorn --factory`` (each worker process builds its own app)."""
    app = create_app()
    settle_heap()
    return app
