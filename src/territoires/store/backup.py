"""Logical backups of tenants, for any backend: one JSON document per line (gzip when the
file name ends in ``.gz``). The same file restores into SQLite or PostgreSQL, so it also
moves a platform from the embedded store to a production database.

Layout, line by line::

    {"format": "territoires-backup", "version": 1, "created": "…Z"}
    {"tenant": "<name>"}          then that tenant's records:
    {"context": {…}}              its stored @contexts, oldest first
    {"subscription": {…}}         its subscriptions, in creation order
    {"device": {…}}               the LoRaWAN devices registered to it
    {"entity": {…}}               its entities (internal form), in creation order

Entities are read page by page with the store's own cursor, so a backup of a large tenant
holds one page in memory, and written back in batches (``COPY`` on PostgreSQL).
Not saved: the temporal history, notifications waiting in the outbox and delivery counters.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import orjson

from territoires.clock import now
from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.subscription import Subscription
from territoires.store.port import Device, EntityQuery, Store, StoredContext

FORMAT = "territoires-backup"
VERSION = 1
BATCH = 1000

Progress = Callable[[str, int], None]  # (tenant, entities so far)


def _open(path: Path, mode: str) -> IO[bytes]:
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)  # noqa: SIM115


def backup(store: Store, path: Path, tenants: list[str], progress: Progress | None = None) -> dict[str, int]:
    """Write ``tenants`` to ``path``; returns the number of entities saved per tenant."""
    saved: dict[str, int] = {}
    with _open(path, "wb") as out:
        out.write(orjson.dumps({"format": FORMAT, "version": VERSION, "created": now()}) + b"\n")
        for tenant in tenants:
            out.write(orjson.dumps({"tenant": tenant}) + b"\n")
            with store.session(tenant) as session:
                for context in session.list_contexts():
                    out.write(orjson.dumps({"context": asdict(context)}) + b"\n")
                for subscription in _all(lambda offset: session.query_subscriptions(offset, BATCH)):
                    out.write(orjson.dumps({"subscription": subscription.to_document()}) + b"\n")
            for device in _all(lambda offset: store.list_devices(tenant=tenant, offset=offset, limit=BATCH)):
                out.write(orjson.dumps({"device": asdict(device)}) + b"\n")
            saved[tenant] = 0
            for page in _pages(store, tenant):
                out.write(b"".join(orjson.dumps({"entity": entity}) + b"\n" for entity in page))
                saved[tenant] += len(page)
                if progress:
                    progress(tenant, saved[tenant])
    return saved


def _all(page: Callable[[int], tuple[list[Any], int]]) -> Iterator[Any]:
    """Every item of an offset-paged listing."""
    offset = 0
    while True:
        items, total = page(offset)
        yield from items
        offset += len(items)
        if not items or offset >= total:
            return


def _pages(store: Store, tenant: str) -> Iterator[list[dict[str, Any]]]:
    cursor = None
    while True:
        with store.session(tenant) as session:
            page = session.query(EntityQuery(limit=BATCH, after=cursor))
        if page.entities:
            yield page.entities
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def restore(store: Store, path: Path, only: str | None = None, progress: Progress | None = None) -> dict[str, int]:
    """Load a backup (all its tenants, or ``only`` that one); tenants are created when missing,
    entities, subscriptions and devices already present are replaced, contexts already present
    are kept. Returns the
    number of entities restored per tenant."""
    restored: dict[str, int] = {}
    with _open(path, "rb") as source:
        lines = (line for line in source if line.strip())
        header = _record(next(lines, b"{}"), 1)
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise BadRequestData(f"{path} is not a {FORMAT} file of version {VERSION}")
        tenant: str | None = None
        batch: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=2):
            record = _record(line, number)
            if "entity" not in record:
                _flush(store, tenant, batch, restored, progress)
            if "tenant" in record:
                tenant = record["tenant"]
                if only is None or tenant == only:
                    if tenant not in store.tenants() and tenant != "":
                        store.create_tenant(tenant)
                    restored[tenant] = 0
            elif tenant is None:
                raise BadRequestData(f"{path}, line {number}: a record before any tenant")
            elif tenant not in restored:
                continue  # a tenant we were asked to skip
            elif "context" in record:
                _restore_context(store, tenant, StoredContext(**record["context"]))
            elif "subscription" in record:
                _restore_subscription(store, tenant, Subscription.from_document(record["subscription"]))
            elif "device" in record:
                device = Device(**{**record["device"], "tenant": tenant})
                if not store.replace_device(device):
                    store.put_device(device)
            elif "entity" in record:
                batch.append(record["entity"])
                if len(batch) == BATCH:
                    _flush(store, tenant, batch, restored, progress)
            else:
                raise BadRequestData(f"{path}, line {number}: unknown record {sorted(record)}")
        _flush(store, tenant, batch, restored, progress)
    return restored


def _record(line: bytes, number: int) -> dict[str, Any]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise BadRequestData(f"line {number} is not JSON: {error}") from None
    if not isinstance(record, dict):
        raise BadRequestData(f"line {number} is not a JSON object")
    return record


def _restore_context(store: Store, tenant: str, context: StoredContext) -> None:
    with store.session(tenant, write=True) as session:
        if session.get_context(context.id) is None:
            session.put_context(context)


def _restore_subscription(store: Store, tenant: str, subscription: Subscription) -> None:
    with store.session(tenant, write=True) as session:
        if session.get_subscription(subscription.id) is None:
            session.put_subscription(subscription)
        else:
            session.replace_subscription(subscription)


def _flush(store: Store, tenant: str | None, batch: list[dict[str, Any]], restored: dict[str, int],
           progress: Progress | None) -> None:
    if not batch or tenant is None:
        return
    with store.session(tenant, write=True) as session:
        session.replace(batch)
    restored[tenant] += len(batch)
    batch.clear()
    if progress:
        progress(tenant, restored[tenant])
