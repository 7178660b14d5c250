"""The broker: services over the store, used by every adapter and domain module."""

from __future__ import annotations

from dataclasses import dataclass

from territoires.broker.contexts import ContextService
from territoires.broker.discovery import DiscoveryService
from territoires.broker.entities import EntityService
from territoires.broker.tenants import TenantService
from territoires.config import Settings
from territoires.store.port import Store


@dataclass
class Broker:
    settings: Settings
    store: Store
    entities: EntityService
    discovery: DiscoveryService
    contexts: ContextService
    tenants: TenantService

    def close(self) -> None:
        self.store.close()


def open_broker(settings: Settings) -> Broker:
    """Open the configured store and build the services over it."""
    from territoires.store.sqlite import SqliteStore

    store = SqliteStore(settings.data_dir)
    return Broker(
        settings=settings,
        store=store,
        entities=EntityService(store),
        discovery=DiscoveryService(store),
        contexts=ContextService(store, settings),
        tenants=TenantService(store),
    )
