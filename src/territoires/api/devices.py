"""Administration routes of LoRaWAN ingestion: /admin/v1/devices (the registry),
/admin/v1/quarantine (uplinks kept with the reason they could not be used) and
/admin/v1/ingestion (what each bridge did).

Lists page with ``offset`` and ``limit`` (at most ``max_page_size``) and give the total in the
``Total-Count`` header.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import call, int_param, json_response, no_content, read_json
from territoires.broker.devices import device_json, quarantined_json
from territoires.ingest.bridge import decoder_types
from territoires.ngsild.errors import TooManyResults
from territoires.store.port import QuarantineQuery

BASE = "/admin/v1"
COUNT_HEADER = "Total-Count"


def _page(request: Request) -> tuple[int, int]:
    limit = int_param(request, "limit", 20)
    maximum = request.app.state.settings.max_page_size
    if limit > maximum:
        raise TooManyResults(f"limit {limit} is above the {maximum} items a page may hold")
    return int_param(request, "offset", 0), limit


def _listed(items: list[dict[str, Any]], count: int) -> Response:
    return json_response(items, headers={COUNT_HEADER: str(count)})


async def list_devices(request: Request) -> Response:
    offset, limit = _page(request)
    service = request.app.state.broker.devices
    found, count = await call(request, service.list, tenant=request.query_params.get("tenant"),
                              offset=offset, limit=limit)
    return _listed([device_json(device) for device in found], count)


async def register_device(request: Request) -> Response:
    body = await read_json(request)
    device = await call(request, request.app.state.broker.devices.register, body, decoder_types())
    return json_response(device_json(device), status=201,
                         headers={"Location": f"{BASE}/devices/{device.dev_eui}"})


async def get_device(request: Request) -> Response:
    device = await call(request, request.app.state.broker.devices.get, request.path_params["eui"])
    return json_response(device_json(device))


async def update_device(request: Request) -> Response:
    body = await read_json(request)
    device = await call(request, request.app.state.broker.devices.update, request.path_params["eui"], body,
                        decoder_types())
    return json_response(device_json(device))


async def delete_device(request: Request) -> Response:
    await call(request, request.app.state.broker.devices.delete, request.path_params["eui"])
    return no_content()


async def list_quarantine(request: Request) -> Response:
    offset, limit = _page(request)
    params = request.query_params
    query = QuarantineQuery(dev_eui=params.get("devEui"), tenant=params.get("tenant"), kind=params.get("kind"),
                            offset=offset, limit=limit)
    found, count = await call(request, request.app.state.broker.devices.quarantine, query)
    return _listed([quarantined_json(uplink) for uplink in found], count)


async def ingestion(request: Request) -> Response:
    service = request.app.state.broker.devices
    bridges = await call(request, service.ingestion)
    _, quarantined = await call(request, service.quarantine, QuarantineQuery(limit=0))
    return json_response({
        "bridges": [{"bridge": c.bridge, "startedAt": c.started_at, "updatedAt": c.updated_at,
                     "received": c.received, "stored": c.stored, "duplicates": c.duplicates,
                     "quarantined": c.quarantined} for c in bridges],
        "quarantineSize": quarantined,
    })


routes = [
    Route(f"{BASE}/devices", list_devices, methods=["GET"]),
    Route(f"{BASE}/devices", register_device, methods=["POST"]),
    Route(f"{BASE}/devices/{{eui}}", get_device, methods=["GET"]),
    Route(f"{BASE}/devices/{{eui}}", update_device, methods=["PATCH"]),
    Route(f"{BASE}/devices/{{eui}}", delete_device, methods=["DELETE"]),
    Route(f"{BASE}/quarantine", list_quarantine, methods=["GET"]),
    Route(f"{BASE}/ingestion", ingestion, methods=["GET"]),
]
