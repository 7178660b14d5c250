"""Assemble the web application: routes of every adapter, error handlers, the broker."""

from __future__ import annotations

from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from territoires.api import admin, contexts, devices, discovery, entities, errors, openapi, subscriptions, temporal
from territoires.broker import Broker, open_broker
from territoires.broker.notifier import Notifier
from territoires.config import Settings


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
        if own_broker:
            app.state.broker.close()

    own_broker = broker is None
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        *entities.routes,
        *temporal.routes,
        *discovery.routes,
        *contexts.routes,
        *subscriptions.routes,
        *admin.routes,
        *devices.routes,
    ]
    routes.append(Route("/openapi.json", openapi.endpoint(routes), methods=["GET"]))
    app = Starlette(routes=routes + _slashed(routes), exception_handlers=errors.handlers, lifespan=lifespan)
    app.state.settings = settings
    app.state.broker = broker or open_broker(settings)
    return app


def app_from_env() -> Starlette:
    """Entry point for ``uvicorn --factory`` (each worker process builds its own app)."""
    return create_app()
