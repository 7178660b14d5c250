"""The LoRaWAN device registry and the quarantine of uplinks (platform-wide).

A device maps a DevEUI to a tenant, the entity its measures update (id and Smart Data Models
type) and the decoder of its payloads. The registry is checked against the decoders the caller
knows (``decoders``: name -> the entity type IRI it describes, given by the ingestion adapter,
which owns them): a device whose entity type is not given takes its decoder's.

Devices in the administration API and the CLI read and write as JSON objects::

    {"devEui": "70B3D57ED0001234", "tenant": "rennes", "entityId": "urn:ngsi-ld:Streetlight:0042",
     "entityType": "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight",
     "decoder": "streetlight", "name": "lampe rue de Brest", "createdAt": "…Z", "modifiedAt": "…Z"}
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from territoires import clock
from territoires.ngsild.entity import validate_entity_id
from territoires.ngsild.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.store.port import DEFAULT_TENANT, Device, IngestionCounters, QuarantinedUplink, QuarantineQuery, Store

_EUI = re.compile(r"[0-9A-Fa-f]{16}\Z")
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+\Z")
QUARANTINE_KINDS = ("malformed", "unknown-device", "undecodable", "rejected", "quota")
_FIELDS = {"devEui", "tenant", "entityId", "entityType", "decoder", "name", "createdAt", "modifiedAt"}


def dev_eui(value: Any) -> str:
    """A DevEUI as the registry keys it (16 upper-case hexadecimal digits)."""
    if not isinstance(value, str) or not _EUI.match(value):
        raise BadRequestData(f"devEui must be 16 hexadecimal digits (e.g. 70B3D57ED0001234), not {value!r}")
    return value.upper()


def device_json(device: Device) -> dict[str, Any]:
    return {"devEui": device.dev_eui, "tenant": device.tenant, "entityId": device.entity_id,
            "entityType": device.entity_type, "decoder": device.decoder, "name": device.name,
            "createdAt": device.created_at, "modifiedAt": device.modified_at}


def quarantined_json(uplink: QuarantinedUplink) -> dict[str, Any]:
    """A quarantined uplink for people: the body as text when it is UTF-8, else in base64."""
    try:
        body: dict[str, str] = {"body": uplink.body.decode()}
    except UnicodeDecodeError:
        body = {"bodyBase64": base64.b64encode(uplink.body).decode()}
    return {"seq": uplink.seq, "receivedAt": uplink.received_at, "topic": uplink.topic, "kind": uplink.kind,
            "reason": uplink.reason, "devEui": uplink.dev_eui, "tenant": uplink.tenant, **body}


class DeviceService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, body: Any, decoders: Mapping[str, str]) -> Device:
        """Register the device ``body`` describes. ``AlreadyExists`` if its DevEUI is registered."""
        now = clock.now()
        device = self._parse(body, decoders, now)
        self.store.put_device(device)
        return device

    def update(self, eui: str, body: Any, decoders: Mapping[str, str]) -> Device:
        """Change a registered device: members given replace the stored ones."""
        stored = self.get(eui)
        if not isinstance(body, dict):
            raise BadRequestData('give the changes as a JSON object, e.g. {"decoder": "water-meter"}')
        if "devEui" in body and dev_eui(body["devEui"]) != stored.dev_eui:
            raise BadRequestData(f"the body's devEui {body['devEui']} differs from the addressed device {stored.dev_eui}")
        merged = {**device_json(stored), **body}
        if "decoder" in body and "entityType" not in body:
            merged["entityType"] = None  # the new decoder's type, unless one is given
        device = self._parse(merged, decoders, clock.now())._replace(created_at=stored.created_at)
        if not self.store.replace_device(device):
            raise ResourceNotFound(f"the device {stored.dev_eui} is not registered")
        return device

    def get(self, eui: str) -> Device:
        key = dev_eui(eui)
        found = self.store.get_devices([key]).get(key)
        if found is None:
            raise ResourceNotFound(f"the device {key} is not registered")
        return found

    def list(self, *, tenant: str | None = None, offset: int = 0, limit: int = 20) -> tuple[list[Device], int]:
        return self.store.list_devices(tenant=tenant, offset=offset, limit=limit)

    def delete(self, eui: str) -> None:
        key = dev_eui(eui)
        if not self.store.delete_device(key):
            raise ResourceNotFound(f"the device {key} is not registered")

    def quarantine(self, query: QuarantineQuery) -> tuple[list[QuarantinedUplink], int]:
        if query.kind is not None and query.kind not in QUARANTINE_KINDS:
            raise BadRequestData(f"kind must be one of {', '.join(QUARANTINE_KINDS)}, not {query.kind!r}")
        if query.dev_eui is not None:
            query = replace(query, dev_eui=dev_eui(query.dev_eui))
        return self.store.list_quarantine(query)

    def ingestion(self) -> list[IngestionCounters]:
        """What each bridge did since it started (saved by the bridges every second)."""
        return self.store.ingestion_counters()

    # ---- what the ingestion bridge needs ------------------------------------------------------
    def lookup(self, dev_euis: Sequence[str]) -> dict[str, Device]:
        """The registered devices among these DevEUIs (as the registry keys them), by DevEUI."""
        return self.store.get_devices(dev_euis) if dev_euis else {}

    def keep(self, uplinks: Sequence[QuarantinedUplink]) -> None:
        """Put these uplinks in quarantine."""
        self.store.quarantine(uplinks)

    def save_counters(self, counters: IngestionCounters) -> None:
        self.store.put_ingestion_counters(counters)

    def forget_frames(self, tenant: str, before: str) -> int:
        """Forget the tenant's frames received before ``before``: an uplink that old comes back
        only if a bridge was down longer than that with it unacknowledged."""
        with self.store.session(tenant, write=True) as session:
            return session.forget_frames(before)

    def _parse(self, body: Any, decoders: Mapping[str, str], now: str) -> Device:
        if not isinstance(body, dict):
            raise BadRequestData('give the device as a JSON object: {"devEui", "tenant", "entityId", "decoder", …}')
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise BadRequestData(f"unknown member {unknown[0]!r}; a device has {', '.join(sorted(_FIELDS))}")
        for member in ("devEui", "entityId", "decoder"):
            if member not in body:
                raise BadRequestData(f"the device needs {member}")
        decoder = body["decoder"]
        if not isinstance(decoder, str) or decoder not in decoders:
            raise BadRequestData(f"unknown decoder {decoder!r}; decoders: {', '.join(sorted(decoders))}")
        entity_type = body.get("entityType") or decoders[decoder]
        if not isinstance(entity_type, str) or not _IRI.match(entity_type):
            raise BadRequestData(f"entityType must be an expanded type IRI (e.g. {decoders[decoder]}), "
                                 f"not {entity_type!r}")
        tenant = body.get("tenant", DEFAULT_TENANT)
        if not isinstance(tenant, str) or (tenant != DEFAULT_TENANT and tenant not in self.store.tenants()):
            raise NonexistentTenant(f"tenant {tenant!r} does not exist; create it with /admin/v1/tenants")
        name = body.get("name") or ""
        if not isinstance(name, str) or "\x00" in name:
            raise BadRequestData(f"name must be a string without the NUL character (U+0000), not {name!r}")
        return Device(dev_eui=dev_eui(body["devEui"]), tenant=tenant, entity_id=validate_entity_id(body["entityId"]),
                      entity_type=entity_type, decoder=decoder, name=name, created_at=now, modified_at=now)
