"""Administration routes of LoRaWAN ingestion: /admin/v1/devices (the registry),
/admin/v1/quarantine (uplinks kept with the reason they could not be used) and
/admin/v1/ingestion (what each bridge did).

Lists page with ``offset`` and ``limit`` (at most ``max_page_size``) and give the total in the
``Total-Count`` header.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from territoires.api.http import call, json_response, listed, no_content, page_params, read_json
from territoires.auth.principal import Action
from territoires.broker.devices import device_json, quarantined_json
from territoires.ingest.bridge import decoder_types
from territoires.store.port import Device, QuarantineQuery

BASE = "/admin/v1"


async def list_devices(request: Request) -> Response:
    offset, limit = page_params(request)
    service = request.app.state.broker.devices
    found, count = await call(request, service.list, tenant=request.query_params.get("tenant"),
                              offset=offset, limit=limit)
    return listed([device_json(device) for device in found], count)


def _require_admin(request: Request, tenant: object) -> None:
    """Devices are managed by the admins of the tenant they feed (the registry is platform-wide)."""
    request.state.gate.require(request, Action.ADMIN, tenant if isinstance(tenant, str) else "")


async def _own_device(request: Request) -> Device:
    device = await call(request, request.app.state.broker.devices.get, request.path_params["eui"])
    _require_admin(request, device.tenant)
    return device


async def register_device(request: Request) -> Response:
    body = await read_json(request)
    _require_admin(request, body.get("tenant") if isinstance(body, dict) else None)
    device = await call(request, request.app.state.broker.devices.register, body, decoder_types())
    return json_response(device_json(device), status=201,
                         headers={"Location": f"{BASE}/devices/{device.dev_eui}"})


async def get_device(request: Request) -> Response:
    return json_response(device_json(await _own_device(request)))


async def update_device(request: Request) -> Response:
    await _own_device(request)
    body = await read_json(request)
    if isinstance(body, dict) and "tenant" in body:
        _require_admin(request, body["tenant"])
    device = await call(request, request.app.state.broker.devices.update, request.path_params["eui"], body,
                        decoder_types())
    return json_response(device_json(device))


async def delete_device(request: Request) -> Response:
    await _own_device(request)
    await call(request, request.app.state.broker.devices.delete, request.path_params["eui"])
    return no_content()


async def list_quarantine(request: Request) -> Response:
    offset, limit = page_params(request)
    params = request.query_params
    query = QuarantineQuery(dev_eui=params.get("devEui"), tenant=params.get("tenant"), kind=params.get("kind"),
                            offset=offset, limit=limit)
    found, count = await call(request, request.app.state.broker.devices.quarantine, query)
    return listed([quarantined_json(uplink) for uplink in found], count)


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
